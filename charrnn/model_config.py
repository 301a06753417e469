"""ModelConfig: the model's hyperparameters, saved in the run folder's config.json.

Apart from the network (charrnn.model) and free of torch, so that the CLI can build its flags and
`charrnn --help` answer without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from charrnn.errors import CharRNNError

CELLS = ("rnn", "lstm", "gru")
DROPOUTS = ("dropout", "weight_drop", "input_dropout", "embed_dropout")  # all off at eval time
# Added after the first runs were saved: a config.json without them was trained without them.
LATER_FIELDS = {"weight_drop": 0.0, "input_dropout": 0.0, "embed_dropout": 0.0}


@dataclass
class ModelConfig:
    """The model's hyperparameters; saved in the run folder's config.json."""

    vocab_size: int = field(default=0, metadata={"cli": False})
    cell: str = field(default="lstm", metadata={"help": "recurrent cell", "choices": CELLS})
    layers: int = field(default=2, metadata={"help": "stacked recurrent layers"})
    hidden: int = field(default=512, metadata={"help": "hidden units per layer"})
    embed: int = field(default=-1, metadata={
        "help": "input embedding size; 0 = one-hot input (as char-rnn); -1 = 64, or 256 above 256 characters"})
    dropout: float = field(default=0.2, metadata={"help": "dropout between layers and before the output"})
    weight_drop: float = field(default=0.2, metadata={
        "help": "DropConnect on the recurrent (hidden-to-hidden) weights: one mask per batch, the same "
                "dropped connections at every time step (AWD-LSTM)"})
    input_dropout: float = field(default=0.1, metadata={
        "help": "variational dropout on the recurrent stack's input: one mask per sequence, the same at every "
                "time step"})
    embed_dropout: float = field(default=0.0, metadata={
        "help": "drop whole characters from the input embedding (the same characters everywhere in a step)"})
    output: str = field(default="auto", metadata={
        "help": "output layer: full (H x V weights), or tied (a projection to the embedding, scored "
                "against the embedding's own weights); auto = tied above 256 characters, else full",
        "choices": ("auto", "full", "tied")})

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise CharRNNError(f"--cell {self.cell!r}: choose one of {', '.join(CELLS)}")
        for name in ("layers", "hidden"):
            if getattr(self, name) <= 0:
                raise CharRNNError(f"--{name} must be > 0 (got {getattr(self, name)})")
        if self.embed < -1:
            raise CharRNNError(f"--embed must be >= 0, or -1 for automatic (got {self.embed})")
        for name in DROPOUTS:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise CharRNNError(f"--{name.replace('_', '-')} must be in [0, 1) (got {getattr(self, name)})")
        if self.embed_dropout and self.embed == 0:
            raise CharRNNError("--embed-dropout drops rows of the input embedding: give --embed > 0 (not one-hot)")
        if self.output not in ("auto", "full", "tied"):
            raise CharRNNError(f"--output {self.output!r}: choose auto, full or tied")
        if self.output == "tied" and self.embed == 0:
            raise CharRNNError("--output tied scores against the input embedding: give --embed > 0 (not one-hot)")

    def resolved(self, vocab_size: int) -> ModelConfig:
        """This config for a vocabulary of `vocab_size`, with the automatic embedding size decided."""
        embed = self.embed
        if embed == -1:
            # A learned embedding gets the stack past the early plateau at the unigram loss several
            # times sooner than one-hot input (whose input weights start tiny); measured on tinyshakespeare.
            embed = 64 if vocab_size <= 256 else 256
        output = self.output
        if output == "auto":  # measured on tang-poems (benchmarks/README.md, large vocabularies)
            output = "tied" if vocab_size > 256 and embed > 0 else "full"
        return ModelConfig(**{**asdict(self), "vocab_size": vocab_size, "embed": embed, "output": output})
