"""What the model thinks at each character of a text: the one computation every view uses (the
terminal, the HTML page, the web app's Inside tab and the neuron finder).

For each character of the text, after the model has read everything before it:

    surprisal   -ln p(character): how unexpected it was (nats); its mean is `charrnn eval --exact`
    entropy     -sum p ln p of that prediction: how unsure the model was before seeing it
    top         the prediction's k likeliest characters with their probabilities
    activations every hidden unit after reading the character: h of each layer, and c for an LSTM

The conventions are eval's: stream mode reads the text as one carried-state stream and cannot score
its first character; lines mode reads every line from <bos> and scores its end (the newline, <eos>),
whose activations are those after <bos>, where the model stands when the next line begins.

The text is read by the fused recurrent kernel, one layer at a time (the fused multi-layer call
returns only the top layer's h), in chunks with the state carried. An LSTM's c at every step is
not returned by the kernel either: its gates are recomputed for the whole chunk at once from the
layer's input and its h one step earlier, and c_t = f_t c_(t-1) + i_t g_t is the only loop.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from charrnn.data.batches import line_spans, pad_lines
from charrnn.data.corpus import encode_text, normalised_text
from charrnn.errors import CharRNNError
from charrnn.generation.network import Network
from charrnn.model import CELLS, CharRNN
from charrnn.vocab import EOS, SPECIALS, UNK, Vocabulary

CHUNK = 2048  # characters read per forward call (stream mode): bounds the logits held at once
LINES_BATCH = 256


@dataclass(frozen=True)
class Unit:
    """One hidden unit: `layer` (from 0), `index` (from 0), `part` h or c (an LSTM's cell state)."""

    layer: int
    index: int
    part: str = "h"

    def __str__(self) -> str:
        return f"{self.layer}:{self.index}" + (":c" if self.part == "c" else "")

    @classmethod
    def parse(cls, text: str) -> Unit:
        """"L:K" (h of unit K in layer L) or "L:K:c" (its cell state), as the CLI and API write them."""
        match = re.fullmatch(r"\s*(\d+):(\d+)(?::([hc]))?\s*", text)
        if not match:
            raise CharRNNError(f"unit {text!r}: write LAYER:INDEX, or LAYER:INDEX:c for an LSTM's cell state "
                               f"(e.g. 1:42 or 0:7:c)")
        return cls(int(match[1]), int(match[2]), match[3] or "h")

    def check(self, config) -> None:
        if self.layer >= config.layers:
            raise CharRNNError(f"unit {self}: the model has {config.layers} layer(s), numbered from 0")
        if self.index >= config.hidden:
            raise CharRNNError(f"unit {self}: a layer has {config.hidden} units, numbered from 0")
        if self.part == "c" and config.cell != "lstm":
            raise CharRNNError(f"unit {self}: only an LSTM has a cell state c; this model is a {config.cell}")


def all_units(config) -> list[Unit]:
    parts = ("h", "c") if config.cell == "lstm" else ("h",)
    return [Unit(k, i, p) for k in range(config.layers) for p in parts for i in range(config.hidden)]


@dataclass
class Inspection:
    characters: list[str]  # the text as the model read it (CRLF as LF; lines mode: its non-empty lines)
    surprisal: np.ndarray  # (T,) nats; nan where not scored
    entropy: np.ndarray  # (T,) nats; nan where not scored
    top: list[list[tuple[str, float]]]  # per character: the prediction's top guesses ([] where not scored)
    unknown: np.ndarray  # (T,) bool: not in the vocabulary, read as <unk>
    vocab_size: int  # the entropy of a uniform guess is ln(vocab_size)
    states: dict[str, np.ndarray] = field(default_factory=dict)  # "h0", "c0", "h1", ...: (T, H), when kept whole
    units: dict[Unit, np.ndarray] = field(default_factory=dict)  # single units asked for: (T,)

    @property
    def mean_surprisal(self) -> float | None:
        """The mean over the scored characters: `charrnn eval --exact`'s loss on the same text."""
        scored = self.surprisal[~np.isnan(self.surprisal)]
        return float(scored.mean()) if len(scored) else None

    def activation(self, unit: Unit) -> np.ndarray:
        """(T,) the unit's value after reading each character."""
        if unit in self.units:
            return self.units[unit]
        key = f"{unit.part}{unit.layer}"
        if key not in self.states:
            raise CharRNNError(f"unit {unit}: its activations were not kept; inspect with units=[...] naming it")
        return self.states[key][:, unit.index]

    def to_dict(self, units: Sequence[Unit] = ()) -> dict:
        """The JSON form (`charrnn inspect --json`, POST /api/inspect); activations only of `units`."""
        def nulls(values: np.ndarray) -> list[float | None]:
            return [None if math.isnan(v) else round(v, 5) for v in values.tolist()]

        return {"characters": self.characters, "surprisal": nulls(self.surprisal), "entropy": nulls(self.entropy),
                "top": [[[c, round(p, 5)] for c, p in guesses] for guesses in self.top],
                "unknown": [i for i, u in enumerate(self.unknown.tolist()) if u],
                "mean_surprisal": self.mean_surprisal, "vocab_size": self.vocab_size,
                "activations": {str(u): [round(v, 5) for v in self.activation(u).tolist()] for u in units}}


def token_text(vocab: Vocabulary, mode: str, i: int) -> str:
    """How a guess is shown: its character; <eos> is the newline in lines mode."""
    if i >= len(SPECIALS):
        return vocab.chars[i - len(SPECIALS)]
    return "\n" if (i == EOS and mode == "lines") else SPECIALS[i]


class _Layers:
    """The model's recurrent stack as one single-layer fused module per layer (same weights)."""

    def __init__(self, model: CharRNN) -> None:
        cfg, rnn = model.config, model.rnn
        self.cell, self.hidden, self.modules = cfg.cell, cfg.hidden, []
        with torch.no_grad():
            for k in range(cfg.layers):
                layer = CELLS[cfg.cell](rnn.input_size if k == 0 else cfg.hidden, cfg.hidden, 1, batch_first=True)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(layer, f"{name}_l0").copy_(getattr(rnn, f"{name}_l{k}"))
                self.modules.append(layer.to(model.device).eval())

    def run(self, x: torch.Tensor, state: list | None, wanted_c: set[int]):
        """x (B, T, I) -> (top output (B, T, H), [h per layer], {layer: c (B, T, H)}, new state)."""
        hs, cs, new_state = [], {}, []
        for k, layer in enumerate(self.modules):
            start = state[k] if state is not None else None
            out, last = layer(x, start)  # out (B, T, H)
            if k in wanted_c:
                cs[k] = self._cell_states(layer, x, out, start)
            hs.append(out)
            new_state.append(last)
            x = out
        return x, hs, cs, new_state

    def _cell_states(self, layer: nn.LSTM, x: torch.Tensor, h: torch.Tensor, start) -> torch.Tensor:
        """An LSTM layer's c at every step (B, T, H), from its input and its h one step earlier."""
        H, B = self.hidden, x.shape[0]
        h0, c0 = start if start is not None else (x.new_zeros(1, B, H), x.new_zeros(1, B, H))
        h_prev = torch.cat([h0[0].unsqueeze(1), h[:, :-1]], dim=1)  # (B, T, H)
        gates = (x @ layer.weight_ih_l0.T + layer.bias_ih_l0 + h_prev @ layer.weight_hh_l0.T
                 + layer.bias_hh_l0)  # (B, T, 4H), torch's order [i, f, g, o]
        forget = torch.sigmoid(gates[..., H:2 * H])
        written = torch.sigmoid(gates[..., :H]) * torch.tanh(gates[..., 2 * H:3 * H])
        cs, c = torch.empty_like(forget), c0[0]
        for t in range(x.shape[1]):
            c = torch.addcmul(written[:, t], forget[:, t], c)
            cs[:, t] = c
        return cs


def _keep_plan(model: CharRNN, keep) -> tuple[set[int], list[Unit] | None]:
    """(layers whose c is needed, the single units to keep or None for every state whole)."""
    if keep == "all":
        return (set(range(model.config.layers)) if model.config.cell == "lstm" else set()), None
    units = list(keep or ())
    for unit in units:
        unit.check(model.config)
    return {u.layer for u in units if u.part == "c"}, units


class _Collector:
    """Fills the per-character arrays from the chunks the model reads."""

    def __init__(self, vocab: Vocabulary, mode: str, n: int, top_k: int, units: list[Unit] | None, config) -> None:
        self.vocab, self.mode, self.top_k, self.units = vocab, mode, top_k, units
        self.surprisal, self.entropy = np.full(n, np.nan), np.full(n, np.nan)
        self.top: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        if units is None:
            parts = ("h", "c") if config.cell == "lstm" else ("h",)
            self.states = {f"{p}{k}": np.zeros((n, config.hidden), np.float32)
                           for k in range(config.layers) for p in parts}
        else:
            self.states = {}
        self.unit_values = {u: np.zeros(n, np.float32) for u in (units or [])}

    def predictions(self, positions: np.ndarray, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """The predictions `logits` (N, V) that scored the characters at `positions` (N,)."""
        logp = torch.log_softmax(logits.float(), dim=-1)
        self.surprisal[positions] = (-logp.gather(1, targets.view(-1, 1))).squeeze(1).double().cpu().numpy()
        self.entropy[positions] = (-(logp.exp() * logp).sum(-1)).double().cpu().numpy()
        values, ids = torch.topk(logp, min(self.top_k, logp.shape[-1]), dim=-1)
        for pos, row_p, row_i in zip(positions.tolist(), values.exp().tolist(), ids.tolist()):
            self.top[pos] = [(token_text(self.vocab, self.mode, i), p) for i, p in zip(row_i, row_p)]

    def activations(self, positions: np.ndarray, hs: list[torch.Tensor], cs: dict[int, torch.Tensor]) -> None:
        """The states (N, H) of each layer after reading the characters at `positions` (N,)."""
        for k, h in enumerate(hs):
            if self.units is None:
                self.states[f"h{k}"][positions] = h.cpu().numpy()
                if k in cs:
                    self.states[f"c{k}"][positions] = cs[k].cpu().numpy()
        for unit in self.unit_values:
            source = hs[unit.layer] if unit.part == "h" else cs[unit.layer]
            self.unit_values[unit][positions] = source[:, unit.index].cpu().numpy()


@torch.inference_mode()
def inspect_text(network: Network, text: str, top_k: int = 5, keep: str | Sequence[Unit] | None = "all") -> Inspection:
    """The inspection of `text`. keep: "all" every unit's activations; a list of Units only those;
    None or [] none (long texts: the predictions alone take little memory)."""
    model, vocab, mode = network.model, network.vocab, network.mode
    if top_k < 1:
        raise CharRNNError(f"--top-k must be >= 1 (got {top_k})")
    text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in normalised_text(text, mode))
    if not text:  # (a lone surrogate is no character: shown as U+FFFD, read as <unk>)
        raise CharRNNError("the text to inspect is empty" + (" (lines mode reads its non-empty lines)"
                                                             if mode == "lines" else ""))
    ids, _ = encode_text(text, vocab, mode)
    was_training = model.training
    model.eval()
    try:
        wanted_c, units = _keep_plan(model, keep)
        found = _Collector(vocab, mode, len(ids), top_k, units, model.config)
        read = _read_stream if mode == "stream" else _read_lines
        read(model, _Layers(model), np.asarray(ids, dtype=np.int64), found, wanted_c)
    finally:
        model.train(was_training)
    return Inspection(list(text), found.surprisal, found.entropy, found.top, np.asarray(ids == UNK), len(vocab),
                      found.states, found.unit_values)


def _read_stream(model: CharRNN, layers: _Layers, ids: np.ndarray, found: _Collector, wanted_c: set[int]) -> None:
    """One carried-state stream: the logits after character t score character t + 1."""
    state, device = None, model.device
    for a in range(0, len(ids), CHUNK):
        chunk = torch.from_numpy(ids[a: a + CHUNK]).to(device).view(1, -1)  # (1, n)
        top, hs, cs, state = layers.run(model.embed(chunk), state, wanted_c)
        logits = model.readout(top)[0]  # (n, V)
        n, scored = chunk.shape[1], min(chunk.shape[1], len(ids) - a - 1)  # the text's last logits score nothing
        if scored > 0:
            targets = torch.from_numpy(ids[a + 1: a + 1 + scored]).to(device)
            found.predictions(np.arange(a + 1, a + 1 + scored), logits[:scored], targets)
        found.activations(np.arange(a, a + n), [h[0] for h in hs], {k: c[0] for k, c in cs.items()})


def _read_lines(model: CharRNN, layers: _Layers, ids: np.ndarray, found: _Collector, wanted_c: set[int]) -> None:
    """Every line from <bos>, a batch of lines at a time (padded as in training):

        input   <bos> c1 c2 ... cn        the logits after each input score  c1 c2 ... cn <eos>
        states  after c1 ... after cn, and after <bos> for the line's end (where the next line starts)
    """
    spans = line_spans(ids)
    for i in range(0, len(spans), LINES_BATCH):
        batch = spans[i: i + LINES_BATCH]
        x, y = pad_lines(ids, batch, int((batch[:, 1] - batch[:, 0]).max()))  # (B, L)
        x, y = x.to(model.device), y.to(model.device)
        top, hs, cs, _ = layers.run(model.embed(x), None, wanted_c)
        logits = model.readout(top)  # (B, L, V)
        for row, (start, end) in enumerate(batch.tolist()):
            n = end - start
            positions = np.arange(start, end)
            found.predictions(positions, logits[row, :n], y[row, :n])
            after = torch.cat([torch.arange(1, n), torch.tensor([0])]).to(model.device)  # after c_j; <eos>: <bos>
            found.activations(positions, [h[row, after] for h in hs], {k: c[row, after] for k, c in cs.items()})
