"""What every decoder shares: the one step that runs the model, the prime, the rules that decide which
id may come next, and the Sample a decoder returns. The decoders are rows.py (sampling, greedy at
temperature 0, for one request or several stepped together) and beam.py (beam search).

Every decoder reads the model through `step`, the one function that runs it, so a faster step
(a fused cell, a compiled graph) replaces that function and nothing else:

    prime ids --step--> logits --rules--> next ids --step--> logits --rules--> ...

The rules that decide which id may come next have three sources:

    the mode        <unk> and <bos> are never written; <eos> only in lines mode, where it ends a sample
    the options     charrnn.generation.sampling: banned n-grams, repetition penalty, temperature, top-k/p
    a Constraint    a writer's form: which ids each sample may write next (poems, names)

Log-probabilities reported with a text are the model's own (temperature 1, no penalty, no
filter): the numbers that tell how likely the model finds what was written, whatever the settings.
"""

from __future__ import annotations

import weakref
from functools import cache
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import ngram_bans
from charrnn.generation.stepper import Stepper
from charrnn.model import CharRNN, State
from charrnn.vocab import BOS, EOS, UNK


_steppers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (parameters, version, Stepper)


def _stepper(model: CharRNN) -> Stepper:
    """The model's Stepper, rebuilt when its weights have changed (training evals sample too):
    every in-place change of a parameter bumps its `_version`, so their sum tells; new storage
    (`model.to(...)` assigns `.data`, which bumps nothing) shows in the first one's address."""
    cached = _steppers.get(model)
    params = cached[0] if cached is not None else list(model.parameters())
    version = (sum(p._version for p in params), params[0].data_ptr())
    if cached is None or cached[1] != version:
        cached = (params, version, Stepper(model))
        _steppers[model] = cached
    return cached[2]


def step(model: CharRNN, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
    """Feed ids (B, T) -> the logits after the last of them (B, V) and the new state. One
    character at a time goes through the Stepper (charrnn.generation.stepper); a prime through the fused forward."""
    if model.training:
        logits, state = model(ids, state)  # (B, T, V)
        return logits[:, -1], state
    stepper = _stepper(model)
    if ids.shape[1] == 1 and state is not None:
        return stepper.step(ids[:, 0], state)
    # A prime in bf16 where the Stepper's layers are (CPUs with native bf16, layers large enough
    # to gain): about 2x faster there. The state and logits come back fp32, as the Stepper keeps them.
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=stepper.bf16_layers):
        logits, state = model(ids, state)
    return logits[:, -1].float(), tuple(s.float() for s in state)


def prime_ids(network: Network, prime: str) -> list[int]:
    """The ids the network reads before writing: <bos> + prime in lines mode; in stream mode the
    prime, or a newline when it is empty (start where a line starts, as the text does)."""
    vocab = network.vocab
    ids = vocab.encode(prime).astype("int64").tolist()
    if network.mode == "lines":
        return [BOS] + ids
    if not ids:
        return [vocab.id_of("\n")] if "\n" in vocab else [len(vocab) - 1]
    return ids


class Constraint(Protocol):
    """A writer's form: which ids may come next, given what each sample has written (prime excluded)."""

    def allowed(self, written: Sequence[Sequence[int]]) -> torch.Tensor | None:
        """(V,) or (B, V) bool, true where an id may come next; None: anything the mode allows."""

    def complete(self, written: Sequence[int]) -> bool:
        """True when a sample is finished (it then ends without <eos>)."""


def per_sample(masks: list[torch.Tensor]) -> torch.Tensor:
    """A constraint's masks for the samples of a batch: (V,) when they are one and the same mask (as at
    most positions of a form), else (B, V)."""
    return masks[0] if all(m is masks[0] for m in masks) else torch.stack(masks)


@dataclass
class Sample:
    text: str  # what was written after the prime
    logprobs: list[float] = field(default_factory=list)  # the model's log-prob of each written token, <eos> last if it ended on one
    temperature: float | None = None  # None: beam search
    ended: bool = False  # ended by <eos> or by its form, not by the length limit

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


@cache
def never_written(vocab_size: int, mode: str, device: torch.device) -> torch.Tensor:
    """(V,) bool: <unk> and <bos>, and <eos> but in lines mode. One tensor for every request of a
    network, so a batch of them shares it (rows.choose)."""
    banned = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    banned[[UNK, BOS]] = True
    if mode != "lines":
        banned[EOS] = True
    if bool(banned.all()):
        raise RuntimeError("decoding: the vocabulary has no character to write")
    return banned


class Rules:
    """Everything but chance that decides the next id: the mode, the options and a constraint.

    `history` is each sample's text so far as ids (prime included, <bos> not), which the
    repetition penalty and the n-gram rule look at; `written` is what it wrote after the prime.
    """

    def __init__(self, network: Network, options: SamplingOptions, constraint: Constraint | None) -> None:
        self.options, self.constraint, self.V, self.device = options, constraint, len(network.vocab), network.device
        self.base = never_written(self.V, network.mode, self.device)  # (V,), never changed in place
        # Only a constraint or the n-gram rule can change the bans from one step to the next;
        # without them `banned` is `base` at every step, with no tensor work per character.
        self.fixed = constraint is None and not options.no_repeat_ngram

    def banned(self, histories: Sequence[Sequence[int]], written: Sequence[Sequence[int]],
               ended: Sequence[bool] | None = None) -> torch.Tensor:
        """(V,) or (B, V) bool: the ids each sample may not write next."""
        if self.fixed and not (ended is not None and any(ended)):
            return self.base
        banned = self.base
        if self.constraint is not None:
            allowed = self.constraint.allowed(written)
            if allowed is not None:
                banned = banned | ~allowed
        n = self.options.no_repeat_ngram
        if n:
            banned = banned.expand(len(histories), self.V).clone()
            for row, history in enumerate(histories):
                bans = ngram_bans(history, n)
                if bans:
                    with_bans = banned[row].clone()
                    with_bans[bans] = True
                    if not bool(with_bans.all()):  # the form comes first: a rule that leaves nothing is dropped
                        banned[row] = with_bans
        if ended is not None and any(ended):  # finished samples are still fed (one batch); anything goes
            banned = banned.expand(len(ended), self.V).clone()
            banned[torch.tensor(ended, device=self.device)] = False
        if bool(banned.all(dim=-1).any()):
            raise RuntimeError("decoding: a sample has no allowed next id (an inconsistent constraint)")
        return banned

    def seen(self, histories: Sequence[Sequence[int]]) -> torch.Tensor | None:
        """(B, V) bool: the ids in each sample's last --repetition-window ids, or None when no penalty."""
        if self.options.repetition_penalty == 1.0:
            return None
        seen = torch.zeros(len(histories), self.V, dtype=torch.bool, device=self.device)
        for row, history in enumerate(histories):
            recent = history[-self.options.repetition_window:]
            if recent:
                seen[row, list(recent)] = True
        return seen

    def complete(self, written: Sequence[int]) -> bool:
        return self.constraint is not None and self.constraint.complete(written)

    def histories(self, context: list[int], written: Sequence[list[int]]) -> list[list[int]]:
        """Each sample's text so far, when a rule looks at it (else empty lists: no copying)."""
        if self.options.no_repeat_ngram or self.options.repetition_penalty != 1.0:
            return [context + w for w in written]
        return [[] for _ in written]
