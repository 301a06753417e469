"""Writing one character at a time, fast: the model's weights laid out again for single steps.

A call of the fused nn.LSTM for one time step pays for set-up work meant for long sequences
(about 1 ms on a CPU, more than the arithmetic of a 2x512 model). Stepper does the same
arithmetic with one matrix product per layer (two for a GRU) on weights prepared once:

  - layer 0's input term W_ih x + b for every character is a table (V, gates*H), computed once,
    so feeding a character is a row lookup instead of an embedding and a matrix product;
  - layers above take [x, h] @ [W_ih W_hh]^T + b as one product (LSTM, RNN); the GRU keeps its
    hidden term apart because its reset gate multiplies it;
  - an LSTM's gate rows are reordered to [i, f, o, g], so one sigmoid covers three gates;
  - everything runs under inference_mode, with no autograd or module hooks.

Writing one character reads every weight once, so a single stream is bound by memory traffic:
12 MB of fp32 for a 2x512 LSTM. On CPUs with native bf16 the products therefore run on bf16
weights packed once for oneDNN (`torch.ops.mkldnn._linear_pointwise`, the kernel torch.compile
uses for frozen CPU graphs): half the bytes, about 1.8x faster per 4 MB product than fp32 there,
for one stream and for many. Products under BF16_MIN_WEIGHTS stay fp32 (a packed call has a fixed
cost that outweighs the bytes saved). Only the products are bf16; the state and the gate
arithmetic stay fp32, so the rounding does not build up along the text. Elsewhere (and with
`bf16=False`) every product is fp32 and `step` computes exactly what `model(ids[:, None], state)`
computes (a test checks it). A tied output (charrnn.model) is two products: the projection,
then the embedding.

`step(ids (B,), state) -> (logits (B, V), state)` keeps the model's state layout: (h, c) for an
LSTM, (h,) otherwise.
"""

from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F

from charrnn.device import cpu_has_native_bf16
from charrnn.model import CharRNN, State

TABLE_LIMIT_BYTES = 256 << 20  # above this, layer 0's input term is computed per step instead
# Below this many weights a packed bf16 product is slower than fp32 at batch 1 (a fixed cost of
# about 20 us per call; measured crossover between 1 and 2 MB of fp32 weights), so it stays fp32.
BF16_MIN_WEIGHTS = 1 << 19


class Product:
    """x @ W^T + b for a fixed W: fp32 on a transposed copy, or bf16 on a oneDNN-packed copy
    (when `bf16` allows it and W is large enough to gain from it). A batch of more than BATCH_ROWS
    rows (the server's) goes through W as stored, (out, in), a copy made on first use: on 2 AVX2
    cores MKL's product of 32 rows with a 2x512 LSTM's weights is 1.2x faster that way, while one
    row is as fast either way (benchmarks/README.md, "The server's batch")."""

    BATCH_ROWS = 2

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, bf16: bool) -> None:
        self.bf16 = bf16 and weight.numel() >= BF16_MIN_WEIGHTS
        self.rows_weight: torch.Tensor | None = None  # (out, in), for batches
        if self.bf16:
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight.bfloat16(), 1)
            self.bias = bias.bfloat16() if bias is not None else None
        else:
            self.weight, self.bias = weight.t().contiguous(), bias

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, in) -> (B, out) fp32; `bias` (out,) replaces the stored one (a table row at batch 1)."""
        bias = self.bias if bias is None else bias
        if self.bf16:
            bias = bias.bfloat16() if bias is not None else None
            return torch.ops.mkldnn._linear_pointwise(x.bfloat16(), self.weight, bias, "none", [], "").float()
        if x.shape[0] > self.BATCH_ROWS:
            if self.rows_weight is None:
                self.rows_weight = self.weight.t().contiguous()
            return F.linear(x, self.rows_weight, bias)
        return torch.mm(x, self.weight) if bias is None else torch.addmm(bias, x, self.weight)


@cache  # asked each time a Stepper is built: at every eval of a training run
def packed_bf16_works() -> bool:
    """True on CPUs with native bf16 where this torch build has oneDNN's packed linear."""
    if not cpu_has_native_bf16():
        return False
    try:
        weight = torch.ops.mkldnn._reorder_linear_weight(torch.ones(2, 2, dtype=torch.bfloat16), 1)
        torch.ops.mkldnn._linear_pointwise(torch.ones(1, 2, dtype=torch.bfloat16), weight, None, "none", [], "")
        return True
    except (AttributeError, RuntimeError):
        return False


