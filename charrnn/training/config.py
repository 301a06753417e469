"""TrainConfig: every training flag, its default and its help, in one place.

The CLI's `charrnn train` flags, the Python API's `charrnn.train(**kwargs)` and the "train"
section of a run's config.json are all this dataclass. The model's own flags (--cell, --layers,
--hidden, --embed, --dropout, --output) are `charrnn.model_config.ModelConfig`. No torch here: the
CLI builds its flags from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from charrnn.errors import CharRNNError
from charrnn.flags import DEVICES, DTYPES, field_names
from charrnn.model_config import ModelConfig

# Changing any of these would make a resumed run a different run (another corpus, other batches).
FIXED_ON_RESUME = ("preset", "inputs", "dataset", "glob", "mode", "encoding", "max_vocab", "val_frac",
                   "seq_len", "batch_size", "seed", "init_from")
# Added after the first runs were saved: a run whose config.json lacks them was trained without them.
LATER_FIELDS = {"regularise_after": 0.0}
DEFAULT_MAX_STEPS = 2000
STREAM_SEQ_LEN = 128  # --seq-len 0 in stream mode
# --eval-every 0: every EVAL_EVERY steps, or every pass over the training data when a pass is shorter than
# half of that, so that evals are never more than two passes apart. A name list is a pass every 7-69 steps
# and memorises within a few passes: evals 250 steps apart missed its best weights (jinyong-names: 6.63
# nats at the first eval, step 250; 5.22 with evals every 25 steps). Tinyshakespeare's pass is 245 steps.
EVAL_EVERY = 250

# Settings chosen by measurement for the time a user has (benchmarks/README.md has the runs).
# A preset fills in the flags the user did not give; explicit flags always win.
PRESETS: dict[str, dict] = {
    # 2 CPU cores, about two minutes: a smaller, faster model with shorter BPTT makes many more
    # updates in the time, which beats a bigger model that only gets a few hundred steps.
    # Lighter dropout than the defaults' (a smaller model has less to memorise with), from the fourth
    # pass on: 115 s on this 2-core host is about four passes over tinyshakespeare, where the later the
    # regularisers start the better (three seeds: 1.4534-1.4574 from the third pass, 1.4449-1.4516 from
    # the fourth, 1.4476-1.4554 again; lr 5e-3 and 8e-3 did worse than 6e-3). At 4,500 steps (115 s on a
    # host twice as fast) they are what keeps it from memorising: 1.4331, against 1.4883 unregularised
    # (benchmarks/README.md).
    "cpu-2min": {"hidden": 256, "layers": 2, "seq_len": 64, "lr": 6e-3, "max_time": 115, "eval_every": 500,
                 "dropout": 0.1, "input_dropout": 0.05, "regularise_after": 3.0},
    # 2 CPU cores, ten minutes: the defaults, which are regularised so that a faster machine or a
    # longer budget does not memorise (benchmarks/README.md, "Quality for time").
    "cpu-10min": {"max_time": 600},
    # One GPU: a wider, deeper model, large batches, bf16 (auto on CUDA); not yet measured here.
    "gpu": {"hidden": 1024, "layers": 3, "dropout": 0.2, "seq_len": 256, "batch_size": 128, "lr": 2e-3,
            "max_time": 60, "eval_every": 200},
}


@dataclass
class TrainConfig:
    preset: str | None = field(default=None, metadata={
        "help": "settings measured for a time budget: cpu-2min, cpu-10min, gpu (your flags win)",
        "choices": tuple(PRESETS), "metavar": "NAME"})
    # --- data ---
    inputs: list[str] = field(default_factory=list, metadata={"cli": False})
    dataset: str | None = field(default=None, metadata={
        "help": "a named dataset instead of files (tinyshakespeare, tang-poems, sonnets, dinosaurs, wuxia-names, "
                "...: `charrnn datasets` lists them)", "metavar": "NAME"})
    glob: str = field(default="*", metadata={"help": "which files to read from folders (recursive)"})
    mode: str = field(default="auto", metadata={
        "help": "stream: continuous text; lines: one sample per line; auto: the dataset's mode, else stream",
        "choices": ("auto", "stream", "lines")})
    encoding: str = field(default="utf-8", metadata={"help": "text encoding of the input files"})
    max_vocab: int = field(default=0, metadata={
        "help": "keep only the N most frequent characters, the rest become <unk> (0 = keep all)", "metavar": "N"})
    val_frac: float = field(default=0.1, metadata={
        "help": "fraction held out for validation: the end of the text, or random lines"})
    # --- optimisation ---
    seq_len: int = field(default=0, metadata={
        "help": f"characters per step of truncated backprop; lines mode: the longest sample kept whole "
                f"(0 = auto: the preset's, else {STREAM_SEQ_LEN}; in lines mode the longest line, so none is cut)"})
    batch_size: int = field(default=32, metadata={"help": "parallel streams (lines mode: samples) per step"})
    # 5e-3 rather than 3e-3: with the regularisers off for the first pass, tinyshakespeare's val at
    # 750 steps fell from 1.4763 to 1.4587, and tang-poems (about one pass in ten minutes) reached
    # 5.0250 against 5.1100 (benchmarks/README.md, "Quality for time").
    lr: float = field(default=5e-3, metadata={
        "help": "peak learning rate (AdamW; Adagrad with --engine numpy, where 0.1 is min-char-rnn's)"})
    min_lr: float = field(default=0.1, metadata={"help": "final learning rate as a fraction of --lr (cosine)"})
    schedule: str = field(default="cosine", metadata={
        "help": "learning-rate schedule after warmup", "choices": ("cosine", "constant")})
    warmup: int = field(default=20, metadata={"help": "steps of linear learning-rate warmup"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (decoupled, scaled by the learning rate)"})
    regularise_after: float = field(default=1.0, metadata={
        "help": "passes over the training text before the regularisers (the dropouts, weight decay) start; "
                "they reach full strength one pass later (0 = from the first step). A run that has not yet "
                "seen its text twice has nothing to memorise and learns faster without them",
        "metavar": "EPOCHS"})
    grad_clip: float = field(default=1.0, metadata={
        "help": "clip the global gradient norm (0 = off); --engine numpy clips each element, as min-char-rnn"})
    max_steps: int = field(default=0, metadata={
        "help": f"stop after this many steps (0 = no step limit; {DEFAULT_MAX_STEPS} when --max-time is not given)"})
    max_time: float = field(default=0.0, metadata={
        "help": "stop after this many seconds of training (0 = no time limit)", "metavar": "SECONDS"})
    engine: str = field(default="torch", metadata={
        "help": "torch (fast; cuDNN on GPU) or numpy (the reference engine, for learning and small models)",
        "choices": ("torch", "numpy")})
    # --- evaluation, checkpoints, output ---
    eval_every: int = field(default=0, metadata={
        "help": f"evaluate and save every N steps (0 = every {EVAL_EVERY}, or every pass over the training data "
                f"when a pass is under {EVAL_EVERY // 2} steps)", "metavar": "N"})
    eval_chars: int = field(default=32_768, metadata={
        "help": "evals during training score a fixed subset of about N characters of a larger validation "
                "split, the same each time; the end of the run scores all of it (0 = always all)",
        "metavar": "N"})
    patience: int = field(default=5, metadata={
        "help": "stop early when the val loss has not improved for N evals in a row (0 = never)", "metavar": "N"})
    save_every: int = field(default=0, metadata={
        "help": "also save a checkpoint every N steps (0 = only at evals)"})
    log_every: int = field(default=50, metadata={"help": "print a progress line every N steps when not on a terminal"})
    sample_chars: int = field(default=200, metadata={"help": "length of the sample printed at each eval (0 = none)"})
    seed: int = field(default=1337, metadata={"help": "random seed: the same seed and flags give the same run"})
    device: str = field(default="auto", metadata={"help": "cuda > mps > cpu when auto", "choices": DEVICES})
    dtype: str = field(default="auto", metadata={
        "help": "training precision; auto = bf16 autocast on CUDA and on CPUs with native bf16, else fp32",
        "choices": DTYPES})
    out: str | None = field(default=None, metadata={
        "help": "the run folder to create (default: runs/<dataset or first file name>)", "metavar": "RUN"})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out where it stopped"})
    init_from: str | None = field(default=None, metadata={
        "help": "start from this run's weights and vocabulary (fine-tuning)", "metavar": "RUN"})

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise CharRNNError(f"--batch-size must be > 0 (got {self.batch_size})")
        not_negative = ("seq_len", "max_vocab", "warmup", "weight_decay", "grad_clip", "max_steps", "max_time",
                        "eval_every", "save_every", "sample_chars", "eval_chars", "patience", "regularise_after")
        for name in not_negative:
            if getattr(self, name) < 0:
                raise CharRNNError(f"--{name.replace('_', '-')} must be >= 0 (got {getattr(self, name)})")
        if self.max_vocab == 1:
            raise CharRNNError("--max-vocab must keep at least 2 characters")
        if self.log_every <= 0:
            raise CharRNNError(f"--log-every must be > 0 (got {self.log_every})")
        if not self.lr > 0:
            raise CharRNNError(f"--lr must be > 0 (got {self.lr})")
        if not 0 <= self.min_lr <= 1:
            raise CharRNNError(f"--min-lr is a fraction of --lr and must be in [0, 1] (got {self.min_lr})")
        if not 0 <= self.val_frac < 0.9:
            raise CharRNNError(f"--val-frac must be in [0, 0.9) (got {self.val_frac})")
        if self.resume and self.init_from:
            raise CharRNNError("--resume continues a run and --init-from starts a new one: use one of them")
        if self.resume and not self.out:
            raise CharRNNError("--resume needs --out RUN: the run folder to continue")
        if self.dataset and self.inputs:
            raise CharRNNError("give input files or --dataset, not both")

    @property
    def step_limit(self) -> int:
        """max_steps, or the default step budget when no budget was given at all."""
        if self.max_steps == 0 and self.max_time == 0:
            return DEFAULT_MAX_STEPS
        return self.max_steps


def apply_preset(train_given: dict, model_given: dict, fine_tuning: bool = False) -> tuple[dict, dict]:
    """The flags with --preset's settings filled in where the user gave none, but for --seq-len: a
    preset's is for stream mode, so it is resolved once the corpus is read (preset_seq_len). A
    fine-tuned run keeps its base's model, so it takes only the preset's training settings."""
    name = train_given.get("preset")
    if not name:
        return train_given, model_given
    if name not in PRESETS:
        raise CharRNNError(f"--preset {name!r}: choose one of {', '.join(PRESETS)}")
    model_fields = field_names(ModelConfig)
    train_given, model_given = dict(train_given), dict(model_given)
    for key, value in PRESETS[name].items():
        if key == "seq_len" or (fine_tuning and key in model_fields):
            continue
        target = model_given if key in model_fields else train_given
        target.setdefault(key, value)
    return train_given, model_given


def preset_seq_len(preset: str | None) -> int:
    """--seq-len 0 in stream mode: the preset's, else STREAM_SEQ_LEN."""
    return PRESETS.get(preset or "", {}).get("seq_len", STREAM_SEQ_LEN)
