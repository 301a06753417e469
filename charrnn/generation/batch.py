"""Batch: the rows of several requests stepped together, one forward per character for all of them,
rows joining and leaving between steps (continuous batching, as LLM servers do it; for an RNN a
row's whole context is its fixed-size state). The server's scheduler drives one per served model.

    batch = Batch(network)
    batch.join([decode, ...])     # its rows added: primed at once, or by the steps to come
    for decode, (ids, logps) in batch.choose(): ...     # this step's ids, by rows.choose
    batch.advance(leaving)        # drop the finished decodes and `leaving`, step the rows that go on

    rows    decode 0's rows, then decode 1's, ...: the logits (B, V) and the state (layers, B, H)
            hold them in that order, and a decode that leaves takes its rows out of both

A prompt of at most SHORT_PROMPT ids is read by the batch's own steps, one id a step beside the
other rows' characters, from a zero state: nearly free, where the fused forward of a prompt costs
a fixed 8 ms on 2 cores whatever its length, and holds up every row meanwhile. A longer prompt is
read by that forward when it joins (prompts of one length together).

Each row keeps its own state, and each decode its own options, rules and generator (rows.py), so
what one request writes does not depend on who else is in the batch, but for the rounding of the
batched product (rows.py says how far that goes).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import torch

from charrnn.generation import decoding
from charrnn.generation.network import Network
from charrnn.generation.rows import Decode, choose
from charrnn.model import State

SHORT_PROMPT = 16  # ids read by the batch's own steps, a step each; longer prompts by the fused forward


class Batch:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.decodes: list[Decode] = []
        self.logits: torch.Tensor | None = None  # (B, V): what each row's next id is chosen from
        self.state: State | None = None  # (layers, B, H) each part
        self.reading: dict[Decode, int] = {}  # decodes whose prompt the steps are reading -> ids read so far
        self.chosen: dict[Decode, list[int]] = {}  # the ids of the last choose, fed by advance

    @property
    def rows(self) -> int:
        return sum(d.num for d in self.decodes)

    @torch.inference_mode()
    def join(self, decodes: Iterable[Decode]) -> None:
        """Add each decode's rows; a decode that is already finished (length 0) never joins."""
        long: dict[int, list[Decode]] = {}
        for decode in decodes:
            if decode.finished:
                continue
            if len(decode.start) <= SHORT_PROMPT:  # a zero state; the prompt is fed by the next steps
                model = self.network.model
                self._add([decode], torch.zeros(decode.num, model.config.vocab_size, device=self.network.device),
                          model.init_state(decode.num, self.network.device))
                self.reading[decode] = 0
            else:
                long.setdefault(len(decode.start), []).append(decode)
        for group in long.values():  # each length's prompts in one fused forward
            ids = torch.tensor([d.start for d in group for _ in range(d.num)], device=self.network.device)
            self._add(group, *decoding.step(self.network.model, ids))

    def _add(self, decodes: list[Decode], logits: torch.Tensor, state: State) -> None:
        self.decodes += decodes
        self.logits = logits if self.logits is None else torch.cat([self.logits, logits])
        self.state = state if self.state is None else tuple(torch.cat([a, b], dim=1) for a, b in zip(self.state, state))

    def choose(self) -> list[tuple[Decode, tuple[list[int | None], list[float | None]]]]:
        """The next id of every row that has read its prompt; each decode with its step as
        Decode.take recorded it."""
        ready, rows, at = [], [], 0
        for decode in self.decodes:
            if decode not in self.reading:
                ready.append(decode)
                rows += range(at, at + decode.num)
            at += decode.num
        self.chosen = {}
        if not ready:
            return []
        logits = self.logits if len(rows) == at else self.logits[torch.tensor(rows, device=self.logits.device)]
        chosen, steps = choose(ready, logits)
        ids = chosen.tolist()
        at = 0
        for decode in ready:
            self.chosen[decode] = ids[at: at + decode.num]
            at += decode.num
        return list(zip(ready, steps))

    @torch.inference_mode()
    def advance(self, leaving: Collection[Decode] = ()) -> None:
        """Take out the rows of the finished decodes and of `leaving`; one step for the rows that go on:
        each its chosen id, or its prompt's next one."""
        rows, kept, feed, at = [], [], [], 0
        for decode in self.decodes:
            if not decode.finished and decode not in leaving:
                rows += range(at, at + decode.num)
                kept.append(decode)
                read = self.reading.get(decode)
                feed += self.chosen[decode] if read is None else [decode.start[read]] * decode.num
            at += decode.num
        for decode in self.reading.keys() - set(kept):
            del self.reading[decode]
        state = self.state
        if len(kept) < len(self.decodes):
            if not kept:
                self.decodes, self.logits, self.state, self.chosen = [], None, None, {}
                return
            index = torch.tensor(rows, device=self.network.device)
            state = tuple(s.index_select(1, index) for s in state)
        self.decodes, self.chosen = kept, {}
        ids = torch.tensor(feed, device=self.network.device).view(-1, 1)
        self.logits, self.state = decoding.step(self.network.model, ids, state)
        for decode, read in list(self.reading.items()):
            if read + 1 == len(decode.start):
                del self.reading[decode]  # its logits are now those after its prompt
            else:
                self.reading[decode] = read + 1
