"""charrnn: character-level RNN, LSTM and GRU language models that learn to write.

    import charrnn
    result = charrnn.train(dataset="tinyshakespeare", max_time=120, out="runs/shakespeare")
    model = charrnn.load("runs/shakespeare")
    print(model.generate("ROMEO:", length=200, temperature=0.8))
"""

__version__ = "0.1.0"

from charrnn.config import TrainConfig  # noqa: E402
from charrnn.errors import CharRNNError  # noqa: E402
from charrnn.model import CharRNN, ModelConfig  # noqa: E402
from charrnn.train import TrainResult, train  # noqa: E402
from charrnn.trained import TrainedModel, load  # noqa: E402
from charrnn.vocab import Vocabulary  # noqa: E402

__all__ = ["CharRNN", "CharRNNError", "ModelConfig", "TrainConfig", "TrainResult", "TrainedModel", "Vocabulary",
           "load", "train", "__version__"]
