"""Rows of many requests stepped together: each row as if alone (its logits, its draws, its text)."""

from __future__ import annotations

import itertools

import pytest
import torch

from charrnn.generation.batch import Batch
from charrnn.generation.decoding import Rules, prime_ids, step
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.rows import Decode, decode_alone, sample_ids
from charrnn.generation.sampling import sample_next
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import BOS, EOS, Vocabulary

OPTIONS = [SamplingOptions(), SamplingOptions(temperature=0.7), SamplingOptions(temperature=0),
           SamplingOptions(top_k=5), SamplingOptions(top_p=0.8, temperature=1.3),
           SamplingOptions(repetition_penalty=1.5), SamplingOptions(no_repeat_ngram=2)]


@pytest.fixture(scope="module")
def network() -> Network:
    torch.manual_seed(0)
    vocab = Vocabulary.from_text("abcdefghij klmnop\nqrstuvwxyz,.")
    return Network(CharRNN(ModelConfig(layers=2, hidden=48, embed=8).resolved(len(vocab))).eval(), vocab, "lines")


def decodes(network: Network, count: int, seed: int = 0) -> list[Decode]:
    """`count` requests as a server sees them: other primes, options, counts, lengths and seeds."""
    made = []
    for k in range(count):
        options = OPTIONS[k % len(OPTIONS)]
        made.append(Decode(network, "abc"[: k % 4], 10 + 7 * (k % 5), options,
                           torch.Generator().manual_seed(seed + k), num=1 + k % 3))
    return made


def run(batch: Batch, joining: dict[int, list[Decode]], steps: int) -> dict[Decode, list[torch.Tensor]]:
    """Step `batch` for `steps` steps, `joining[t]` joining before step t; each decode's logits rows at each step."""
    seen: dict[Decode, list[torch.Tensor]] = {}
    for t in range(steps):
        batch.join(joining.get(t, []))
        at = 0
        for decode in batch.decodes:
            seen.setdefault(decode, []).append(batch.logits[at: at + decode.num].clone())
            at += decode.num
        if not batch.decodes:
            break
        batch.choose()
        batch.advance()
    return seen


def test_a_row_in_a_batch_has_the_logits_it_has_alone(network):
    together = decodes(network, 12)
    batched = run(Batch(network), {0: together[:8], 5: together[8:]}, 60)  # four join later, all leave as they end
    for k, decode in enumerate(decodes(network, 12)):
        (alone,) = run(Batch(network), {0: [decode]}, 60).values()
        assert len(alone) == len(batched[together[k]])
        for mine, theirs in zip(alone, batched[together[k]]):
            assert torch.allclose(mine, theirs, atol=1e-4)
        assert decode.written == together[k].written  # the same draws: the same text


def test_a_seeded_request_writes_the_same_alone_and_among_31_others(network):
    mine = Decode(network, "ab", 80, SamplingOptions(temperature=0.8, top_k=20), torch.Generator().manual_seed(7), 2)
    alone = decode_alone(Decode(network, "ab", 80, SamplingOptions(temperature=0.8, top_k=20),
                                torch.Generator().manual_seed(7), 2))
    batch = Batch(network)
    batch.join([*decodes(network, 15, seed=100), mine, *decodes(network, 16, seed=200)])
    while batch.decodes:
        batch.choose()
        batch.advance()
    assert [s.text for s in mine.samples()] == [s.text for s in alone]
    for got, want in zip(mine.samples(), alone):
        assert got.logprobs == pytest.approx(want.logprobs, abs=1e-4)


def test_rows_that_leave_are_taken_out_and_the_rest_go_on(network):
    a, b, c = decodes(network, 3)
    batch = Batch(network)
    batch.join([a, b, c])
    assert batch.rows == a.num + b.num + c.num and batch.state[0].shape[1] == batch.rows
    batch.choose()
    batch.advance(leaving={b})  # a client gone
    assert batch.decodes == [a, c] and batch.logits.shape[0] == batch.state[0].shape[1] == a.num + c.num


def reference_ids(network, prime, length, options, generator, num):
    """The sampling loop as one request alone with sampling.sample_next: what `choose` must reproduce."""
    start = prime_ids(network, prime)
    context, rules = [i for i in start if i != BOS], Rules(network, options, None)
    logits, state = step(network.model, torch.tensor([start] * num))
    written, ended = [[] for _ in range(num)], [False] * num
    for _ in range(length):
        histories = rules.histories(context, written)
        nxt = sample_next(logits, options, generator, rules.banned(histories, written, ended), rules.seen(histories))
        out = []
        for row, i in enumerate(nxt.tolist()):
            out.append(None if ended[row] else i)
            if not ended[row]:
                written[row].append(i)
                ended[row] = i == EOS
        yield out
        if all(ended):
            return
        logits, state = step(network.model, nxt.view(num, 1), state)


@pytest.mark.parametrize("options, num", list(itertools.product(OPTIONS, (1, 3))))
def test_choose_does_what_sample_next_does(network, options, num):
    for seed in (1, 2):
        want = list(reference_ids(network, "ab", 60, options, torch.Generator().manual_seed(seed), num))
        got = [ids for ids, _ in sample_ids(network, "ab", 60, options, torch.Generator().manual_seed(seed), num)]
        assert got == want
