"""Regulated verse by construction: every position of a 绝句 or 律诗 may only take characters of the
tone its pattern wants (meter.py), and the rhyming lines only level-tone (平) characters of one rhyme
group of the book (rhyme_books.py), each used once. A charrnn.generation.decoding.Constraint, as the
plain form (poems.PoemConstraint) is; `poem --meter strict|loose` uses this one.

The pattern is the one `--pattern pingqi|zeqi` names, or the one the model opens with: the first
position where the two candidate patterns want different tones takes a character of either tone,
and its tone (平 when it has both) decides. With acrostic heads the first opening that every head
fits is taken; when none fits, the request is refused in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from charrnn.errors import CharRNNError
from charrnn.generation.decoding import per_sample
from charrnn.vocab import SPECIALS, Vocabulary
from charrnn.writers.meter import OPENINGS, Pattern, choose
from charrnn.writers.poem_form import PoemForm
from charrnn.writers.rhyme_books import PING, ZE, ping_groups, tones


@lru_cache(maxsize=8)
def _tables(book: str, line_chars: tuple[str, ...], chars: tuple[str, ...]) -> tuple[dict, dict]:
    """({tone: ids of the line characters with it}, {level-tone group: ids}) for a vocabulary: read once."""
    id_of = {c: i + len(SPECIALS) for i, c in enumerate(chars)}  # ids as the Vocabulary numbers them
    tone_ids = {t: [id_of[c] for c in line_chars if t in tones(book, c)] for t in (PING, ZE)}
    members: dict[str, list[int]] = {}
    for char in line_chars:
        for group in ping_groups(book, char):
            members.setdefault(group, []).append(id_of[char])
    return tone_ids, members


class VerseConstraint:
    def __init__(self, form: PoemForm, vocab: Vocabulary, line_chars: list[str],
                 device: torch.device | str = "cpu") -> None:
        self.form, self.V, self.device = form, len(vocab), device
        n, m, book = form.chars_per_line, form.lines, form.book
        self.marks = {mark: self._mask([vocab.id_of(mark)]) for mark in ("，", "。")}
        self.tones, members = _tables(book, tuple(line_chars), tuple(vocab.chars))
        for tone, ids in self.tones.items():
            if not ids:
                raise CharRNNError(f"--meter: this run's vocabulary has no character of the {tone} tone in "
                                   f"--rhyme-book {book}: train on poems")
        self.tone_masks = {t: self._mask(ids) for t, ids in self.tones.items()}
        self.any_tone = self.tone_masks[PING] | self.tone_masks[ZE]
        self.candidates = {o: choose(n, m, o) for o in (PING, ZE)}
        self.rhyme_lines = set(self.candidates[PING].rhyme_lines())
        need = len(self.rhyme_lines)  # one character per rhyming line, all different
        rich = {g: ids for g, ids in members.items() if len(ids) >= need}
        if not rich:
            raise CharRNNError(f"--meter: no level-tone rhyme group of --rhyme-book {book} has {need} characters "
                               f"in this run's vocabulary: train on more poems or write a quatrain")
        self.group_masks = {g: self._mask(ids) for g, ids in rich.items()}
        self.groups_of: dict[int, set[str]] = {}  # id -> the rich level-tone groups it rhymes in
        for group, ids in rich.items():
            for i in ids:
                self.groups_of.setdefault(i, set()).add(group)
        self.heads = [self._mask([vocab.id_of(h)]) for h in form.heads]
        self.fixed = self._opening(vocab)  # a Pattern, or None: the model chooses
        self.decide_col = next(c for c in range(n) if self.candidates[PING].wanted(0, c, form.meter) is not None
                               and self.candidates[ZE].wanted(0, c, form.meter) is not None)
        self.vocab = vocab

    def _mask(self, ids: list[int]) -> torch.Tensor:
        mask = torch.zeros(self.V, dtype=torch.bool, device=self.device)
        mask[ids] = True
        return mask

    def _opening(self, vocab: Vocabulary) -> Pattern | None:
        """The pattern fixed before writing: --pattern's, or the first one all acrostic heads fit."""
        form = self.form
        openings = [OPENINGS[form.pattern]] if form.pattern else [PING, ZE]
        fitting = [o for o in openings if all(
            self.candidates[o].wanted(k, 0, form.meter) in (None, *tones(form.book, head))
            for k, head in enumerate(form.heads))]
        if not fitting:
            raise CharRNNError(f"--acrostic {form.heads}: under --meter {form.meter} no "
                               f"{'pattern' if not form.pattern else form.pattern + ' pattern'} lets every head "
                               f"open its line (a head's tone in --rhyme-book {form.book} is wrong for its line)")
        return self.candidates[fitting[0]] if (form.pattern or form.heads) else None

    def pattern_of(self, written: Sequence[int]) -> Pattern | None:
        if self.fixed is not None:
            return self.fixed
        if len(written) <= self.decide_col:
            return None
        char = self.vocab.decode([written[self.decide_col]])
        return self.candidates[PING if PING in tones(self.form.book, char) else ZE]

    def allowed_one(self, written: Sequence[int]) -> torch.Tensor:
        form, p = self.form, len(written)
        n = form.chars_per_line
        line, col = divmod(min(p, form.length - 1), n + 1)
        if col == n:
            return self.marks[form.mark(line)]
        if col == 0 and form.heads:
            return self.heads[line]
        pattern = self.pattern_of(written)
        if pattern is None:  # before the deciding position both patterns leave it free; at it, either tone
            return self.any_tone
        if line in self.rhyme_lines and col == n - 1:
            return self._rhyme(written, pattern)
        wanted = pattern.wanted(line, col, form.meter)
        return self.any_tone if wanted is None else self.tone_masks[wanted]

    def _rhyme(self, written: Sequence[int], pattern: Pattern) -> torch.Tensor:
        n = self.form.chars_per_line
        used = [written[k * (n + 1) + n - 1] for k in sorted(self.rhyme_lines) if k * (n + 1) + n - 1 < len(written)]
        groups = set(self.group_masks)
        for i in used:
            groups &= self.groups_of.get(i, set())
        mask = torch.zeros(self.V, dtype=torch.bool, device=self.device)
        for group in groups:
            mask |= self.group_masks[group]
        mask &= self.tone_masks[PING]
        mask[used] = False  # no rhyme character twice
        return mask

    def allowed(self, written: Sequence[Sequence[int]]) -> torch.Tensor:
        return per_sample([self.allowed_one(w) for w in written])

    def keyword_fits(self, pos: int, char: str) -> bool:
        """May `char` stand at `pos` inside a keyword: a line character off the heads, rhymes and marks,
        of the tone the (fixed) pattern wants there."""
        n = self.form.chars_per_line
        line, col = divmod(pos, n + 1)
        if col == n or (col == 0 and self.form.heads) or (line in self.rhyme_lines and col == n - 1):
            return False
        wanted = self.fixed.wanted(line, col, self.form.meter)
        have = tones(self.form.book, char)
        return bool(have) and (wanted is None or wanted in have)

    def complete(self, written: Sequence[int]) -> bool:
        return len(written) >= self.form.length
