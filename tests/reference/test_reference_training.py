"""Loss convention, clipping, optimisers, fit and sampling of the numpy engine."""

import numpy as np
import pytest

from charrnn.reference import (
    SGD,
    Adagrad,
    Adam,
    clip,
    fit,
    forward,
    init_params,
    init_state,
    loss_and_grads,
    make_optimizer,
    pick,
    sample,
    softmax,
)

V, H = 5, 6
INPUTS = [None, 1, 2, 2, 4, 0]
TARGETS = [1, 2, 3, 4, 0, 1]


def random_params(cell, layers=1, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0.0, 0.5, v.shape) for k, v in init_params(cell, V, H, layers).items()}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_loss_is_the_sum_of_per_step_nats(cell):
    params = random_params(cell, layers=2)
    logits, _ = forward(params, cell, INPUTS)  # (T, V)
    assert logits.shape == (len(INPUTS), V)
    per_step = [-np.log(softmax(row)[target]) for row, target in zip(logits, TARGETS)]
    loss, _, _ = loss_and_grads(params, cell, INPUTS, TARGETS)
    assert loss == pytest.approx(sum(per_step), rel=1e-12)
    assert loss > max(per_step)  # a sum, not a mean


def test_state_carries_over_and_none_means_zeros():
    params = random_params("lstm")
    first, state = forward(params, "lstm", INPUTS[:3])
    rest, _ = forward(params, "lstm", INPUTS[3:], state)
    whole, _ = forward(params, "lstm", INPUTS)
    np.testing.assert_allclose(np.vstack([first, rest]), whole, rtol=1e-12)
    zeros, _ = forward(params, "lstm", INPUTS, init_state(params, "lstm"))
    np.testing.assert_array_equal(zeros, whole)


def test_clip_is_element_wise_in_place_and_returns_the_dict():
    grads = {"dW": np.array([[-7.0, 0.5], [3.0, 12.0]]), "db": np.array([[-0.1], [-5.5]])}
    arrays = dict(grads)
    result = clip(grads, 5.0)
    assert result is grads
    assert all(result[k] is arrays[k] for k in grads)  # the same arrays, changed in place
    np.testing.assert_array_equal(grads["dW"], [[-5.0, 0.5], [3.0, 5.0]])
    np.testing.assert_array_equal(grads["db"], [[-0.1], [-5.0]])


def test_optimizer_steps_follow_their_formulas():
    g = np.array([[0.5, -2.0]])
    for optimizer, expected in [
        (SGD(lr=0.1), -0.1 * g),
        (Adagrad(lr=0.1), -0.1 * g / np.sqrt(g * g + 1e-8)),
        (Adam(lr=0.1), -0.1 * g / (np.abs(g) + 1e-8)),  # first step: m_hat = g, v_hat = g^2
    ]:
        params = {"W": np.zeros((1, 2))}
        w = params["W"]
        optimizer.step(params, {"dW": g.copy()})
        assert params["W"] is w
        np.testing.assert_allclose(w, expected, rtol=1e-12)


@pytest.mark.parametrize("name, lr", [("sgd", 0.2), ("adagrad", 0.1), ("adam", 0.01)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_optimizer_learns_a_tiny_repeating_sequence(cell, name, lr):
    data = [0, 1, 2, 1] * 10  # after a 1 comes 2 or 0: the model must remember
    chunks = [(data[i : i + 8], data[i + 1 : i + 9]) for i in range(0, 32, 8)]
    params = init_params(cell, 3, 8, seed=0, scale=0.1)
    losses, state = fit(params, cell, chunks * 50, make_optimizer(name, lr), clip_value=5.0)
    assert len(losses) == 200 and len(state) == 1
    assert np.mean(losses[-10:]) < 0.25 * losses[0], (losses[0], losses[-10:])


def test_fit_resets_the_state_between_pairs_unless_carrying():
    params = random_params("gru")
    pairs = [(INPUTS, TARGETS)] * 2
    frozen = SGD(lr=0.0)  # no change to the weights: only the state differs between pairs
    reset, _ = fit(params, "gru", pairs, frozen, carry_state=False)
    carried, _ = fit(params, "gru", pairs, frozen, carry_state=True)
    assert reset[0] == reset[1] == carried[0] != carried[1]
    assert reset[0] == pytest.approx(loss_and_grads(params, "gru", INPUTS, TARGETS)[0] / len(INPUTS))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sampling_is_reproducible_and_leaves_the_state_alone(cell):
    params = random_params(cell, layers=2)
    _, state = forward(params, cell, [1, 2, 3])
    before = [tuple(a.copy() for a in s) for s in state]
    first = sample(params, cell, 2, state, 40, 1.0, np.random.default_rng(7))
    second = sample(params, cell, 2, state, 40, 1.0, np.random.default_rng(7))
    assert first == second and len(first) == 40 and all(0 <= i < V for i in first)
    assert all(np.array_equal(a, b) for s, s0 in zip(state, before) for a, b in zip(s, s0))


@pytest.mark.parametrize("temperature", [0.0, 1e-4])
def test_very_low_temperature_is_greedy(temperature):
    params = random_params("lstm")
    ids = sample(params, "lstm", None, None, 12, temperature, np.random.default_rng(0))
    logits, _ = forward(params, "lstm", [None] + ids[:-1])  # feed the sample back in
    assert ids == [int(i) for i in np.argmax(logits, axis=1)]


def test_temperature_sharpens_and_flattens():
    logits = np.array([[2.0], [1.0], [0.0]])
    rng = np.random.default_rng(0)

    def frequencies(temperature, n=4000):
        return np.bincount([pick(logits, temperature, rng) for _ in range(n)], minlength=3) / n

    np.testing.assert_allclose(frequencies(1.0), softmax(logits).ravel(), atol=0.03)
    assert frequencies(0.05)[0] == 1.0
    np.testing.assert_allclose(frequencies(100.0), [1 / 3] * 3, atol=0.03)


def test_sampling_stops_after_the_stop_id():
    params = random_params("rnn")
    ids = sample(params, "rnn", None, None, 500, 1.0, np.random.default_rng(3), stop_id=0)
    assert ids[-1] == 0 and 0 not in ids[:-1] and len(ids) < 500
