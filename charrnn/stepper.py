"""Writing one character at a time, fast: the model's weights laid out again for single steps.

A call of the fused nn.LSTM for one time step pays for set-up work meant for long sequences
(about 1 ms on a CPU, more than the arithmetic of a 2x512 model). Stepper does the same
arithmetic with a few matrix products per layer on weights prepared once:

  - layer 0's input term W_ih x + b for every character is a table (V, gates*H), computed once,
    so feeding a character is a row lookup instead of an embedding and a matrix product;
  - layers above take [x, h] @ [W_ih W_hh]^T + b as one product (LSTM, RNN); the GRU keeps its
    hidden term apart because its reset gate multiplies it;
  - everything runs under inference_mode, with no autograd or module hooks.

`step(ids (B,), state) -> (logits (B, V), state)` computes exactly what `model(ids[:, None], state)`
computes (a test checks it), with the same state layout: (h, c) for an LSTM, (h,) otherwise.

Wide batches (many samples at once) on CPUs with native bf16 take another path: one fused cell
call per layer (torch.lstm_cell / gru_cell / rnn_tanh_cell, the kernels behind nn.LSTMCell) on a
bf16 copy of the weights, about 2.5x faster there than fp32 products; the state stays fp32
between steps. For a single stream fp32 is faster (measured), so it keeps the path above.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from charrnn.common import cpu_has_native_bf16
from charrnn.model import CharRNN, State

TABLE_LIMIT_BYTES = 256 << 20  # above this, layer 0's input term is computed per step instead
BF16_MIN_BATCH = 16  # below this, matrix-vector products are faster in fp32 (measured)
CELL_FUNCTIONS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}


class Stepper:
    def __init__(self, model: CharRNN) -> None:
        cfg = model.config
        self.cell, self.layers, self.hidden = cfg.cell, cfg.layers, cfg.hidden
        rnn = model.rnn
        with torch.inference_mode():
            w = {name: p.detach().float() for name, p in rnn.named_parameters()}
            gates = w["weight_ih_l0"].shape[0]
            self.embedding = model.embedding.weight.detach().float() if model.embedding is not None else None
            self.input_weight0 = w["weight_ih_l0"]  # (G*H, E or V)
            self.input_bias0 = w["bias_ih_l0"] + (0 if cfg.cell == "gru" else w["bias_hh_l0"])
            self.table = None
            if cfg.vocab_size * gates * 4 <= TABLE_LIMIT_BYTES:
                inputs = self.embedding if self.embedding is not None else torch.eye(cfg.vocab_size)
                self.table = torch.addmm(self.input_bias0, inputs, self.input_weight0.t())  # (V, G*H)
            self.hidden_weights, self.hidden_biases, self.fused, self.fused_biases = [], [], [], []
            for k in range(cfg.layers):
                w_hh_t = w[f"weight_hh_l{k}"].t().contiguous()  # (H, G*H)
                self.hidden_weights.append(w_hh_t)
                self.hidden_biases.append(w[f"bias_hh_l{k}"])
                if k > 0:
                    w_ih_t = w[f"weight_ih_l{k}"].t()
                    if cfg.cell == "gru":
                        self.fused.append(w_ih_t.contiguous())
                        self.fused_biases.append(w[f"bias_ih_l{k}"])
                    else:
                        self.fused.append(torch.cat([w_ih_t, w_hh_t], dim=0).contiguous())  # (2H, G*H)
                        self.fused_biases.append(w[f"bias_ih_l{k}"] + w[f"bias_hh_l{k}"])
            self.head_weight = model.head.weight.detach().float().t().contiguous()  # (H, V)
            self.head_bias = model.head.bias.detach().float()
            device = model.head.weight.device
            self.wide = None  # the bf16 copy for wide batches
            if device.type == "cpu" and cpu_has_native_bf16():
                self.wide = {"layers": [tuple(w[f"{n}_l{k}"].bfloat16() for n in ("weight_ih", "weight_hh", "bias_ih",
                                                                                  "bias_hh")) for k in range(cfg.layers)],
                             "embedding": self.embedding.bfloat16() if self.embedding is not None else None,
                             "head": (self.head_weight.bfloat16(), self.head_bias.bfloat16())}

    def _input0(self, ids: torch.Tensor) -> torch.Tensor:
        if self.table is not None:
            return self.table[ids]  # (B, G*H)
        x = self.embedding[ids] if self.embedding is not None else F.one_hot(ids, self.input_weight0.shape[1]).float()
        return torch.addmm(self.input_bias0, x, self.input_weight0.t())

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One character per stream: ids (B,) -> logits (B, V) and the new state."""
        if self.wide is not None and ids.shape[0] >= BF16_MIN_BATCH:
            return self._wide_step(ids, state)
        H = self.hidden
        hs, cs = list(state[0].unbind(0)), list(state[1].unbind(0)) if self.cell == "lstm" else None
        x = None
        for k in range(self.layers):
            h = hs[k]
            if self.cell == "gru":
                gi = self._input0(ids) if k == 0 else torch.addmm(self.fused_biases[k - 1], x, self.fused[k - 1])
                gh = torch.addmm(self.hidden_biases[k], h, self.hidden_weights[k])
                r = torch.sigmoid(gi[:, :H] + gh[:, :H])
                z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                h = n + z * (h - n)  # (1 - z) * n + z * h
            else:
                if k == 0:
                    g = torch.addmm(self._input0(ids), h, self.hidden_weights[0])
                else:
                    g = torch.addmm(self.fused_biases[k - 1], torch.cat([x, h], dim=1), self.fused[k - 1])
                if self.cell == "lstm":
                    i, f, gg, o = _lstm_gates(g, H)
                    c = f * cs[k] + i * gg
                    h = o * torch.tanh(c)
                    cs[k] = c
                else:
                    h = torch.tanh(g)
            hs[k] = h
            x = h
        logits = torch.addmm(self.head_bias, x, self.head_weight)  # (B, V)
        new_state = (torch.stack(hs), torch.stack(cs)) if self.cell == "lstm" else (torch.stack(hs),)
        return logits, new_state


    def _wide_step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        p, bf16 = self.wide, torch.bfloat16
        x = p["embedding"][ids] if p["embedding"] is not None else F.one_hot(ids, self.head_bias.shape[0]).to(bf16)
        cell, hs, cs = CELL_FUNCTIONS[self.cell], [], []
        for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(p["layers"]):
            if self.cell == "lstm":
                h, c = cell(x, (state[0][k].to(bf16), state[1][k].to(bf16)), w_ih, w_hh, b_ih, b_hh)
                cs.append(c)
            else:
                h = cell(x, state[0][k].to(bf16), w_ih, w_hh, b_ih, b_hh)
            hs.append(h)
            x = h
        logits = torch.addmm(p["head"][1], x, p["head"][0]).float()  # (B, V)
        h = torch.stack(hs).float()
        return logits, ((h, torch.stack(cs).float()) if self.cell == "lstm" else (h,))


def _lstm_gates(g: torch.Tensor, H: int) -> tuple[torch.Tensor, ...]:
    """[i, f, g, o] pre-activations (B, 4H) -> sigmoid, sigmoid, tanh, sigmoid."""
    i, f, gg, o = g.split(H, dim=1)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(gg), torch.sigmoid(o)
