"""charrnn: character-level RNN, LSTM and GRU language models that learn to write.

    import charrnn
    result = charrnn.train(dataset="tinyshakespeare", max_time=120, out="runs/shakespeare")
    model = charrnn.load("runs/shakespeare")
    print(model.generate("ROMEO:", length=200, temperature=0.8))

The public names are imported on first use (PEP 562), so `import charrnn` and `charrnn --help`
load no torch. The package's layers, each importing only those below it (pyproject.toml's
import-linter contract checks this):

    cli, demo                   the commands
    serve                       the web page and the HTTP API
    views                       training curves, the terminal and HTML views, their commands
    trained                     the facade: load(run) -> TrainedModel
    writers | training          poems, names, completion  |  config, run preparation, the loop, engines
    generation                  sampling, decoders, the fast stepper, scoring
    data | checkpoint           text, datasets, tokens, batches  |  the run folder
    model                       CharRNN
    vocab, device, model_config, flags, errors, version
    reference                   the numpy engine, apart: numpy only
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
