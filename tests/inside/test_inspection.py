"""Inspection: each character's prediction and every unit's activation, against eval and a step-by-step forward."""

import math

import numpy as np
import pytest
import torch

import charrnn
from charrnn.data.corpus import encode_text
from charrnn.errors import CharRNNError
from charrnn.generation.network import Network
from charrnn.inside.inspection import Unit, inspect_text
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import Vocabulary


@pytest.mark.parametrize("which", ["tiny_run", "tiny_lines_run"])
def test_mean_surprisal_is_eval_exact(request, which, shakespeare_text, dinos_text):
    model = charrnn.load(request.getfixturevalue(which), device="cpu")
    text = (shakespeare_text if which == "tiny_run" else dinos_text)[-3000:]
    inspection = model.inspect(text)
    assert inspection.mean_surprisal == pytest.approx(model.evaluate(text, exact=True)["loss_nats"], abs=1e-4)
    scored = ~np.isnan(inspection.surprisal)
    assert (not scored[0]) if which == "tiny_run" else scored.all()  # a stream cannot score its first character
    assert "".join(inspection.characters) == text.strip("\n") + "\n" if which == "tiny_lines_run" else text


def test_each_prediction_is_a_distribution_and_names_its_guesses(tiny_run, shakespeare_text):
    model = charrnn.load(tiny_run, device="cpu")
    text = shakespeare_text[:400]
    full = model.inspect(text, top_k=len(model.vocab), units=None)
    for guesses in full.top[1:]:
        assert sum(p for _, p in guesses) == pytest.approx(1.0, abs=1e-4)
    top5 = model.inspect(text, top_k=5, units=None)
    hits = 0
    for ch, surprisal, guesses, entropy in zip(top5.characters, top5.surprisal, top5.top, top5.entropy):
        if math.isnan(surprisal):
            continue
        assert len(guesses) == 5 and 0 <= entropy <= math.log(len(model.vocab)) + 1e-6
        for guess, p in guesses:
            if guess == ch:
                hits += 1
                assert -math.log(p) == pytest.approx(surprisal, abs=1e-4)
    assert hits > 100  # the check ran on most characters


def step_by_step(model: CharRNN, ids: list[int]) -> list[tuple[torch.Tensor, ...]]:
    """The state after each id, feeding one id at a time through the model's own forward."""
    states, state = [], None
    with torch.inference_mode():
        for i in ids:
            _, state = model(torch.tensor([[i]]), state)
            states.append(tuple(s[:, 0].clone() for s in state))
    return states


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_activations_are_the_states_of_a_step_by_step_forward(cell):
    torch.manual_seed(0)
    vocab = Vocabulary.from_text("abc (de)\nfg")
    model = CharRNN(ModelConfig(cell=cell, layers=2, hidden=12, embed=6).resolved(len(vocab))).eval()
    text = "abc (de) fg\nfa (b (c)) d\n" * 30
    inspection = inspect_text(Network(model, vocab, "stream"), text, keep="all")
    expected = step_by_step(model, encode_text(text, vocab, "stream")[0].astype(int).tolist())
    for layer in range(2):
        h = np.stack([s[0][layer].numpy() for s in expected])
        assert np.allclose(inspection.states[f"h{layer}"], h, atol=1e-5)
        if cell == "lstm":
            c = np.stack([s[1][layer].numpy() for s in expected])
            assert np.allclose(inspection.states[f"c{layer}"], c, atol=1e-5)
            assert np.allclose(inspection.activation(Unit(layer, 3, "c")), c[:, 3], atol=1e-5)


def test_lines_mode_reads_each_line_from_its_start(tiny_lines_run):
    model = charrnn.load(tiny_lines_run, device="cpu")
    inspection = model.inspect("Tyrannosaurus\nAbc\n", units=["0:5"])
    assert inspection.characters == list("Tyrannosaurus\nAbc\n") and not np.isnan(inspection.surprisal).any()
    start = step_by_step(model.network.model, [1])[0][0][0]  # after <bos>
    assert np.allclose(inspection.activation(Unit(0, 5))[13], start[5].numpy(), atol=1e-5)  # the line end
    after_t = step_by_step(model.network.model, [1, model.vocab.id_of("T")])[-1][0][0]
    assert np.allclose(inspection.activation(Unit(0, 5))[0], after_t[5].numpy(), atol=1e-5)


def test_what_is_kept(tiny_run):
    model = charrnn.load(tiny_run, device="cpu")
    none = model.inspect("ROMEO: hi", units=None)
    assert not none.states and not none.units
    some = model.inspect("ROMEO: hi", units=["0:3", "0:4:c"])
    assert set(map(str, some.units)) == {"0:3", "0:4:c"} and not some.states
    data = some.to_dict([Unit(0, 3)])
    assert set(data) >= {"characters", "surprisal", "entropy", "top", "unknown", "activations"}
    assert data["surprisal"][0] is None and list(data["activations"]) == ["0:3"] and len(data["activations"]["0:3"]) == 9


def test_unknown_characters_are_flagged_not_refused(tiny_run):
    inspection = charrnn.load(tiny_run, device="cpu").inspect("ROMEO: 你好")
    assert inspection.unknown.tolist()[-2:] == [True, True] and not inspection.unknown[:-2].any()


@pytest.mark.parametrize("units, message", [
    (["2:0"], "has 1 layer"), (["0:32"], "32 units"), (["x"], "LAYER:INDEX"), (["0:1:q"], "LAYER:INDEX"),
])
def test_bad_units_are_one_line_errors(tiny_run, units, message):
    with pytest.raises(CharRNNError, match=message):
        charrnn.load(tiny_run, device="cpu").inspect("ROMEO:", units=units)


def test_cell_state_only_for_an_lstm(tiny_lines_run):
    with pytest.raises(CharRNNError, match="only an LSTM"):
        charrnn.load(tiny_lines_run, device="cpu").inspect("Abc\n", units=["0:1:c"])


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_text_is_refused(tiny_lines_run, text):
    with pytest.raises(CharRNNError, match="empty"):
        charrnn.load(tiny_lines_run, device="cpu").inspect(text)


def test_a_numpy_engine_run_is_inspected_like_any_other(tmp_path, shakespeare_file):
    run = charrnn.train(str(shakespeare_file), out=str(tmp_path / "run"), engine="numpy", cell="rnn", layers=1,
                        hidden=8, embed=0, max_steps=3, batch_size=2, seq_len=16, lr=0.1, eval_every=3,
                        sample_chars=0).run_dir
    inspection = charrnn.load(run, device="cpu").inspect("ROMEO: hi", units=["0:7"])
    assert inspection.mean_surprisal > 0 and len(inspection.activation(Unit(0, 7))) == 9