class Stepper:
    def __init__(self, model: CharRNN, bf16: bool | None = None) -> None:
        """bf16: None picks bf16 products on CPUs with native bf16, fp32 elsewhere."""
        cfg = model.config
        self.cell, self.layers, self.hidden, self.vocab_size = cfg.cell, cfg.layers, cfg.hidden, cfg.vocab_size
        on_cpu = model.device.type == "cpu"
        self.bf16 = bool(bf16 if bf16 is not None else on_cpu and packed_bf16_works())
        if self.bf16 and not on_cpu:
            raise ValueError("bf16 products are a CPU path; on a GPU use fp32 (bf16=False)")
        H = cfg.hidden
        # LSTM rows [i, f, g, o] -> [i, f, o, g]: one sigmoid over the first 3H, a tanh over the last H
        order = torch.cat([torch.arange(2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]) \
            if cfg.cell == "lstm" else slice(None)
        with torch.inference_mode():
            w = {name: p.detach().float()[order] for name, p in model.rnn.named_parameters()}
            self.embedding = model.embedding.weight.detach().float() if model.embedding is not None else None
            self.input0 = Product(w["weight_ih_l0"], w["bias_ih_l0"] + (0 if cfg.cell == "gru" else w["bias_hh_l0"]),
                                  bf16=False)
            self.table = None
            if cfg.vocab_size * w["weight_ih_l0"].shape[0] * 4 <= TABLE_LIMIT_BYTES:
                inputs = self.embedding if self.embedding is not None else torch.eye(cfg.vocab_size)
                self.table = self.input0(inputs)  # (V, G*H)
            # per layer: the product that takes h (layer 0: h alone; above: [x, h], or h alone for a GRU)
            # and, for a GRU above layer 0, the input product apart
            self.recurrent, self.inputs = [], []
            for k in range(cfg.layers):
                w_hh, b_hh = w[f"weight_hh_l{k}"], w[f"bias_hh_l{k}"]
                if k == 0 or cfg.cell == "gru":
                    self.recurrent.append(Product(w_hh, b_hh if cfg.cell == "gru" else None, self.bf16))
                    if k > 0:
                        self.inputs.append(Product(w[f"weight_ih_l{k}"], w[f"bias_ih_l{k}"], self.bf16))
                else:
                    self.recurrent.append(Product(torch.cat([w[f"weight_ih_l{k}"], w_hh], dim=1),
                                                  w[f"bias_ih_l{k}"] + b_hh, self.bf16))
            self.project = None  # a tied output: h -> E first, then scored against the embedding
            if model.head is None:
                self.project = Product(model.project.weight.detach().float() * model.output_scale, None, self.bf16)
                self.head = Product(self.embedding, model.output_bias.detach().float(), self.bf16)
            else:
                self.head = Product(model.head.weight.detach().float(), model.head.bias.detach().float(), self.bf16)
            self.bf16_layers = any(p.bf16 for p in self.recurrent)  # decoding reads primes in bf16 then
            # at batch 1 a table row is the bias of layer 0's product, in the product's dtype
            self.table_rows = self.table.bfloat16() if self.recurrent[0].bf16 and self.table is not None else self.table

    def _input0(self, ids: torch.Tensor) -> torch.Tensor:
        """Layer 0's input term W_ih x + b (B, G*H)."""
        if self.table is not None:
            return self.table[ids]
        x = self.embedding[ids] if self.embedding is not None else F.one_hot(ids, self.vocab_size).float()
        return self.input0(x)

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One character per stream: ids (B,) -> logits (B, V) and the new state."""
        H = self.hidden
        hs, cs = list(state[0].unbind(0)), list(state[1].unbind(0)) if self.cell == "lstm" else None
        x = None
        for k in range(self.layers):
            h = hs[k]
            if self.cell == "gru":
                gi = self._input0(ids) if k == 0 else self.inputs[k - 1](x)
                gh = self.recurrent[k](h)
                rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
                n = torch.tanh(torch.addcmul(gi[:, 2 * H:], rz[:, :H], gh[:, 2 * H:]))
                h = n + rz[:, H:] * (h - n)  # (1 - z) * n + z * h
            else:
                if k == 0 and ids.shape[0] == 1 and self.table is not None:
                    g = self.recurrent[0](h, bias=self.table_rows[ids[0]])  # the table row is the bias
                elif k == 0:
                    g = self.recurrent[0](h) + self._input0(ids)
                else:
                    g = self.recurrent[k](torch.cat([x, h], dim=1))
                if self.cell == "lstm":
                    gates = torch.sigmoid(g[:, :3 * H])  # i, f, o
                    c = torch.addcmul(gates[:, H:2 * H] * cs[k], gates[:, :H], torch.tanh(g[:, 3 * H:]))
                    h = gates[:, 2 * H:] * torch.tanh(c)
                    cs[k] = c
                else:
                    h = torch.tanh(g)
            hs[k] = h
            x = h
        logits = self.head(x if self.project is None else self.project(x))  # (B, V)
        new_state = (torch.stack(hs), torch.stack(cs)) if self.cell == "lstm" else (torch.stack(hs),)
        return logits, new_state
