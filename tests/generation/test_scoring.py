"""Scoring: the parallel pieces with a burn-in agree with the single carried-state stream."""

import math

import numpy as np
import pytest
import torch

import charrnn
from charrnn.generation.scoring import score, score_stream
from charrnn.vocab import BOS, EOS


def test_pieces_with_burn_in_equal_the_single_stream(tiny_run, shakespeare_text):
    model = charrnn.load(tiny_run)
    ids = model.vocab.encode(shakespeare_text[:12_000])
    exact, n = score_stream(model.network, ids, segments=1)[:2]
    pieces, m = score_stream(model.network, ids, segments=8, burn_in=256)[:2]
    assert n == m == len(ids) - 1
    assert abs(exact / n - pieces / m) < 2e-3
    cold = score_stream(model.network, ids, segments=8, burn_in=1)[0]
    assert abs(exact / n - cold / m) > abs(exact / n - pieces / m)  # the burn-in is what makes them agree


def test_summary_units(tiny_run, shakespeare_text):
    model = charrnn.load(tiny_run)
    result = model.evaluate(shakespeare_text[:3000])
    assert set(result) == {"loss_nats", "bpc", "perplexity", "chars"}
    assert result["bpc"] == pytest.approx(result["loss_nats"] / math.log(2))
    assert result["perplexity"] == pytest.approx(math.exp(result["loss_nats"]))
    assert result["chars"] == 2999


def test_lines_mode_scores_every_line_and_its_end(tiny_lines_run):
    model = charrnn.load(tiny_lines_run)
    result = model.evaluate("Abc\nXyzzy\n\n")
    assert result["chars"] == 4 + 6  # the characters of each line plus its <eos>


def test_lines_of_every_length_score_as_each_line_alone(tiny_lines_run):
    """Lines drop out of their batch as they end (read LINE_CHUNK steps at a time): each line's
    score is still its own, from <bos> to <eos>, as if it were scored alone."""
    from charrnn.data.batches import line_spans
    from charrnn.data.corpus import encode_text
    from charrnn.generation.scoring import LINE_CHUNK, score_lines

    model = charrnn.load(tiny_lines_run, device="cpu")
    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list("abcdef \u4e00"), size=n)) for n in rng.integers(0, 3 * LINE_CHUNK, 40)]
    ids = encode_text("\n".join(lines) + "\n", model.vocab, "lines")[0]
    alone, count = 0.0, 0
    with torch.inference_mode():
        for start, end in line_spans(ids):
            x = torch.tensor([[BOS, *ids[start: end - 1].tolist()]])
            logits, _ = model.network.model(x)
            alone += torch.nn.functional.cross_entropy(logits[0], torch.tensor(ids[start:end].tolist()), reduction="sum").item()
            count += end - start
    read_out = []
    readout = model.network.model.readout
    model.network.model.readout = lambda features: read_out.append(len(features)) or readout(features)
    together, n = score_lines(model.network, ids, batch_size=16)[:2]
    assert n == count and together == pytest.approx(alone, rel=1e-5)
    assert sum(read_out) == count  # the padding after a line's end never reaches the output layer


def test_best_weights_are_those_of_the_best_eval(tiny_run):
    from charrnn.checkpoint import BEST, read_header, read_metrics

    evals = [r["val_loss"] for r in read_metrics(tiny_run) if "val_loss" in r]
    assert read_header(tiny_run / BEST)[1]["val"] == pytest.approx(min(evals))


def test_subset_scores_are_the_same_pieces_every_time(tiny_run, shakespeare_text):
    from charrnn.generation.scoring import score_sums

    model = charrnn.load(tiny_run)
    ids = model.vocab.encode(shakespeare_text[:20_000])
    first = score_sums(model.network, ids, max_chars=2_000)
    assert first == score_sums(model.network, ids, max_chars=2_000)
    assert 1_900 <= first[1] <= 2_100
    whole = score_sums(model.network, ids)
    assert whole[1] == len(ids) - 1 and score_sums(model.network, ids, max_chars=10**9) == whole
    # the pieces lie all over the split: the subset's mean is near the whole split's
    assert abs(first[0] / first[1] - whole[0] / whole[1]) < 0.15


def test_line_subsets_are_fixed_whole_lines(tiny_lines_run):
    from charrnn.data.batches import line_spans
    from charrnn.data.corpus import encode_text
    from charrnn.generation.scoring import line_subset

    model = charrnn.load(tiny_lines_run)
    lines = ["a" * (1 + i // 25) for i in range(300)]  # the length says where in the split a line was
    ids = encode_text("\n".join(lines) + "\n", model.vocab, "lines")[0]
    subset = line_subset(ids, 400)
    assert np.array_equal(subset, line_subset(ids, 400))  # the same lines at every eval
    spans = line_spans(subset)
    assert 300 < len(subset) <= 400 and subset[-1] == EOS
    chosen = [model.vocab.decode(subset[s:e - 1]) for s, e in spans]
    assert all(c and set(c) == {"a"} for c in chosen)  # whole lines, each to its <eos>
    assert len({len(c) for c in chosen}) > 5  # drawn from all over the split, not its start


def test_bf16_scores_within_a_thousandth_of_fp32(tiny_run, shakespeare_text):
    """Training evals run in the training precision (bf16 where the machine has it): the bound that allows it."""
    from charrnn.device import cpu_lstm_runs_bf16
    from charrnn.generation.scoring import score_sums

    if not cpu_lstm_runs_bf16():
        pytest.skip("this CPU's LSTM kernel refuses bf16 (no bf16 instructions): such runs are refused instead")

    model = charrnn.load(tiny_run)
    ids = model.vocab.encode(shakespeare_text[:20_000])
    fp32 = score_sums(model.network, ids, "fp32")
    bf16 = score_sums(model.network, ids, "bf16")
    assert fp32[1] == bf16[1] and abs(fp32[0] / fp32[1] - bf16[0] / bf16[1]) < 1e-3


@pytest.mark.parametrize("mode", ["stream", "lines"])
def test_one_pass_scores_the_whole_split_and_the_evals_subset(mode, tiny_run, tiny_lines_run, shakespeare_text):
    """The end of a run reads the subset's score off its whole-split pass (score_split) instead of
    scoring the subset again: both numbers are those of scoring each alone."""
    from charrnn.data.corpus import encode_text
    from charrnn.generation.scoring import score_split, score_sums

    model = charrnn.load(tiny_run if mode == "stream" else tiny_lines_run, device="cpu")
    ids = encode_text(shakespeare_text[:20_000] + "\n", model.vocab, mode)[0]
    total, count, part_total, part_count = score_split(model.network, ids, "fp32", 2_000)
    assert (total, count) == score_sums(model.network, ids)
    subset_total, subset_count = score_sums(model.network, ids, max_chars=2_000)
    assert part_count == subset_count < count and part_total == pytest.approx(subset_total, rel=1e-5)
    everything = score_split(model.network, ids, "fp32", 0)  # no subset: the part is the whole
    assert everything[2:] == pytest.approx(everything[:2], rel=1e-9)
