"""Request and response bodies. Every number and string a client sends is bounded here.

The /api models are strict (a string is not a number, `true` is not 1) and refuse unknown fields,
so a typo is a 422 rather than a silently ignored option. An integer may be written 2.0, as JSON
Schema's integer allows (a fraction is still refused). /v1/completions ignores the fields of
OpenAI's API that a character model has no use for (user, frequency_penalty, ...), as OpenAI-
compatible servers do, but refuses `logprobs` and `best_of`, which would change the answer's shape
or meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from charrnn.data.catalog import dataset_names
from charrnn.generation.options import SamplingOptions
from charrnn.training.config import PRESETS

DEFAULT = SamplingOptions()  # the decoding defaults, from their one place
MAX_LENGTH = 2000  # characters a sample
MAX_NUM = 16  # samples a request
MAX_PRIME = 4000  # characters of prime / prompt
MAX_TEMPERATURE = 5.0
MAX_TOP_K = 100_000
MAX_SEED = 2**53 - 1  # the largest integer a JSON number holds exactly in most clients (JavaScript's too)
MAX_STOP, MAX_STOPS = 64, 4
MAX_MODEL_NAME = 128
MAX_POEMS, MAX_POEM_CHARS_PER_LINE, MAX_POEM_LINES, MAX_HEADS = 8, 32, 64, 64
MAX_NAMES, MAX_NAME_LEN = 100, 64
MAX_INSPECT, MAX_INSPECT_TOP_K, MAX_UNITS, MAX_NEURONS = 2000, 20, 16, 50
# A text to train on: at least a train split of one batch (32 x 128 characters) and a validation split
MIN_TRAIN_TEXT, MAX_TRAIN_SECONDS = 5_000, 7 * 24 * 3600



def _whole(value: Any) -> Any:
    """2.0 is the integer 2 (JSON Schema says so); anything else is left to the strict integer check."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Int = Annotated[int, BeforeValidator(_whole)]


class Integer:
    """Integer[low, high]: an Int from low to high, for a field that may also be null (bounds given
    to the field itself would not reach the published schema through the null)."""

    def __class_getitem__(cls, bounds: tuple[int, int]) -> Any:
        low, high = bounds
        return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole)]
