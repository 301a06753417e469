"""The neuron finder: features of a text, a unit planted by hand, and a unit a tiny model learns."""

import random

import numpy as np
import pytest
import torch

import charrnn
from charrnn.generation.network import Network
from charrnn.inside.inspection import Unit, inspect_text
from charrnn.inside.neurons import (best_per_feature, bracket_depth, correlations, features, find_neurons,
                                        in_clause, in_quotes, line_end_near, line_position, poem_position)
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import Vocabulary


def test_features_of_a_small_text():
    text = 'a(b[c])\n"x" d\'s'
    assert line_position(text).tolist() == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7]
    assert line_end_near(text).tolist()[:9] == [7, 6, 5, 4, 3, 2, 1, 0, 7]
    assert bracket_depth(text).tolist()[:8] == [0, 1, 1, 2, 2, 1, 0, 0]
    assert in_quotes(text).tolist()[8:] == [1, 1, 1, 0, 0, 0, 0]  # "x" quoted; the apostrophe of d's opens nothing
    assert poem_position("床前明月光，疑是").tolist() == [1, 2, 3, 4, 5, 0, 1, 2]
    assert in_clause("月光，疑").tolist() == [1, 1, 0, 1]
    assert "poem_position" in features("床前明月光，\n疑是地上霜。\n") and "poem_position" not in features("ab\ncd\n")
    assert "digit" not in features("no digits here\n")  # constant features are left out


def test_correlations_are_pearsons_r():
    rng = np.random.default_rng(0)
    a, v = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    a[:, 2] = 0  # constant: correlates with nothing
    r = correlations(a, v)
    assert r[0, 1] == pytest.approx(np.corrcoef(a[:, 0], v[:, 1])[0, 1])
    assert (r[2] == 0).all()


def test_a_planted_bracket_counter_is_found_first():
    """Unit 3's cell state counts brackets: its input and forget gates always open, its candidate
    +1 at "(" and -1 at ")", 0 elsewhere. The finder must rank it first, on bracket_depth."""
    torch.manual_seed(0)
    vocab = Vocabulary.from_text("ab ()\n")
    model = CharRNN(ModelConfig(cell="lstm", layers=1, hidden=8, embed=0).resolved(len(vocab))).eval()
    H, unit = 8, 3
    with torch.no_grad():
        w, b = model.rnn.weight_ih_l0, model.rnn.bias_ih_l0  # rows [i, f, g, o] x H
        model.rnn.weight_hh_l0[2 * H + unit].zero_()
        w[2 * H + unit].zero_()
        w[2 * H + unit, vocab.id_of("(")], w[2 * H + unit, vocab.id_of(")")] = 5.0, -5.0
        b[unit], b[H + unit], b[2 * H + unit] = 20.0, 20.0, 0.0
        model.rnn.bias_hh_l0[[unit, H + unit, 2 * H + unit]] = 0.0
    rng = random.Random(1)
    text, depth = [], 0
    for _ in range(2000):
        ch = rng.choice("((ab ))" if depth else "(ab \n")
        depth += {"(": 1, ")": -1}.get(ch, 0)
        text.append(ch)
    inspection = inspect_text(Network(model, vocab, "stream"), "".join(text))
    first = find_neurons(inspection, top=3)[0]
    assert first.unit == Unit(0, unit, "c") and first.feature == "bracket_depth" and first.r > 0.99


def nested(lines: int, seed: int = 0) -> str:
    rng = random.Random(seed)

    def expr(depth: int) -> str:
        parts = []
        for _ in range(rng.randint(1, 3)):
            if depth < 4 and rng.random() < 0.5:
                parts.append("(" + expr(depth + 1) + ")")
            else:
                parts.append("".join(rng.choice("abcde") for _ in range(rng.randint(1, 3))))
        return " ".join(parts)

    return "\n".join(expr(0) for _ in range(lines)) + "\n"


def test_a_tiny_model_learns_a_bracket_depth_unit(tmp_path):
    """Only the depth tells whether ")" or a newline may come next, so a unit learns to count it."""
    (tmp_path / "brackets.txt").write_text(nested(3000), encoding="utf-8")
    charrnn.train(str(tmp_path / "brackets.txt"), out=str(tmp_path / "run"), cell="lstm", layers=1, hidden=16,
                  embed=8, max_steps=300, seq_len=64, batch_size=16, lr=1e-2, eval_every=300, sample_chars=0,
                  device="cpu")
    model = charrnn.load(tmp_path / "run", device="cpu")
    depth = next(f for f in best_per_feature(model.inspect(nested(100, seed=7))) if f.feature == "bracket_depth")
    assert abs(depth.r) >= 0.8


def test_neurons_default_to_the_validation_text(tiny_run):
    model = charrnn.load(tiny_run, device="cpu")
    found = model.neurons(top=4, max_chars=2000)
    assert len(found) == 4 and all(abs(f.r) <= 1 for f in found)
    assert abs(found[0].r) >= abs(found[-1].r)
