"""Better decoding: repetition penalty, no-repeat n-grams, beam search, several temperatures, log-probs."""

import json

import pytest
import torch

import charrnn
from charrnn.commands.main import main
from charrnn.generation.decoding import Rules, prime_ids
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import decoding_logprobs, ngram_bans, penalize_repeats, sample_next
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import BOS, EOS, UNK, Vocabulary
from test_cli import fails_cleanly

PRIMES = ["", "ROMEO:", "the ", "KING HENRY"]


# --- the pure rules --------------------------------------------------------------------------------------------

def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[True, True, False, False]])
    assert penalize_repeats(logits, seen, 2.0).tolist() == [[1.0, -2.0, 0.5, 3.0]]
    assert penalize_repeats(logits, seen, 1.0) is logits


def test_penalty_makes_seen_ids_rarer():
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0]])  # the seen id is the likeliest
    seen = torch.tensor([[True, False, False, False]])
    gen = torch.Generator().manual_seed(0)

    def count_seen(options):
        return [int(sample_next(logits, options, gen, seen=seen)) for _ in range(400)].count(0)

    assert count_seen(SamplingOptions(repetition_penalty=5.0)) < count_seen(SamplingOptions()) / 2
    near = torch.tensor([[1.0, 0.5, 0.0, 0.0]])  # 1 / 5 < 0.5: the penalty changes the greedy choice
    assert int(sample_next(near, SamplingOptions(temperature=0, repetition_penalty=5.0), seen=seen)) == 1


def test_ngram_bans():
    assert ngram_bans([1, 2, 3, 1, 2], 3) == [3]  # "1 2" was followed by 3
    assert ngram_bans([1, 2, 3, 1, 2], 2) == [3]  # "2" was followed by 3
    assert ngram_bans([5, 6, 7], 1) == [5, 6, 7]
    assert ngram_bans([1, 2], 4) == [] and ngram_bans([1, 1, 1], 0) == []


def network_of(size: int, mode: str) -> Network:
    """A network of `size` tokens (the three special ones, then characters); its weights do not matter here."""
    vocab = Vocabulary.from_text("abcdefgh"[: size - 3])
    return Network(CharRNN(ModelConfig(layers=1, hidden=4).resolved(len(vocab))), vocab, mode)


def test_rules_ban_the_specials_and_what_each_rule_adds():
    plain = Rules(network_of(8, "stream"), SamplingOptions(), None)
    assert plain.banned([[]], [[]]).nonzero().flatten().tolist() == sorted([UNK, BOS, EOS])
    assert not Rules(network_of(8, "lines"), SamplingOptions(), None).banned([[]], [[]])[EOS]
    # a finished sample is still fed, and anything goes for it
    assert not plain.banned([[], []], [[], []], ended=[False, True])[1].any()
    ngram = Rules(network_of(8, "stream"), SamplingOptions(no_repeat_ngram=2), None)
    assert ngram.banned([[4, 5, 4]], [[]])[0, 5]  # "4 5" was written: after "4" no 5
    with pytest.raises(RuntimeError, match="no character"):
        Rules(network_of(3, "stream"), SamplingOptions(), None)  # only the special tokens


def test_decoding_logprobs_are_the_models_own_without_a_penalty():
    logits = torch.randn(2, 6, generator=torch.Generator().manual_seed(1))
    banned = torch.tensor([True, False, False, False, False, True])
    got = decoding_logprobs(logits, SamplingOptions(), banned)
    want = torch.log_softmax(logits, -1)
    assert torch.allclose(got[:, 1:5], want[:, 1:5]) and torch.isinf(got[:, [0, 5]]).all()


@pytest.mark.parametrize("kwargs, flag", [({"repetition_penalty": 0.0}, "--repetition-penalty"),
                                          ({"repetition_window": 0}, "--repetition-window"),
                                          ({"no_repeat_ngram": -1}, "--no-repeat-ngram")])
def test_invalid_decoding_options(kwargs, flag):
    with pytest.raises(charrnn.CharRNNError, match=flag):
        SamplingOptions(**kwargs)


# --- beam search and log-probabilities on a trained run -----------------------------------------------------

def rescored(model, prime: str, text: str, ended: bool) -> list[float]:
    """The model's log-prob of each character of `text` (and <eos>) after `prime`, in one forward call."""
    start = prime_ids(model.network, prime)
    ids = model.vocab.encode(text).astype("int64").tolist() + ([EOS] if ended else [])
    logits, _ = model.network.model(torch.tensor([start + ids]))
    logp = torch.log_softmax(logits[0, len(start) - 1: -1].float(), -1)
    return logp.gather(1, torch.tensor(ids).view(-1, 1)).flatten().tolist()


@pytest.mark.parametrize("run", ["tiny_run", "tiny_lines_run"])
def test_beam_search_is_at_least_as_likely_as_greedy(request, run):
    model = charrnn.load(request.getfixturevalue(run))
    primes = PRIMES if model.mode == "stream" else ["", "A", "Tyr", "Ste"]
    better = 0
    for prime in primes:
        (greedy,) = model.samples(prime, length=30, temperature=0)
        for width in (2, 5):
            (best,) = model.samples(prime, length=30, beam=width)
            assert best.logprob >= greedy.logprob - 1e-4, (prime, width)
            better += best.logprob > greedy.logprob + 1e-4
            assert best.logprobs == pytest.approx(rescored(model, prime, best.text, len(best.logprobs) > len(best.text)),
                                                  abs=1e-4)
            if model.mode == "stream":
                assert len(best.text) == 30
    assert better > 0  # the search does find likelier texts than greedy


