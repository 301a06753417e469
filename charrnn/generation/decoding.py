"""From a prime to continuations: sampling (greedy at temperature 0) and beam search, free or constrained.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.sampling import decoding_logprobs, ngram_bans, sample_next
from charrnn.generation.stepper import Stepper
from charrnn.model import CharRNN, State, select_state
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


class Rules:
    """Everything but chance that decides the next id: the mode, the options and a constraint.

    `history` is each sample's text so far as ids (prime included, <bos> not), which the
    repetition penalty and the n-gram rule look at; `written` is what it wrote after the prime.
    """

    def __init__(self, network: Network, options: SamplingOptions, constraint: Constraint | None) -> None:
        self.options, self.constraint, self.V, self.device = options, constraint, len(network.vocab), network.device
        self.base = torch.zeros(self.V, dtype=torch.bool, device=self.device)  # (V,) never written
        self.base[[UNK, BOS]] = True
        if network.mode != "lines":
            self.base[EOS] = True
        if bool(self.base.all()):
            raise RuntimeError("decoding: the vocabulary has no character to write")
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


@torch.inference_mode()
def sample_ids(network: Network, prime: str, length: int, options: SamplingOptions, generator: torch.Generator,
               num: int = 1, constraint: Constraint | None = None) -> Iterator[tuple[list[int | None], list[float | None]]]:
    """Yield, once per step, each sample's next id and the model's log-probability of it
    (None for a sample that has already ended). A sample ends at <eos> (which is yielded), when
    its constraint says it is complete, or after `length` ids."""
    model, device = network.model, network.device
    start = prime_ids(network, prime)
    context = [i for i in start if i != BOS]
    rules = Rules(network, options, constraint)
    logits, state = step(model, torch.tensor([start] * num, device=device))  # (num, V)
    written: list[list[int]] = [[] for _ in range(num)]
    ended = [False] * num
    for _ in range(length):
        histories = rules.histories(context, written)
        nxt = sample_next(logits, options, generator, rules.banned(histories, written, ended),
                          rules.seen(histories))  # (num,)
        logp = torch.log_softmax(logits.float(), dim=-1).gather(1, nxt.view(-1, 1)).squeeze(1)  # (num,)
        ids, out_ids, out_logp = nxt.tolist(), [], []
        for row, (i, lp) in enumerate(zip(ids, logp.tolist())):
            if ended[row]:
                out_ids.append(None)
                out_logp.append(None)
                continue
            out_ids.append(i)
            out_logp.append(lp)
            written[row].append(i)
            ended[row] = i == EOS or rules.complete(written[row])
        yield out_ids, out_logp
        if all(ended):
            return
        logits, state = step(model, nxt.view(num, 1), state)


def collect(network: Network, steps: Iterator[tuple[list[int | None], list[float | None]]], num: int,
            temperature: float | None) -> list[Sample]:
    """The steps of `sample_ids` as `num` finished Samples."""
    ids: list[list[int]] = [[] for _ in range(num)]
    logprobs: list[list[float]] = [[] for _ in range(num)]
    for step_ids, step_logp in steps:
        for row, (i, lp) in enumerate(zip(step_ids, step_logp)):
            if i is not None:
                ids[row].append(i)
                logprobs[row].append(lp)
    return [Sample(network.vocab.decode([i for i in row if i != EOS]), lp, temperature,
                   ended=bool(row) and row[-1] == EOS)
            for row, lp in zip(ids, logprobs)]


@dataclass
class _Hypothesis:
    written: list[int]
    score: float  # the sum of decoding_logprobs: what the search maximises
    logprobs: list[float]  # the model's own, for the report

    def extended(self, i: int, scores: torch.Tensor, model_logp: torch.Tensor) -> _Hypothesis:
        """This text with id `i` added, given one row's decoding scores and model log-probs (V,)."""
        return _Hypothesis(self.written + [i], self.score + float(scores[i]), self.logprobs + [float(model_logp[i])])


# The likeliest: the highest sum of `decoding_logprobs`, i.e. the model's own log-probability when
# there is no repetition penalty. Plain beam search can prune the greedy path and end below it, so
# the greedy path is carried along as row 0 of the batch and competes at the end:
#
#     rows of one batch, one `step` per position:   [greedy (while open), beam 1, ..., beam width]
@torch.inference_mode()
def beam_search(network: Network, prime: str, length: int, width: int, options: SamplingOptions,
                constraint: Constraint | None = None) -> Sample:
    """The likeliest continuation of `prime` (at most `length` ids) that `width` hypotheses find,
    never less likely than greedy decoding (see the comment above)."""
    model, device, V = network.model, network.device, len(network.vocab)
    start = prime_ids(network, prime)
    context = [i for i in start if i != BOS]
    rules = Rules(network, options, constraint)
    logits, state = step(model, torch.tensor([start] * 2, device=device))  # (2, V): greedy, beam
    greedy, beam, finished = _Hypothesis([], 0.0, []), [_Hypothesis([], 0.0, [])], []
    greedy_open = length > 0
    for t in range(length):
        hyps = ([greedy] if greedy_open else []) + beam  # the rows of `logits` and `state`, in order
        written = [h.written for h in hyps]
        histories = rules.histories(context, written)
        scores = decoding_logprobs(logits, options, rules.banned(histories, written), rules.seen(histories))  # (R, V)
        model_logp = torch.log_softmax(logits.float(), dim=-1)  # (R, V)
        last, first_beam_row = t == length - 1, 1 if greedy_open else 0
        keep_rows, keep_ids = [], []
        if greedy_open:
            greedy = greedy.extended(int(scores[0].argmax()), scores[0], model_logp[0])
            greedy_open = not (greedy.written[-1] == EOS or rules.complete(greedy.written) or last)
            if greedy_open:
                keep_rows.append(0)
                keep_ids.append(greedy.written[-1])
        open_children = []
        if beam:
            totals = torch.tensor([h.score for h in beam], device=device).view(-1, 1) + scores[first_beam_row:]
            top = torch.topk(totals.flatten(), min(2 * width, totals.numel()))
            top_logp = model_logp[first_beam_row:].flatten()[top.indices].tolist()  # one read, not one per candidate
            for total, flat, logp in zip(top.values.tolist(), top.indices.tolist(), top_logp):
                if total == float("-inf") or len(open_children) == width:
                    break
                r, i = divmod(flat, V)
                row = first_beam_row + r
                child = _Hypothesis(beam[r].written + [i], total, beam[r].logprobs + [logp])
                if i == EOS or rules.complete(child.written) or last:
                    finished.append(child)
                else:
                    open_children.append((child, row, i))
        # Scores only fall as a text grows: an open text below the best finished one can never win.
        best_done = max((h.score for h in finished), default=float("-inf"))
        open_children = [c for c in open_children if c[0].score > best_done]
        beam = [child for child, _, _ in open_children]
        keep_rows += [row for _, row, _ in open_children]
        keep_ids += [i for _, _, i in open_children]
        if not keep_rows:
            break
        index = torch.tensor(keep_rows, device=device)
        logits, state = step(model, torch.tensor(keep_ids, device=device).view(-1, 1), select_state(state, index))
    best = max(finished + [greedy], key=lambda h: h.score)
    text = network.vocab.decode([i for i in best.written if i != EOS])
    ended = bool(best.written) and (best.written[-1] == EOS or rules.complete(best.written))
    return Sample(text, best.logprobs, None, ended)