Stop = Annotated[str, Field(max_length=MAX_STOP)]
Prompt = Annotated[str, Field(max_length=MAX_PRIME)]
Stops = Annotated[Stop | Annotated[list[Stop], Field(max_length=MAX_STOPS)] | None, Field(
    description=f"end a sample where this text (or any of up to {MAX_STOPS}) appears; it is not included")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Sampling(_Request):
    model: str | None = Field(None, max_length=MAX_MODEL_NAME,
                              description="a model of /api/models (default: the first)")
    temperature: float = Field(DEFAULT.temperature, ge=0, le=MAX_TEMPERATURE,
                               description="0 = always the likeliest character")
    top_k: Int = Field(DEFAULT.top_k, ge=0, le=MAX_TOP_K,
                       description="sample among the K likeliest characters (0 = all)")
    top_p: float = Field(DEFAULT.top_p, gt=0, le=1, description="nucleus sampling")
    seed: Integer[0, MAX_SEED] | None = Field(None,
                             description="the same seed writes the same text (default: random)")

    def options(self) -> SamplingOptions:
        """The decoding options asked for (a CharRNNError, answered 400, where the library refuses them)."""
        return SamplingOptions(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)


class GenerateRequest(Sampling):
    prime: str = Field("", max_length=MAX_PRIME, description="text to continue")
    length: Int = Field(200, ge=0, le=MAX_LENGTH, description="characters to write per sample")
    num: Int = Field(1, ge=1, le=MAX_NUM, description="samples, written side by side")
    stop: Stops = None
    stream: bool = Field(False, description="answer with Server-Sent Events, one per piece of text")


class PoemRequest(Sampling):
    form: Literal["wujue", "qijue", "wulv", "qilv"] | None = Field(
        None, description="五言绝句, 七言绝句, 五言律诗 or 七言律诗 "
                          "(default: 5 characters x 4 lines, or one line per head)")
    chars_per_line: Integer[2, MAX_POEM_CHARS_PER_LINE] | None = Field(None)
    lines: Integer[1, MAX_POEM_LINES] | None = Field(None)
    acrostic: str | None = Field(None, max_length=MAX_HEADS, description="藏头: each line's first character")
    rhyme: bool = Field(False, description="the even lines rhyme")
    meter: Literal["strict", "loose", "off"] = Field("off", description="regulated verse (格律); implies rhyme")
    rhyme_book: Literal["pingshui", "xinyun", "shisanzhe"] = Field("pingshui", description="平水韵, 中华新韵 or 十三辙")
    pattern: Literal["pingqi", "zeqi"] | None = Field(None, description="with a meter: 平起 or 仄起")
    keywords: list[Annotated[str, Field(min_length=1, max_length=7)]] = Field(
        [], max_length=3, description="words every poem holds, placed by the decoder")
    num: Int = Field(1, ge=1, le=MAX_POEMS)


class PoemCheckRequest(_Request):
    text: str = Field(min_length=1, max_length=MAX_PRIME, description="poems: one a line, or separated by blank lines")
    rhyme_book: Literal["pingshui", "xinyun", "shisanzhe"] = "pingshui"
    meter: Literal["strict", "loose"] = "strict"


class NamesRequest(Sampling):
    num: Int = Field(10, ge=1, le=MAX_NAMES)
    new_only: bool = Field(False, description="drop names of the training set and repeats")
    starts_with: str = Field("", max_length=MAX_NAME_LEN)
    min_len: Int = Field(1, ge=1, le=MAX_NAME_LEN)
    max_len: Integer[1, MAX_NAME_LEN] | None = Field(None)


class InspectRequest(_Request):
    model: str | None = Field(None, max_length=MAX_MODEL_NAME, description="a model of /api/models (default: the first)")
    text: str = Field(min_length=1, max_length=MAX_INSPECT, description="the text to look inside")
    top_k: Int = Field(5, ge=1, le=MAX_INSPECT_TOP_K, description="guesses kept per character")
    units: list[Annotated[str, Field(max_length=16)]] = Field([], max_length=MAX_UNITS,
                                                             description='units whose activations to return: "L:K" or "L:K:c"')


class NeuronsRequest(_Request):
    model: str | None = Field(None, max_length=MAX_MODEL_NAME, description="a model of /api/models (default: the first)")
    text: str | None = Field(None, min_length=1, max_length=MAX_INSPECT,
                             description="the text to read (default: the start of the run's validation text)")
    top: Int = Field(10, ge=1, le=MAX_NEURONS, description="how many units")


class CompletionRequest(BaseModel):
    """OpenAI's /v1/completions. Tokens are characters."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)
    model: str = Field(max_length=MAX_MODEL_NAME)
    prompt: Prompt | Annotated[list[Prompt], Field(min_length=1, max_length=1)] = Field(
        "", description="one prompt (a string, or a list of one string)")
    max_tokens: Integer[0, MAX_LENGTH] | None = Field(16, description="characters to write")
    temperature: float | None = Field(DEFAULT.temperature, ge=0, le=MAX_TEMPERATURE)
    top_p: float | None = Field(DEFAULT.top_p, gt=0, le=1)
    n: Integer[1, MAX_NUM] | None = Field(1)
    stop: Stops = None
    seed: Integer[0, MAX_SEED] | None = Field(None)
    stream: bool | None = False
    echo: bool | None = False
    logprobs: Int | None = Field(None, description="not supported: must be null")
    best_of: Int | None = Field(None, description="not supported: must be null or 1")

    def options(self) -> SamplingOptions:
        """The decoding options asked for; a null is the default, as OpenAI's API reads it."""
        given = {"temperature": self.temperature, "top_p": self.top_p}
        return SamplingOptions(**{k: v for k, v in given.items() if v is not None})


class TrainRequest(_Request):
    """A training job: a text or a named dataset (one of them: 400 otherwise), and what to train on it;
    the others are `charrnn train`'s flags of the same names."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                      description="the new model's name and its run folder's: 1-64 of A-Z a-z 0-9 _ -")
    text: str | None = Field(None, min_length=MIN_TRAIN_TEXT, description=f"the text to learn: at least "
                             f"{MIN_TRAIN_TEXT:,} characters, at most --max-upload bytes in all")
    dataset: Literal[tuple(dataset_names())] | None = Field(None, description="a named dataset instead of a text")
    preset: Literal[tuple(PRESETS)] | None = Field(None, description="settings measured for a time budget")
    max_time: float | None = Field(None, gt=0, le=MAX_TRAIN_SECONDS, description="seconds of training, at most "
                                   "--max-train-time (default: the preset's, else --max-train-time)")
    max_steps: Integer[1, 10_000_000] | None = Field(None, description="a budget of steps instead: the same "
                                                     "run every time; the server still stops it at --max-train-time")
    mode: Literal["auto", "stream", "lines"] = "auto"
    cell: Literal["lstm", "gru", "rnn"] | None = None
    hidden: Integer[8, 2048] | None = None
    layers: Integer[1, 8] | None = None


# --- responses (for the OpenAPI page; the handlers return plain dicts in these shapes) -----------------

class ModelInfo(BaseModel):
    name: str
    cell: str
    layers: int
    hidden: int
    embed: int
    vocab_size: int
    mode: str
    parameters: int
    steps: int
    best_val: float | None
    writes: dict[str, bool]


class GeneratedSample(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]


class GenerateResponse(BaseModel):
    model: str
    seed: int
    samples: list[GeneratedSample]
    warnings: list[str]


class Poem(BaseModel):
    text: str
    lines: list[str]


class PoemResponse(BaseModel):
    model: str
    seed: int
    poems: list[Poem]


class Violation(BaseModel):
    line: int
    position: int
    char: str
    wanted: str
    found: str


class CheckedPoem(BaseModel):
    poem: str
    ok: bool
    violations: list[Violation]


class PoemCheckResponse(BaseModel):
    poems: list[CheckedPoem]


class NamesResponse(BaseModel):
    model: str
    seed: int
    names: list[str]
    summary: str
    warnings: list[str]


class InspectResponse(BaseModel):
    model: str
    characters: list[str]
    surprisal: list[float | None]
    entropy: list[float | None]
    top: list[list[list[str | float]]] = Field(description="per character: [guess, probability] pairs")
    unknown: list[int]
    mean_surprisal: float | None
    vocab_size: int
    activations: dict[str, list[float]]


class Finding(BaseModel):
    unit: str
    feature: str
    r: float


class NeuronsResponse(BaseModel):
    model: str
    characters: int
    units: list[Finding]
    per_feature: list[Finding]


class MetricsResponse(BaseModel):
    model: str
    records: list[dict]


class ErrorResponse(BaseModel):
    error: str


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorResponse(BaseModel):
    """/v1's errors, in the shape the openai client reads."""

    error: OpenAIError


class TrainStatus(BaseModel):
    name: str
    state: Literal["queued", "running", "done", "stopped", "failed"]
    step: int
    elapsed: float
    max_time: float = Field(description="seconds: the job's budget, or the server's cap of a step budget")
    best_val: float | None
    last_sample: str | None
    error: str | None


class DatasetInfo(BaseModel):
    name: str
    mode: Literal["stream", "lines"]
    description: str
