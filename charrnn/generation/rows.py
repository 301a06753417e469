"""Sampling, one request alone or many stepped together: a Decode is one request's rows, and
`choose` picks the next id of every row of several decodes from one batch of logits.

    Decode      a request being written: `num` rows from one prime, its options, rules and
                generator, what each row has written and the network's log-probability of it
    choose      the next id of every row of every decode, from the logits (B, V) of all their rows
    decode_steps, decode_alone   one decode alone: prime, then choose and step until it is finished
    sample_ids  decode_steps of a Decode made from its arguments

`choose` does for each decode's rows exactly what `sampling.sample_next` does for a batch of one
request (the penalty, the bans, the temperature, top-k/p, one draw of V exponentials per row from
the decode's own generator), only as one computation over all rows. So a request draws the same
numbers whoever shares the batch; its text can differ from the same request alone only where the
batched product rounds its logits differently (about 1e-6) and two characters tie that closely.

Rows of a request that have ended (<eos>, or its form complete) are fed with the others until the
whole request has ended, as one batch of that request alone would be.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import accumulate

import torch

from charrnn.generation import decoding
from charrnn.generation.decoding import Constraint, Rules, Sample, prime_ids
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import filter_logits, penalize_repeats
from charrnn.vocab import BOS, EOS


class Decode:
    """One request's `num` rows, sampled (greedy at temperature 0) for at most `length` ids."""

    def __init__(self, network: Network, prime: str, length: int, options: SamplingOptions,
                 generator: torch.Generator, num: int = 1, constraint: Constraint | None = None) -> None:
        self.network, self.length, self.options, self.generator, self.num = network, length, options, generator, num
        self.start = prime_ids(network, prime)  # what the rows read before writing
        self.context = [i for i in self.start if i != BOS]  # what the repetition rules look back on
        self.rules = Rules(network, options, constraint)
        self.written: list[list[int]] = [[] for _ in range(num)]
        self.logprobs: list[list[float]] = [[] for _ in range(num)]
        self.ended = [False] * num
        self.steps = 0

    @property
    def finished(self) -> bool:
        return self.steps >= self.length or all(self.ended)

    def masks(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(banned: (V,) or (num, V), seen: (num, V) or None) for the next step, as the rules say."""
        histories = self.rules.histories(self.context, self.written)
        return self.rules.banned(histories, self.written, self.ended), self.rules.seen(histories)

    def take(self, ids: list[int], logps: list[float]) -> tuple[list[int | None], list[float | None]]:
        """Record one step's ids and their log-probabilities; None for a row that had already ended."""
        out_ids: list[int | None] = []
        out_logps: list[float | None] = []
        for row, (i, lp) in enumerate(zip(ids, logps)):
            if self.ended[row]:
                out_ids.append(None)
                out_logps.append(None)
                continue
            out_ids.append(i)
            out_logps.append(lp)
            self.written[row].append(i)
            self.logprobs[row].append(lp)
            self.ended[row] = i == EOS or self.rules.complete(self.written[row])
        self.steps += 1
        return out_ids, out_logps

    def samples(self) -> list[Sample]:
        """The rows as Samples (<eos> dropped from the text, its log-probability kept)."""
        return [Sample(self.network.vocab.decode([i for i in row if i != EOS]), lp, self.options.temperature,
                       ended=bool(row) and row[-1] == EOS) for row, lp in zip(self.written, self.logprobs)]


def _banned(masks: list[torch.Tensor], counts: list[int]) -> torch.Tensor:
    """Each decode's bans, (V,) or (num, V), as one mask over all the rows: (V,) when they are one
    and the same (the free requests of a network: decoding.never_written), else (B, V)."""
    if all(m is masks[0] for m in masks):
        return masks[0]
    if all(m.dim() == 1 for m in masks):
        return torch.stack(masks).repeat_interleave(torch.tensor(counts, device=masks[0].device), dim=0)
    return torch.cat([m.expand(n, -1) for m, n in zip(masks, counts)])


@torch.inference_mode()
def choose(decodes: Sequence[Decode], logits: torch.Tensor) -> tuple[torch.Tensor, list[tuple[list, list]]]:
    """The next id of every row (B,), from the logits (B, V) of all the decodes' rows in order, and
    each decode's step as `Decode.take` records it. sampling.sample_next, row by row (see above)."""
    counts = [d.num for d in decodes]
    bounds = [0, *accumulate(counts)]
    spans = [slice(a, b) for a, b in zip(bounds, bounds[1:])]
    masks = [d.masks() for d in decodes]
    x = logits.float()
    if any(seen is not None for _, seen in masks):  # the repetition penalty, before the bans
        x = torch.cat([penalize_repeats(x[rows], seen, d.options.repetition_penalty) if seen is not None
                       else x[rows] for d, rows, (_, seen) in zip(decodes, spans, masks)])
    x = x.masked_fill(_banned([banned for banned, _ in masks], counts), float("-inf"))
    nxt = x.argmax(dim=-1)  # the greedy rows' choice; sampled rows are chosen below
    drawn = [k for k, d in enumerate(decodes) if d.options.temperature != 0]
    if drawn:
        every = len(drawn) == len(decodes)
        rows = None if every else torch.tensor([r for k in drawn for r in range(spans[k].start, spans[k].stop)],
                                               device=x.device)
        values = {decodes[k].options.temperature for k in drawn}
        temperature = values.pop() if len(values) == 1 else torch.tensor(
            [decodes[k].options.temperature for k in drawn for _ in range(counts[k])], device=x.device).view(-1, 1)
        y = (x if every else x[rows]) / temperature  # float32 division either way; exact for a temperature of 1
        at = 0
        for k in drawn:  # top-k and top-p, row by row as each decode asks
            o, n = decodes[k].options, counts[k]
            if o.top_k or o.top_p < 1.0:
                y[at: at + n] = filter_logits(y[at: at + n], o.top_k, o.top_p)
            at += n
        probs = torch.softmax(y, dim=-1)
        # sample_next's exponential race, each decode drawing from its own generator as if alone
        draws = [torch.empty(counts[k], x.shape[1], dtype=probs.dtype, device=x.device).exponential_(
            generator=decodes[k].generator) for k in drawn]
        race = (draws[0] if len(draws) == 1 else torch.cat(draws)).clamp_min_(1e-30)
        picked = probs.div_(race).argmax(dim=-1)
        if every:
            nxt = picked
        else:
            nxt[rows] = picked
    logp = torch.log_softmax(logits.float(), dim=-1).gather(1, nxt.view(-1, 1)).squeeze(1)  # the network's own
    ids, logps = nxt.tolist(), logp.tolist()
    return nxt, [d.take(ids[rows], logps[rows]) for d, rows in zip(decodes, spans)]


@torch.inference_mode()
def decode_steps(decode: Decode) -> Iterator[tuple[list[int | None], list[float | None]]]:
    """Run one decode alone: yield, once per step, each row's next id and the network's
    log-probability of it (None for a row that has already ended)."""
    if decode.finished:
        return
    model, num = decode.network.model, decode.num
    logits, state = decoding.step(model, torch.tensor([decode.start] * num, device=decode.network.device))  # (num, V)
    while True:
        nxt, (out,) = choose([decode], logits)
        yield out
        if decode.finished:
            return
        logits, state = decoding.step(model, nxt.view(num, 1), state)


def sample_ids(network: Network, prime: str, length: int, options: SamplingOptions, generator: torch.Generator,
               num: int = 1, constraint: Constraint | None = None) -> Iterator[tuple[list[int | None], list[float | None]]]:
    """Yield, once per step, each sample's next id and the network's log-probability of it
    (None for a sample that has already ended). A sample ends at <eos> (which is yielded), when
    its constraint says it is complete, or after `length` ids."""
    return decode_steps(Decode(network, prime, length, options, generator, num, constraint))


def decode_alone(decode: Decode) -> list[Sample]:
    """Run one decode alone to its end: its rows as Samples."""
    for _ in decode_steps(decode):
        pass
    return decode.samples()
