"""The numpy reference engine: character-level RNN, LSTM and GRU written out by hand.

numpy only (no torch, and nothing else of charrnn: pyproject.toml's import contract checks it; the
adapter that plugs this engine into `charrnn train --engine numpy` is charrnn/training/numpy_engine.py),
float64, one sequence at a time, and min-char-rnn's conventions so the two read side by side:

- column vectors: an input x is one-hot (V, 1), a hidden state h is (H, 1);
- parameters are one flat dict; a one-layer rnn is exactly Wxh (H, V), Whh (H, H),
  bh (H, 1), Why (V, H), by (V, 1); layer k >= 1 adds "_k" to the names (stack.py);
- inputs and targets are lists of integer ids; an input of None is the zero vector, the
  "start of a line" input of the deep-learning course's dinosaur-names exercise;
- the loss is the SUM over time steps of the cross-entropy in nats; gradients are named
  "d" + parameter name.

Files, one concept each:

    stack.py     layers x time steps, the head, softmax cross-entropy, forward and BPTT
    rnn.py       tanh cell            h = tanh(Wxh x + Whh h + bh)
    lstm.py      LSTM cell            gates [i, f, g, o], as PyTorch
    gru.py       GRU cell             gates [r, z, n], as PyTorch (two biases)
    model.py     by cell name: init_params, init_state, forward, loss_and_grads
    optim.py     clip, SGD, Adagrad, Adam
    sampling.py  sample with temperature from an explicit numpy Generator
    convert.py   weights to and from the PyTorch CharRNN's state dict (with the table)
    train.py     fit (reusable) and minimal_loop (min-char-rnn's loop)
    __main__.py  python -m charrnn.reference FILE

Example, min-char-rnn in six lines:

    params = init_params("rnn", vocab_size=V, hidden=100)
    h = np.zeros((100, 1))
    loss, grads, h = rnn_loss_and_grads(params, inputs, targets, h)
    clip(grads, 5)
    optimizer = Adagrad(lr=0.1)
    optimizer.step(params, grads)
"""

from .convert import from_torch_state, from_torch_state_dict, to_torch_state, to_torch_state_dict, torch_names
from .gru import gru_loss_and_grads
from .lstm import lstm_loss_and_grads
from .model import CELLS, forward, get_cell, init_params, init_state, loss_and_grads
from .optim import OPTIMIZERS, SGD, Adagrad, Adam, clip, make_optimizer
from .rnn import rnn_loss_and_grads
from .sampling import pick, sample
from .stack import softmax
from .train import fit, minimal_loop

__all__ = [
    "CELLS",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "clip",
    "fit",
    "forward",
    "from_torch_state",
    "from_torch_state_dict",
    "get_cell",
    "gru_loss_and_grads",
    "init_params",
    "init_state",
    "loss_and_grads",
    "lstm_loss_and_grads",
    "make_optimizer",
    "minimal_loop",
    "pick",
    "rnn_loss_and_grads",
    "sample",
    "softmax",
    "to_torch_state",
    "to_torch_state_dict",
    "torch_names",
]
