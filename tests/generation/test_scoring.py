"""Scoring: the parallel pieces with a burn-in agree with the single carried-state stream."""

import math

import pytest
import torch

import charrnn
from charrnn.generation.scoring import score, score_stream


def test_pieces_with_burn_in_equal_the_single_stream(tiny_run, shakespeare_text):
    model = charrnn.load(tiny_run)
    ids = model.vocab.encode(shakespeare_text[:12_000])
    device = torch.device("cpu")
    exact, n = score_stream(model.model, ids, device, segments=1)
    pieces, m = score_stream(model.model, ids, device, segments=8, burn_in=256)
    assert n == m == len(ids) - 1
    assert abs(exact / n - pieces / m) < 2e-3
    cold, _ = score_stream(model.model, ids, device, segments=8, burn_in=1)
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


def test_best_weights_are_those_of_the_best_eval(tiny_run):
    from charrnn.checkpoint import BEST, read_header, read_metrics

    evals = [r["val_loss"] for r in read_metrics(tiny_run) if "val_loss" in r]
    assert read_header(tiny_run / BEST)[1]["val"] == pytest.approx(min(evals))
