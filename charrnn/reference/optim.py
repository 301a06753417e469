"""Gradient clipping and three optimisers, each a loop over the flat parameter dict.

Every optimiser updates the arrays in place (so views and references stay valid) and keeps
its per-parameter memory in a dict under the same names. For a parameter p with gradient g:

    SGD:      p <- p - lr * g
    Adagrad:  m <- m + g^2;               p <- p - lr * g / sqrt(m + eps)      (min-char-rnn)
    Adam:     m <- b1 m + (1 - b1) g;     v <- b2 v + (1 - b2) g^2
              p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)   (as torch.optim.Adam)
"""

from __future__ import annotations

import numpy as np


def clip(grads: dict[str, np.ndarray], max_value: float) -> dict[str, np.ndarray]:
    """Clip every gradient element to [-max_value, max_value], in place; return `grads`.

    Element-wise, as min-char-rnn does against exploding gradients (not norm clipping).
    """
    for g in grads.values():
        np.clip(g, -max_value, max_value, out=g)
    return grads


class SGD:
    """Plain gradient descent: p <- p - lr * g."""

    def __init__(self, lr: float = 0.1):
        self.lr = lr

    def step(self, params: dict, grads: dict) -> None:
        for name, p in params.items():
            p -= self.lr * grads["d" + name]


class Adagrad:
    """Per-element step sizes that shrink with the sum of past squared gradients.

    m <- m + g^2;  p <- p - lr * g / sqrt(m + eps). This is min-char-rnn's update (eps inside
    the square root), which differs slightly from torch.optim.Adagrad's sqrt(m) + eps.
    """

    def __init__(self, lr: float = 0.1, eps: float = 1e-8):
        self.lr, self.eps = lr, eps
        self.memory: dict[str, np.ndarray] = {}

    def step(self, params: dict, grads: dict) -> None:
        for name, p in params.items():
            g = grads["d" + name]
            m = self.memory.setdefault(name, np.zeros_like(p))
            m += g * g
            p -= self.lr * g / np.sqrt(m + self.eps)


class Adam:
    """Momentum (m) and per-element scaling (v), both bias-corrected; torch.optim.Adam's rule."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self.t = 0

    def step(self, params: dict, grads: dict) -> None:
        b1, b2 = self.betas
        self.t += 1
        for name, p in params.items():
            g = grads["d" + name]
            m = self.m.setdefault(name, np.zeros_like(p))
            v = self.v.setdefault(name, np.zeros_like(p))
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            m_hat = m / (1.0 - b1**self.t)
            v_hat = v / (1.0 - b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}


def make_optimizer(name: str, lr: float):
    """An optimiser by name ("sgd", "adagrad", "adam") with learning rate lr."""
    try:
        return OPTIMIZERS[name](lr=lr)
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}: choose from {', '.join(OPTIMIZERS)}") from None
