"""SamplingOptions: how the next character is chosen, the one place the decoding defaults live.

Free of torch, so that the CLI builds its decoding flags from these fields without importing it.
The library (TrainedModel.generate/stream/samples, the writers), the CLI and the server take an
instance, or keyword overrides that `sampling_options` forwards into it by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

from charrnn.errors import CharRNNError


@dataclass(frozen=True)
class SamplingOptions:
    # The CLI's --temperature (charrnn.commands.write) also takes a comma-separated list: one labelled sample each.
    temperature: float = field(default=1.0, metadata={
        "cli": False, "help": "randomness: below 1 safer, above 1 wilder, 0 = always the likeliest character"})
    top_k: int = field(default=0, metadata={"help": "sample only among the K likeliest characters (0 = all)"})
    top_p: float = field(default=1.0, metadata={
        "help": "sample only among the likeliest characters holding this much probability (nucleus)"})
    repetition_penalty: float = field(default=1.0, metadata={
        "help": "make characters seen in the last --repetition-window characters less likely "
                "(CTRL-style: positive logits divided, negative ones multiplied; 1 = off, 1.3 is strong)"})
    repetition_window: int = field(default=32, metadata={
        "help": "how many recent characters (prime included) --repetition-penalty looks at"})
    no_repeat_ngram: int = field(default=0, metadata={
        "help": "never write the same N characters twice in a sample (prime included; 0 = off)", "metavar": "N"})

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise CharRNNError(f"--temperature must be >= 0 (got {self.temperature})")
        if self.top_k < 0:
            raise CharRNNError(f"--top-k must be >= 0 (got {self.top_k})")
        if not 0.0 < self.top_p <= 1.0:
            raise CharRNNError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if not self.repetition_penalty > 0:
            raise CharRNNError(f"--repetition-penalty must be > 0 (got {self.repetition_penalty}); 1 is off")
        if self.repetition_window <= 0:
            raise CharRNNError(f"--repetition-window must be > 0 (got {self.repetition_window})")
        if self.no_repeat_ngram < 0:
            raise CharRNNError(f"--no-repeat-ngram must be >= 0 (got {self.no_repeat_ngram})")


def option_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SamplingOptions))


def sampling_options(options: SamplingOptions | None = None, **overrides) -> SamplingOptions:
    """`options` (default: the defaults) with `overrides` by field name; an unknown name is a TypeError
    that names the known ones, as a misspelt keyword argument would be."""
    unknown = sorted(set(overrides) - set(option_names()))
    if unknown:
        raise TypeError(f"unknown sampling option(s) {', '.join(unknown)}; known: {', '.join(option_names())}")
    return replace(options or SamplingOptions(), **overrides)


def temperatures(temperature: float | Sequence[float]) -> list[float]:
    """One temperature or several (a list, or the CLI's "0.2,0.5,1.0" already split)."""
    values = [temperature] if isinstance(temperature, (int, float)) else list(temperature)
    if not values:
        raise CharRNNError("--temperature: give at least one value")
    return [float(t) for t in values]


def per_temperature(options: SamplingOptions | None = None, temperature: float | Sequence[float] | None = None,
                    **overrides) -> list[SamplingOptions]:
    """`sampling_options(options, **overrides)` once for each of `temperature`'s values (its own
    temperature when None): the fan-out of `--temperature 0.2,0.5,1.0`, one set of samples each."""
    base = sampling_options(options, **overrides)
    return [replace(base, temperature=t) for t in temperatures(base.temperature if temperature is None else temperature)]
