"""charrnn: character-level RNN, LSTM and GRU language models that learn to write.

    import charrnn
    result = charrnn.train(dataset="tinyshakespeare", max_time=120, out="runs/shakespeare")
    model = charrnn.load("runs/shakespeare")
    print(model.generate("ROMEO:", length=200, temperature=0.8))

The public names are imported on first use (PEP 562), so `import charrnn` and `charrnn --help`
load no torch. The package's layers, top to bottom, each importing only those below it
(pyproject.toml's import-linter contract checks this; `|` joins layers that do not import each other):

    __main__.py                      python -m charrnn
    commands/                        every command: flags -> one library call -> output
    serve/ | export/                 the web page and the HTTP API | ONNX and the static web page
    trained.py                       the facade: load(run) -> TrainedModel
    views/ | writers/ | training/    curves and views | poems, names | config, preparation, the loop, engines
    inside/                          inspection and the neuron finder
    generation/                      the Network value, sampling, decoders, the fast stepper, scoring
    data/ | checkpoint.py            text, datasets, tokens, batches | the run folder
    model.py                         CharRNN
    device.py | vocab.py | model_config.py
    flags.py | errors.py | version.py | files.py
    reference/                       the numpy engine, apart: numpy only
"""

from __future__ import annotations

from importlib import import_module

from charrnn.version import __version__

# public name -> the module that defines it
_PUBLIC = {
    "CharRNN": "charrnn.model",
    "CharRNNError": "charrnn.errors",
    "ModelConfig": "charrnn.model_config",
    "SamplingOptions": "charrnn.generation.options",
    "TrainConfig": "charrnn.training.config",
    "TrainResult": "charrnn.training.loop",
    "TrainedModel": "charrnn.trained",
    "Vocabulary": "charrnn.vocab",
    "load": "charrnn.trained",
    "plot": "charrnn.views.curves",
    "train": "charrnn.training.launch",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'charrnn' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
