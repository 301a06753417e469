"""Names: one sample each, from <bos> to <eos>, from a lines-mode network trained on a list of names.

    write_names(network, 20, NameRules(4, 10, "Ty"), known=training_names, new_only=True)
    model.names(num=20, new_only=True, min_len=4, max_len=10, starts_with="Ty")   # the facade's way

The length bounds and the start are constraints, not filters, so no sample is wasted on them:
the name starts with `starts_with` (the prime), <eos> is banned until it has `min_len` characters
and is the only choice once it has `max_len`.

`new_only` is a filter: names found in the training data (`known`: the facade reads a run's
train_lines.txt, every line of the corpus it was trained on, validation lines included, kept by
`charrnn train` for lines-mode runs) and repeats are dropped, and more are drawn, in batches, until there are `num` or
`max_draws(num)` samples have been drawn for a temperature; then what was found is returned
with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from charrnn.checkpoint import TRAIN_LINES
from charrnn.errors import CharRNNError, warn
from charrnn.generation.decoding import per_sample
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions, per_temperature
from charrnn.generation.rows import Decode
from charrnn.generation.samples import Plan, run_plan
from charrnn.generation.streaming import make_generator
from charrnn.vocab import EOS, Vocabulary

DEFAULT_MAX_LEN = 40  # a name longer than this without --max-len is ended here
BATCH = 256  # samples decoded side by side (at most; the server asks for fewer)


def max_draws(num: int) -> int:
    """How many samples `new_only` may draw for `num` names before it gives up (per temperature)."""
    return max(2000, 50 * num)


@dataclass(frozen=True)
class NameRules:
    min_len: int = 1
    max_len: int | None = None
    starts_with: str = ""

    def __post_init__(self) -> None:
        if self.min_len < 1:
            raise CharRNNError(f"--min-len must be >= 1 (got {self.min_len})")
        if self.max_len is not None and self.max_len < 1:
            raise CharRNNError(f"--max-len must be >= 1 (got {self.max_len})")
        if self.max_len is not None and self.min_len > self.max_len:
            raise CharRNNError(f"--min-len {self.min_len} is more than --max-len {self.max_len}: no name fits")
        if self.max_len is not None and len(self.starts_with) > self.max_len:
            raise CharRNNError(f"--starts-with {self.starts_with!r} has {len(self.starts_with)} characters, more than "
                               f"--max-len {self.max_len}: no name fits")
        if "\n" in self.starts_with:
            raise CharRNNError("--starts-with: a name is one line (no newline)")

    @property
    def limit(self) -> int:
        return self.max_len if self.max_len is not None else max(DEFAULT_MAX_LEN, self.min_len, len(self.starts_with))


class NameConstraint:
    """<eos> banned below min_len characters, the only choice at the limit (counting the start)."""

    def __init__(self, rules: NameRules, vocab: Vocabulary, device: torch.device | str = "cpu") -> None:
        missing = [c for c in dict.fromkeys(rules.starts_with) if c not in vocab]
        if missing:
            raise CharRNNError(f"--starts-with: {''.join(missing)!r} not in this run's vocabulary, "
                               f"so no name can start that way")
        self.rules = rules
        self.anything = torch.ones(len(vocab), dtype=torch.bool, device=device)
        self.no_end = self.anything.clone()
        self.no_end[EOS] = False
        self.only_end = ~self.anything
        self.only_end[EOS] = True

    def allowed_one(self, written: Sequence[int]) -> torch.Tensor:
        n = len(self.rules.starts_with) + len(written)
        if n < self.rules.min_len:
            return self.no_end
        if n >= self.rules.limit:
            return self.only_end
        return self.anything

    def allowed(self, written: Sequence[Sequence[int]]) -> torch.Tensor:
        return per_sample([self.allowed_one(w) for w in written])

    def complete(self, written: Sequence[int]) -> bool:
        return False  # a name ends at <eos>


@dataclass
class Name:
    name: str
    logprobs: list[float]  # the model's log-prob of each written character and of <eos>
    temperature: float
    new: bool | None  # not in the training data; None when the run does not keep them

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


@dataclass
class NamesResult:
    names: list[Name]
    wanted: int  # names asked for, over all temperatures
    new_only: bool
    drawn: int = 0  # samples drawn
    in_training: int = 0  # dropped by new_only: found in the training data
    repeats: int = 0  # dropped by new_only: already drawn
    knows_training: bool = True  # the training data is known (a run's train_lines.txt)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.names) == self.wanted

    def summary(self) -> str:
        if self.new_only:
            return (f"{len(self.names)} new names from {self.drawn} samples "
                    f"(dropped: {self.in_training} in the training data, {self.repeats} repeated)")
        if not self.knows_training:
            return f"{len(self.names)} names (the run keeps no {TRAIN_LINES}, so which are new is unknown)"
        return f"{len(self.names)} names, {sum(bool(n.new) for n in self.names)} new (not in the training data)"


def names_plan(network: Network, num: int, rules: NameRules, known: set[str] | None = None,
               new_only: bool = False, *, temperature: float | Sequence[float] | None = None,
               seed: int | None = None, beam: int = 0, options: SamplingOptions | None = None, batch: int = BATCH,
               **sampling: float | int) -> Plan[NamesResult]:
    """`num` names for each temperature from a lines-mode network; `known`: the names of its training
    data (None: not known, and `new_only` is refused); `options` or `sampling` (SamplingOptions
    fields by name) say how each character is drawn. A plan (charrnn.generation.samples) whose
    decodes have at most `batch` rows."""
    if network.mode != "lines":
        raise CharRNNError("names needs a lines-mode run (one name per line, ended by the end token); this one "
                           "was trained in stream mode: train it again with --mode lines")
    if num <= 0:
        raise CharRNNError(f"--num must be > 0 (got {num})")
    if beam:
        raise CharRNNError("names are sampled: --beam would write the same likeliest name every time; drop it")
    if new_only and known is None:
        raise CharRNNError(f"--new-only: this run has no {TRAIN_LINES} (it was trained before charrnn kept its "
                           f"training data), so names cannot be checked against it: train it again, "
                           f"or drop --new-only")
    each = per_temperature(options, temperature, **sampling)
    constraint = NameConstraint(rules, network.vocab, network.device)
    result = NamesResult([], num * len(each), new_only, knows_training=known is not None)
    for opts in each:
        draw = Draw(network, rules, constraint, opts, make_generator(network.device, seed))
        found, drawn = yield from draw.names(num, known, new_only, batch, result)
        result.drawn += drawn
        result.names += found
        if len(found) < num:
            message = (f"found only {len(found)} of {num} new names in {drawn} samples at temperature "
                       f"{opts.temperature:g}: ask for fewer, raise --temperature, or loosen --min-len/--max-len/"
                       f"--starts-with")
            result.warnings.append(message)
            warn(message)
    return result


@dataclass
class Draw:
    """Names drawn at one temperature, in batches from one generator."""

    network: Network
    rules: NameRules
    constraint: NameConstraint
    options: SamplingOptions
    generator: torch.Generator

    def names(self, num: int, known: set[str] | None, new_only: bool, batch: int,
              result: NamesResult) -> Plan[tuple[list[Name], int]]:
        """(names, samples drawn): batches until `num` names are found or max_draws(num) are drawn;
        what new_only drops is counted in `result`."""
        found: list[Name] = []
        seen: set[str] = set()
        drawn = 0
        length = self.rules.limit - len(self.rules.starts_with) + 1  # the characters, then <eos>
        while len(found) < num and drawn < max_draws(num):
            want = num - len(found)
            size = min(batch, max_draws(num) - drawn, max(2 * want, 16) if new_only else want)
            (samples,) = yield [Decode(self.network, self.rules.starts_with, length, self.options, self.generator,
                                       size, self.constraint)]
            for sample in samples:
                drawn += 1
                name = self.rules.starts_with + sample.text
                new = None if known is None else name not in known
                if new_only and not new:
                    result.in_training += 1
                elif new_only and name in seen:
                    result.repeats += 1
                else:
                    seen.add(name)
                    found.append(Name(name, sample.logprobs, self.options.temperature, new))
                    if len(found) == num:
                        break
        return found, drawn


def write_names(network: Network, num: int, rules: NameRules, known: set[str] | None = None,
                new_only: bool = False, *, temperature: float | Sequence[float] | None = None,
                seed: int | None = None, beam: int = 0, options: SamplingOptions | None = None,
                **sampling: float | int) -> NamesResult:
    """names_plan, run alone."""
    return run_plan(names_plan(network, num, rules, known, new_only, temperature=temperature, seed=seed, beam=beam,
                               options=options, **sampling))
