"""Choosing the next character from logits: pure functions of (logits, options, generator).

Nothing here knows about models or state, so every rule is tested on hand-made logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from charrnn.errors import CharRNNError


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = field(default=1.0, metadata={
        "help": "randomness: below 1 safer, above 1 wilder, 0 = always the likeliest character"})
    top_k: int = field(default=0, metadata={"help": "sample only among the K likeliest characters (0 = all)"})
    top_p: float = field(default=1.0, metadata={
        "help": "sample only among the likeliest characters holding this much probability (nucleus)"})

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise CharRNNError(f"--temperature must be >= 0 (got {self.temperature})")
        if self.top_k < 0:
            raise CharRNNError(f"--top-k must be >= 0 (got {self.top_k})")
        if not 0.0 < self.top_p <= 1.0:
            raise CharRNNError(f"--top-p must be in (0, 1] (got {self.top_p})")


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


def sample_next(logits: torch.Tensor, options: SamplingOptions, generator: torch.Generator | None = None,
                banned: torch.Tensor | None = None) -> torch.Tensor:
    """One id per row of logits (B, V) -> (B,). `banned` (V,) bool: ids never to choose."""
    logits = logits.float()
    if banned is not None:
        logits = logits.masked_fill(banned, float("-inf"))
    if options.temperature == 0:
        return logits.argmax(dim=-1)
    logits = filter_logits(logits / options.temperature, options.top_k, options.top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
