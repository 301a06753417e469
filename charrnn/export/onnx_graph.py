"""A CharRNN as an ONNX graph, written node by node with onnx.helper (no tracing), so every cell,
depth, input and output kind maps onto ONNX's own recurrent operators:

    ids (B, T) int64 -> Transpose (T, B) -> Gather(embedding) or OneHot -> x (T, B, I)
    layer k:  LSTM | GRU | RNN (ONNX op, time-major)  initial state: h[k:k+1] (and c[k:k+1])
              -> Y (T, 1, B, H) -> Squeeze -> the next layer's x;  Y_h (and Y_c) -> h_out[k] (c_out[k])
    top x -> Transpose (B, T, H) -> MatMul + Add (full)  or  MatMul(project) * scale -> MatMul(emb^T) + bias
          -> logits (B, T, V)

The state is explicit, as in charrnn: pass h_out (and c_out) back as h (and c) to carry on.

Gate orders differ between the two: PyTorch keeps an LSTM's rows as [i, f, g, o] and a GRU's as
[r, z, n]; ONNX wants [i, o, f, c] and [z, r, h]. The rows are reordered here, and the GRU is built
with linear_before_reset=1, PyTorch's formula (r multiplies W_hn h + b_hn).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from charrnn.model import CharRNN

OPSET = 17
ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _gate_order(cell: str, H: int) -> np.ndarray:
    """The PyTorch rows, in the order ONNX wants them."""
    blocks = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}[cell]  # ONNX [i,o,f,c] / [z,r,h] / [h]
    return np.concatenate([np.arange(b * H, (b + 1) * H) for b in blocks])


class _Graph:
    """Nodes and initializers collected while the graph is written."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attributes) -> list[str]:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=f"{op}_{len(self.nodes)}", **attributes))
        return outputs


def _weights(model: CharRNN) -> dict[str, np.ndarray]:
    return {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}


def _layer(g: _Graph, w: dict[str, np.ndarray], cell: str, k: int, x: str, H: int) -> tuple[str, list[str]]:
    """One recurrent layer: (its output sequence (T, B, H), [its final h, c] as (1, B, H))."""
    order = _gate_order(cell, H)
    W = g.constant(f"W{k}", w[f"rnn.weight_ih_l{k}"][order][None])  # (1, G*H, I)
    R = g.constant(f"R{k}", w[f"rnn.weight_hh_l{k}"][order][None])  # (1, G*H, H)
    B = g.constant(f"B{k}", np.concatenate([w[f"rnn.bias_ih_l{k}"][order], w[f"rnn.bias_hh_l{k}"][order]])[None])
    starts, ends, axes = (g.constant(f"start{k}", np.array([k])), g.constant(f"end{k}", np.array([k + 1])),
                          g.constant(f"axis{k}", np.array([0])))
    h0 = g.node("Slice", ["h", starts, ends, axes], [f"h0_{k}"])[0]  # (1, B, H)
    inputs, outputs = [x, W, R, B, "", h0], [f"Y{k}", f"Yh{k}"]
    if cell == "lstm":
        inputs.append(g.node("Slice", ["c", starts, ends, axes], [f"c0_{k}"])[0])
        outputs.append(f"Yc{k}")
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    g.node(ONNX_OP[cell], inputs, outputs, hidden_size=H, **extra)
    y = g.node("Squeeze", [f"Y{k}", g.constant(f"dir_axis{k}", np.array([1]))], [f"x{k + 1}"])[0]  # (T, B, H)
    return y, outputs[1:]


def _readout(g: _Graph, w: dict[str, np.ndarray], model: CharRNN, top: str) -> None:
    out = g.node("Transpose", [top], ["top_bth"], perm=[1, 0, 2])[0]  # (B, T, H)
    if model.head is None:  # tied: project to E, scale, score against the embedding
        projected = g.node("MatMul", [out, g.constant("project_T", w["project.weight"].T)], ["projected"])[0]
        scale = g.constant("output_scale", np.array(model.output_scale, dtype=np.float32))
        scaled = g.node("Mul", [projected, scale], ["scaled"])[0]
        scores = g.node("MatMul", [scaled, g.constant("embedding_T", w["embedding.weight"].T)], ["scores"])[0]
        g.node("Add", [scores, g.constant("output_bias", w["output_bias"])], ["logits"])
    else:
        scores = g.node("MatMul", [out, g.constant("head_T", w["head.weight"].T)], ["scores"])[0]
        g.node("Add", [scores, g.constant("head_bias", w["head.bias"])], ["logits"])


def to_onnx(model: CharRNN) -> onnx.ModelProto:
    """The model (eval mode: no dropout) as an ONNX ModelProto that onnx.checker accepts."""
    cfg, w, g = model.config, _weights(model), _Graph()
    ids = g.node("Transpose", ["ids"], ["ids_tb"], perm=[1, 0])[0]  # (T, B)
    if model.embedding is not None:
        x = g.node("Gather", [g.constant("embedding", w["embedding.weight"]), ids], ["x0"])[0]
    else:
        one_hot = g.constant("one_hot_values", np.array([0.0, 1.0], dtype=np.float32))
        depth = g.constant("vocab_size", np.array(cfg.vocab_size, dtype=np.int64))
        x = g.node("OneHot", [ids, depth, one_hot], ["x0"], axis=-1)[0]
    finals = []
    for k in range(cfg.layers):
        x, last = _layer(g, w, cfg.cell, k, x, cfg.hidden)
        finals.append(last)
    g.node("Concat", [f[0] for f in finals], ["h_out"], axis=0)
    if cfg.cell == "lstm":
        g.node("Concat", [f[1] for f in finals], ["c_out"], axis=0)
    _readout(g, w, model, x)
    state = ["layers", "batch", "hidden"]
    dims = {"layers": cfg.layers, "hidden": cfg.hidden}
    shape = [dims.get(d, d) for d in state]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"]),
              helper.make_tensor_value_info("h", TensorProto.FLOAT, shape)]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "time", cfg.vocab_size]),
               helper.make_tensor_value_info("h_out", TensorProto.FLOAT, shape)]
    if cfg.cell == "lstm":
        inputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, shape))
        outputs.append(helper.make_tensor_value_info("c_out", TensorProto.FLOAT, shape))
    graph = helper.make_graph(g.nodes, "charrnn", inputs, outputs, g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="charrnn")
    onnx.checker.check_model(onnx_model)
    return onnx_model
