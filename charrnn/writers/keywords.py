"""Keywords in every poem, placed by the decoder (lexically constrained decoding): `poem --keywords 月,江`.

Wrapped around a poem's constraint (the plain form or regulated verse), this one knows, at each
position, which keywords the poem still owes and whether they still fit in what is left:

    a keyword under way        the line so far ends with its beginning, and the rest fits: its next character
    no room left to wait       the keywords cannot all fit after this position: start one here
    otherwise                  the form's own choice (the model may start a keyword where it likes)

A keyword fits at a place when it lies within one line, on no acrostic head, no rhyme position and no
mark, and (under a meter) each of its characters has the tone its position wants. Whether all the
owed keywords still fit is a small search (each order of the keywords, each placed as early as it
can be), remembered per position: at most 3 keywords are taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import permutations
from typing import Protocol

import torch

from charrnn.errors import CharRNNError
from charrnn.generation.decoding import per_sample
from charrnn.vocab import Vocabulary
from charrnn.writers.poem_form import PoemForm

MAX_KEYWORDS = 3


class FormConstraint(Protocol):
    """What a keyword constraint wraps: a form's own constraint (poems.PoemConstraint, verse.VerseConstraint)."""

    def allowed_one(self, written: Sequence[int]) -> torch.Tensor:
        """(V,) bool: the ids the form allows after `written`."""

    def keyword_fits(self, pos: int, char: str) -> bool:
        """May `char` stand at `pos` inside a keyword."""

    def complete(self, written: Sequence[int]) -> bool:
        """The form is finished."""


class KeywordConstraint:
    def __init__(self, base: FormConstraint, form: PoemForm, vocab: Vocabulary,
                 device: torch.device | str = "cpu") -> None:
        """`base`: the form's constraint, whose `keyword_fits(position, char)` says where a keyword's
        characters may stand (a line character, off heads and rhymes, of the right tone)."""
        self.base, self.form, self.keywords, self.vocab, self.device = base, form, form.keywords, vocab, device
        keywords, self.fits = form.keywords, base.keyword_fits
        if len(keywords) > MAX_KEYWORDS:
            raise CharRNNError(f"--keywords: at most {MAX_KEYWORDS} (got {len(keywords)})")
        missing = "".join(dict.fromkeys(c for k in keywords for c in k if c not in vocab))
        if missing:
            raise CharRNNError(f"--keywords: {missing!r} not in this run's vocabulary: choose other words")
        if not self.feasible(0, frozenset(keywords)):
            raise CharRNNError(f"--keywords {','.join(keywords)}: they cannot all fit in this form (their length"
                               + (", or their tones under the meter" if form.meter != "off" else "")
                               + ", with its heads and rhymes): choose fewer or other words")
        self.feasible = lru_cache(maxsize=None)(self.feasible)

    def placeable(self, word: str, start: int) -> bool:
        n = self.form.chars_per_line + 1  # characters and the mark
        line, col = divmod(start, n)
        return (col + len(word) <= n - 1 and start + len(word) <= self.form.length
                and all(self.fits(start + i, ch) for i, ch in enumerate(word)))

    def feasible(self, start: int, owed: frozenset[str]) -> bool:
        """Can every owed keyword still be placed at or after `start`, none overlapping?"""
        for order in permutations(sorted(owed)):
            at, placed = start, True
            for word in order:
                at = next((s for s in range(at, self.form.length) if self.placeable(word, s)), None)
                if at is None:
                    placed = False
                    break
                at += len(word)
            if placed:
                return True
        return not owed

    def _mask(self, chars: list[str]) -> torch.Tensor:
        mask = torch.zeros(len(self.vocab), dtype=torch.bool, device=self.device)
        mask[[self.vocab.id_of(c) for c in chars]] = True
        return mask

    def allowed_one(self, written: Sequence[int]) -> torch.Tensor:
        base = self.base.allowed_one(written)
        p, n = len(written), self.form.chars_per_line + 1
        if p >= self.form.length or p % n == n - 1:
            return base
        text = self.vocab.decode(list(written))
        lines = text.replace("。", "，").split("，")
        owed = frozenset(k for k in self.keywords if not any(k in line for line in lines))
        if not owed:
            return base
        current = lines[-1]
        for word in sorted(owed, key=len, reverse=True):  # a keyword under way goes on
            for j in range(len(word) - 1, 0, -1):
                if current.endswith(word[:j]) and self.placeable(word[j:], p) and \
                        self.feasible(p + len(word) - j, owed - {word}):
                    return base & self._mask([word[j]])
        if self.feasible(p + 1, owed):
            return base
        starts = [w[0] for w in owed if self.placeable(w, p) and self.feasible(p + len(w), owed - {w})]
        return base & self._mask(starts) if starts else base

    def allowed(self, written: Sequence[Sequence[int]]) -> torch.Tensor:
        return per_sample([self.allowed_one(w) for w in written])

    def complete(self, written: Sequence[int]) -> bool:
        return self.base.complete(written)
