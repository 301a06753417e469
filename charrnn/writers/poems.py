"""Regular Chinese poems by construction: 绝句 and 律诗, any regular form, acrostics (藏头诗) and rhyme.

A poem of L lines of N characters is written one character at a time, and at each position the form
says which characters may come (a charrnn.generation.decoding.Constraint). Whatever the model or the
temperature, every poem has the form:

    position  0 .. N-1         N    N+1 .. 2N        2N+1   ...   the last line ends in 。
    may be    line characters  ，   line characters  。      ...   (， after odd lines, 。 after even ones)
    acrostic  the first character of line k is heads[k]
    rhyme     the last character of each even line is in the rhyme group (charrnn.writers.rhyme) of
              the second line's, which is drawn among characters whose group is large enough for
              every even line to end in a different one; no rhyme character is used twice

A line character is a vocabulary character that Unicode calls a letter or a number, so never
punctuation, a space, a symbol, a newline or <eos>. The poem ends after its last 。 (no <eos> needed),
so the run may be in lines mode (a poem starts from <bos>) or stream mode (from a newline).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from charrnn.errors import CharRNNError
from charrnn.generation.decoding import Sample, per_sample
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.samples import Plan, run_plan, sample_plan
from charrnn.vocab import Vocabulary
from charrnn.writers.keywords import KeywordConstraint
from charrnn.writers.poem_form import COMMA, PERIOD, PoemForm, is_line_char
from charrnn.writers.rhyme import rhyme_groups
from charrnn.writers.verse import VerseConstraint

class PoemConstraint:
    """The form as masks over the vocabulary, built once; `allowed` picks the one for each position."""

    def __init__(self, form: PoemForm, vocab: Vocabulary, device: torch.device | str = "cpu") -> None:
        self.form, self.V = form, len(vocab)
        for mark in (COMMA, PERIOD):
            if mark not in vocab:
                raise CharRNNError(f"this run's vocabulary has no {mark!r}: poem needs a run trained on poems "
                                   f"written with ， and 。 (e.g. `charrnn train --dataset tang-poems`)")
        line_chars = [c for c in vocab.chars if is_line_char(c)]
        if not line_chars:
            raise CharRNNError("this run's vocabulary has no letters or Han characters to write a poem with")
        self.inside = self._mask([vocab.id_of(c) for c in line_chars], device)
        self.marks = {m: self._mask([vocab.id_of(m)], device) for m in (COMMA, PERIOD)}
        missing = [h for h in dict.fromkeys(form.heads) if h not in vocab]
        if missing:
            raise CharRNNError(f"--acrostic: {''.join(missing)!r} not in this run's vocabulary "
                               f"({len(vocab.chars)} characters): choose other heads")
        self.heads = [self._mask([vocab.id_of(h)], device) for h in form.heads]
        if form.rhyme:
            need = max(2, form.lines // 2)  # one rhyme character per even line, all different
            groups = rhyme_groups(line_chars)
            rich = {g: chars for g, chars in groups.items() if len(chars) >= need}
            if not rich:
                largest = max((len(c) for c in groups.values()), default=0)
                raise CharRNNError(f"--rhyme: no rhyme group has {need} characters in this run's vocabulary "
                                   f"(the largest has {largest}): train on more poems or write fewer lines")
            self.group_of = {vocab.id_of(c): g for g, chars in rich.items() for c in chars}
            self.group_masks = {g: self._mask([vocab.id_of(c) for c in chars], device) for g, chars in rich.items()}
            self.first_rhyme = self._mask(list(self.group_of), device)

    def _mask(self, ids: list[int], device: torch.device | str) -> torch.Tensor:
        mask = torch.zeros(self.V, dtype=torch.bool, device=device)
        mask[ids] = True
        return mask

    def allowed_one(self, written: Sequence[int]) -> torch.Tensor:
        form, p = self.form, len(written)
        if p >= form.length:  # finished: never asked for by the decoders, but keep it total
            return self.inside
        line, col = divmod(p, form.chars_per_line + 1)
        if col == form.chars_per_line:
            return self.marks[form.mark(line)]
        if col == 0 and form.heads:
            return self.heads[line]
        if form.rhyme and line % 2 == 1 and col == form.chars_per_line - 1:
            if line == 1:
                return self.first_rhyme
            first = written[form.rhyme_position(1)]
            mask = self.group_masks[self.group_of[first]].clone()
            mask[[written[form.rhyme_position(k)] for k in range(1, line, 2)]] = False  # no rhyme twice
            return mask
        return self.inside

    def allowed(self, written: Sequence[Sequence[int]]) -> torch.Tensor:
        return per_sample([self.allowed_one(w) for w in written])

    def keyword_fits(self, pos: int, char: str) -> bool:
        """May `char` stand at `pos` inside a keyword: a line character off the heads, rhymes and marks."""
        n = self.form.chars_per_line
        line, col = divmod(pos, n + 1)
        rhyming = self.form.rhyme and line % 2 == 1 and col == n - 1
        return col < n and not (col == 0 and self.form.heads) and not rhyming and is_line_char(char)

    def complete(self, written: Sequence[int]) -> bool:
        return len(written) >= self.form.length


def poem_plan(network: Network, form: PoemForm, num: int = 1, *,
              temperature: float | Sequence[float] | None = None, beam: int = 0, seed: int | None = None,
              options: SamplingOptions | None = None, **sampling: float | int) -> Plan[list[Sample]]:
    """`num` poems of `form` for each temperature (or one with beam=N), as Samples whose text is the
    whole poem; split it with `poem_lines`. The decoding options are those of sample_plan. A plan
    (charrnn.generation.samples): its form's masks are built when it starts."""
    constraint = poem_constraint(form, network.vocab, network.device)
    return (yield from sample_plan(network, "", form.length, num, temperature, beam=beam, seed=seed,
                                   constraint=constraint, options=options, **sampling))


def write_poems(network: Network, form: PoemForm, num: int = 1, *,
                temperature: float | Sequence[float] | None = None, beam: int = 0, seed: int | None = None,
                options: SamplingOptions | None = None, **sampling: float | int) -> list[Sample]:
    """poem_plan, run alone."""
    return run_plan(poem_plan(network, form, num, temperature=temperature, beam=beam, seed=seed, options=options,
                              **sampling))


def poem_constraint(form: PoemForm, vocab: Vocabulary, device: torch.device | str):
    """The form's constraint: plain (PoemConstraint) or regulated (VerseConstraint), with keywords."""
    if form.meter == "off":
        base = PoemConstraint(form, vocab, device)
        return KeywordConstraint(base, form, vocab, device) if form.keywords else base
    base = VerseConstraint(form, vocab, [c for c in vocab.chars if is_line_char(c)], device)
    if not form.keywords:
        return base
    refusal = None
    for pattern in [base.fixed] if base.fixed is not None else list(base.candidates.values()):
        base.fixed = pattern  # keywords are placed against a known pattern: fix it first
        try:
            return KeywordConstraint(base, form, vocab, device)
        except CharRNNError as e:
            refusal = e
    raise refusal
