"""Choosing the next character from logits: pure functions of (logits, options, generator).

Nothing here knows about models or state, so every rule is tested on hand-made logits. The order
in which the rules apply to one step's logits (B, V):

    logits -> ban (specials, constraints, repeated n-grams) -> repetition penalty
           -> / temperature -> top-k, top-p -> sample   (temperature 0: argmax after the penalty)

The decoders in charrnn.generation.decoding keep the histories these rules need (`seen`, `ngram_bans`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from charrnn.generation.options import SamplingOptions


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set the logits of characters outside the top-k / top-p set to -inf. logits: (B, V)."""
    if top_k and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a character when the ones ranked above it already hold top_p; the first always stays.
        drop_sorted = (probs.cumsum(-1) - probs) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def penalize_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty (Keskar et al. 2019): the logits (B, V) of the ids marked in
    `seen` (B, V) are divided by `penalty` where positive and multiplied where negative, so a
    penalty > 1 always makes them less likely."""
    if penalty == 1.0:
        return logits
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def ngram_bans(history: Sequence[int], n: int) -> list[int]:
    """The ids that would repeat an n-gram already in `history`: those that followed an earlier
    occurrence of its last n-1 ids. n = 1 bans every id already used."""
    if n <= 0 or len(history) < n - 1:
        return []
    if n == 1:
        return sorted(set(history))
    tail = tuple(history[len(history) - (n - 1):])
    return sorted({history[i + n - 1] for i in range(len(history) - n + 1)
                   if tuple(history[i: i + n - 1]) == tail})


def processed_logits(logits: torch.Tensor, options: SamplingOptions, banned: torch.Tensor | None = None,
                     seen: torch.Tensor | None = None) -> torch.Tensor:
    """The logits (B, V) after the bans and the repetition penalty, before the temperature.
    `banned`: (V,) or (B, V) bool, ids never to choose; `seen`: (B, V) bool, ids to penalize."""
    logits = logits.float()
    if seen is not None:
        logits = penalize_repeats(logits, seen, options.repetition_penalty)
    if banned is not None:
        logits = logits.masked_fill(banned, float("-inf"))
    return logits


def decoding_logprobs(logits: torch.Tensor, options: SamplingOptions, banned: torch.Tensor | None = None,
                      seen: torch.Tensor | None = None) -> torch.Tensor:
    """What greedy and beam search maximise, (B, V): the log-probabilities of the penalized
    distribution (without the penalty, the model's own), -inf where banned. The bans are not
    renormalised away: a constrained text is scored by the probability the model gives it."""
    logp = torch.log_softmax(processed_logits(logits, options, seen=seen), dim=-1)
    return logp if banned is None else logp.masked_fill(banned, float("-inf"))


def sample_next(logits: torch.Tensor, options: SamplingOptions, generator: torch.Generator | None = None,
                banned: torch.Tensor | None = None, seen: torch.Tensor | None = None) -> torch.Tensor:
    """One id per row of logits (B, V) -> (B,). `banned` (V,) or (B, V) bool: ids never to choose;
    `seen` (B, V) bool: the recent ids that --repetition-penalty applies to."""
    logits = processed_logits(logits, options, banned, seen)
    if options.temperature == 0:
        return logits.argmax(dim=-1)
    if options.temperature != 1.0:
        logits = logits / options.temperature
    logits = filter_logits(logits, options.top_k, options.top_p)
    probs = torch.softmax(logits, dim=-1)
    # The exponential race: argmax_i p_i / E_i with E_i ~ Exp(1) picks i with probability p_i, the
    # draw torch.multinomial makes, at half its cost for one draw. E >= 1e-30: a 0 would make 0/0.
    race = torch.empty_like(probs).exponential_(generator=generator).clamp_min_(1e-30)
    return probs.div_(race).argmax(dim=-1)
