"""Sampling as a pure function of logits, options and a generator."""

import pytest
import torch

from charrnn.errors import CharRNNError
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import filter_logits, sample_next


def logits_batch(batch=4, vocab=10, seed=0):
    return torch.randn(batch, vocab, generator=torch.Generator().manual_seed(seed))


def test_reproducible_by_seed():
    logits = logits_batch()
    options = SamplingOptions(temperature=1.0)
    draws = [sample_next(logits, options, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    many = [tuple(sample_next(logits, options, torch.Generator().manual_seed(s)).tolist()) for s in range(20)]
    assert len(set(many)) > 1  # different seeds really differ


def test_draws_follow_the_softmax():
    # 20,000 draws of one row: each id's frequency within 0.015 of its softmax probability
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, float("-inf")]])
    rows = sample_next(logits.expand(20_000, 5), SamplingOptions(), torch.Generator().manual_seed(3))
    frequencies = torch.bincount(rows, minlength=5).float() / rows.numel()
    assert torch.allclose(frequencies, torch.softmax(logits[0], -1), atol=0.015)
    assert frequencies[4] == 0


def test_temperature_zero_is_argmax():
    logits = logits_batch()
    picked = sample_next(logits, SamplingOptions(temperature=0), torch.Generator().manual_seed(0))
    assert torch.equal(picked, logits.argmax(-1))


def test_top_k_keeps_only_the_k_likeliest():
    logits = logits_batch(batch=1, vocab=20)
    allowed = set(torch.topk(logits[0], 3).indices.tolist())
    gen = torch.Generator().manual_seed(1)
    seen = {int(sample_next(logits, SamplingOptions(temperature=2.0, top_k=3), gen)) for _ in range(300)}
    assert seen <= allowed and len(seen) > 1


def test_top_p_keeps_the_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0].tolist()
    assert kept == [True, True, False, False]  # 0.5 < 0.7, 0.5 + 0.3 >= 0.7
    assert torch.isfinite(filter_logits(logits, top_p=0.01))[0].tolist() == [True, False, False, False]
    gen = torch.Generator().manual_seed(2)
    seen = {int(sample_next(logits, SamplingOptions(top_p=0.7), gen)) for _ in range(300)}
    assert seen == {0, 1}


def test_banned_ids_are_never_chosen():
    logits = torch.zeros(1, 5)
    banned = torch.tensor([True, True, False, True, True])
    gen = torch.Generator().manual_seed(0)
    assert {int(sample_next(logits, SamplingOptions(), gen, banned)) for _ in range(50)} == {2}


@pytest.mark.parametrize("kwargs, flag", [({"temperature": -0.1}, "--temperature"), ({"top_k": -1}, "--top-k"),
                                          ({"top_p": 0.0}, "--top-p"), ({"top_p": 1.5}, "--top-p")])
def test_invalid_options_are_refused(kwargs, flag):
    with pytest.raises(CharRNNError, match=flag):
        SamplingOptions(**kwargs)