def test_sample_logprobs_are_the_models(tiny_run, tiny_lines_run):
    for run, prime in ((tiny_run, "ROMEO:"), (tiny_lines_run, "")):
        model = charrnn.load(run)
        for s in model.samples(prime, length=50, num=3, temperature=0.8, seed=1):
            ended = len(s.logprobs) > len(s.text)
            assert s.logprobs == pytest.approx(rescored(model, prime, s.text, ended), abs=1e-4)


def test_the_one_step_function_is_what_decoders_use(tiny_run, monkeypatch):
    import charrnn.generation.decoding as decoding

    calls = []
    real = decoding.step
    monkeypatch.setattr(decoding, "step", lambda *a: calls.append(a[1].shape) or real(*a))
    model = charrnn.load(tiny_run)
    model.generate("ab", length=5, seed=0)
    model.generate("ab", length=5, beam=3)
    assert len(calls) >= 10 and calls[0] == (1, 2)
    logits, state = real(model.network.model, torch.tensor([[5, 6, 7]]))
    assert logits.shape == (1, len(model.vocab)) and state[0].shape[1] == 1


def test_no_repeat_ngram_and_penalty(tiny_run):
    model = charrnn.load(tiny_run)
    text = "ROMEO:" + model.generate("ROMEO:", length=200, seed=2, no_repeat_ngram=3, temperature=0.5)
    trigrams = [text[i: i + 3] for i in range(len(text) - 2)]
    assert len(trigrams) == len(set(trigrams))
    greedy = model.generate("", length=200, temperature=0)
    penalized = model.generate("", length=200, temperature=0, repetition_penalty=1.5)
    assert penalized != greedy
    assert len(set(penalized[-100:])) > len(set(greedy[-100:]))  # a tiny model's greedy loop is broken


# --- the CLI ------------------------------------------------------------------------------------------------------

def test_several_temperatures_give_labelled_samples_equal_to_single_runs(tiny_run, capsys):
    assert main(["sample", str(tiny_run), "--prime", "RO", "--length", "30", "--seed", "3",
                 "--temperature", "0.2,1.0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "--- temperature 0.2 ---" and "--- temperature 1 ---" in out
    for t in ("0.2", "1.0"):
        main(["sample", str(tiny_run), "--prime", "RO", "--length", "30", "--seed", "3", "--temperature", t])
        alone = capsys.readouterr().out.rstrip("\n")
        block = "\n".join(out[out.index(f"--- temperature {float(t):g} ---") + 1:])
        assert block.startswith(alone)


def test_show_logprob_and_json(tiny_run, capsys):
    assert main(["sample", str(tiny_run), "--prime", "RO", "--length", "20", "--seed", "1", "--show-logprob"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("RO") and "nats total" in captured.err and "per character" in captured.err
    assert main(["sample", str(tiny_run), "--length", "20", "--num", "2", "--seed", "1", "--json",
                 "--temperature", "0.5,1"]) == 0
    samples = json.loads(capsys.readouterr().out)
    assert [s["temperature"] for s in samples] == [0.5, 0.5, 1.0, 1.0]
    for s in samples:
        assert len(s["char_logprobs"]) == len(s["text"]) == 20 and s["end_logprob"] is None
        assert s["logprob"] == pytest.approx(sum(s["char_logprobs"]))
    assert main(["sample", str(tiny_run), "--length", "20", "--beam", "4", "--json"]) == 0
    (beam,) = json.loads(capsys.readouterr().out)
    assert beam["temperature"] is None and len(beam["text"]) == 20


def test_lines_mode_json_counts_the_end_token(tiny_lines_run, capsys):
    assert main(["sample", str(tiny_lines_run), "--num", "4", "--seed", "2", "--json", "--length", "100"]) == 0
    for s in json.loads(capsys.readouterr().out):
        assert s["end_logprob"] is not None and s["end_logprob"] < 0
        assert s["logprob"] == pytest.approx(sum(s["char_logprobs"]) + s["end_logprob"])


@pytest.mark.parametrize("flags, match", [
    (["--beam", "3", "--num", "2"], "--beam finds the one likeliest continuation"),
    (["--beam", "3", "--temperature", "0.5,1"], "several temperatures"),
    (["--beam", "-1"], "--beam must be >= 0"),
    (["--repetition-penalty", "0"], "--repetition-penalty must be > 0"),
    (["--no-repeat-ngram", "-2"], "--no-repeat-ngram must be >= 0"),
    (["--temperature", "0.5,-1"], "--temperature must be >= 0"),
    (["--interactive", "--num", "2"], "--interactive writes one completion at a time")])
def test_bad_decoding_flags_are_one_line(tiny_run, capsys, flags, match):
    fails_cleanly(capsys, ["sample", str(tiny_run), *flags], match)
