"""Every analytic gradient of the numpy engine against central differences, in float64."""

import numpy as np
import pytest

from charrnn.reference import (
    get_cell,
    gru_loss_and_grads,
    init_params,
    loss_and_grads,
    lstm_loss_and_grads,
    rnn_loss_and_grads,
)

V, H, T = 5, 4, 6
INPUTS = [None, 1, 2, 2, 4, 0]  # None: the zero vector that starts a line
TARGETS = [1, 2, 3, 4, 0, 1]


def random_model(cell, layers, seed=0):
    """Parameters and a starting state of a useful size (N(0, 0.5^2)): the nonlinearities bend."""
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0.0, 0.5, v.shape) for k, v in init_params(cell, V, H, layers).items()}
    size = get_cell(cell).state_size
    state = [tuple(rng.normal(0.0, 0.5, (H, 1)) for _ in range(size)) for _ in range(layers)]
    return params, state


def numerical_grad(f, array, eps=1e-5):
    """(f(a + eps) - f(a - eps)) / 2 eps for every element of `array`, changed in place and restored."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        plus = f()
        array[idx] = old - eps
        minus = f()
        array[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric, floor=1e-3):
    """max |a - n| / max(|a| + |n|, floor).

    Central differences of a loss near 10 carry about 1e-10 of rounding error, so for entries
    smaller than `floor` (including exact zeros: columns of ids never seen) the check becomes
    an absolute one, |a - n| < 1e-6 * floor.
    """
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_gradient_matches_central_differences(cell, layers):
    params, state = random_model(cell, layers)
    _, grads, _ = loss_and_grads(params, cell, INPUTS, TARGETS, state)
    assert sorted(grads) == sorted("d" + k for k in params)

    def loss():
        return loss_and_grads(params, cell, INPUTS, TARGETS, state)[0]

    for name, array in params.items():
        numeric = numerical_grad(loss, array)
        error = relative_error(grads["d" + name], numeric)
        assert error < 1e-6, f"{cell} x{layers} {name}: relative error {error:.2e}"
        assert np.any(grads["d" + name] != 0), f"{name}: gradient is all zero, the check would be empty"


@pytest.mark.parametrize(
    "cell, fn, state",
    [
        ("rnn", rnn_loss_and_grads, lambda rng: rng.normal(0, 0.5, (H, 1))),
        ("lstm", lstm_loss_and_grads, lambda rng: (rng.normal(0, 0.5, (H, 1)), rng.normal(0, 0.5, (H, 1)))),
        ("gru", gru_loss_and_grads, lambda rng: rng.normal(0, 0.5, (H, 1))),
    ],
)
def test_one_layer_loss_functions_are_the_stack_in_the_classic_form(cell, fn, state):
    params, _ = random_model(cell, 1)
    start = state(np.random.default_rng(1))
    loss, grads, last = fn(params, INPUTS, TARGETS, start)
    as_list = [start if cell == "lstm" else (start,)]
    loss2, grads2, last2 = loss_and_grads(params, cell, INPUTS, TARGETS, as_list)
    assert loss == loss2
    assert all(np.array_equal(grads[k], grads2[k]) for k in grads2)
    if cell == "lstm":
        assert isinstance(last, tuple) and len(last) == 2 and last[0].shape == (H, 1)
        assert all(np.array_equal(a, b) for a, b in zip(last, last2[0]))
    else:
        assert last.shape == (H, 1) and np.array_equal(last, last2[0][0])


def test_classic_rnn_names():
    params = init_params("rnn", V, H, layers=1, seed=0)
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {"Wxh": (H, V), "Whh": (H, H), "bh": (H, 1), "Why": (V, H), "by": (V, 1)}
    loss, grads, h = rnn_loss_and_grads(params, INPUTS, TARGETS, np.zeros((H, 1)))
    assert sorted(grads) == ["dWhh", "dWhy", "dWxh", "dbh", "dby"]
    assert isinstance(loss, float) and h.shape == (H, 1)


def test_one_layer_functions_refuse_two_layers():
    params, _ = random_model("rnn", 2)
    with pytest.raises(ValueError, match="one layer"):
        rnn_loss_and_grads(params, INPUTS, TARGETS, np.zeros((H, 1)))
