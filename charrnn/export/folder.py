"""The export folders, written from a run folder and nothing else (no network, no npm, no CDN).

    charrnn export RUN --format onnx        RUN/export-onnx/
        model.onnx      the network: ids, h (and c) in; logits, h_out (and c_out) out (onnx_graph.py)
        vocab.json      the run's, as it is: ids 0-2 are <unk> <bos> <eos>, then the characters
        config.json     the run's, as it is
        README.md       the inputs and outputs, and a Python example with onnxruntime that samples text

    charrnn export RUN --format web         RUN/export-web/
        index.html, page.js, style.css      the page: write from a prime; poems; names
        charrnn.js      the model in JavaScript: a forward pass over the weights, sampling, poem forms
        model.json      the model's shape, the vocabulary, where each tensor lies in weights.bin
        weights.bin     every weight, float32 little-endian

A folder is written only when it does not exist or is empty (or with --force), and only after the
run has been read and checked, so a refused export leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from charrnn import checkpoint
from charrnn.errors import CharRNNError
from charrnn.files import write_atomic
from charrnn.generation.network import Network
from charrnn.trained import load

FORMATS = ("onnx", "web")
STATIC = Path(__file__).parent / "static"
WEB_FILES = ("index.html", "page.js", "style.css", "charrnn.js")
POEM_MARKS = ("，", "。")

ONNX_README = """# {name}: a charrnn model as ONNX

Exported by `charrnn export {run} --format onnx`: a {layers}x{hidden} {cell} over {vocab} tokens
({mode} mode), opset {opset}.

| input | type | shape |
|---|---|---|
| `ids` | int64 | (batch, time): token ids, see below |
| `h` | float32 | ({layers}, batch, {hidden}): the state; zeros to start |
{c_in}
| output | type | shape |
|---|---|---|
| `logits` | float32 | (batch, time, {vocab}): the next character's scores after each input id |
| `h_out` | float32 | ({layers}, batch, {hidden}): pass it back as `h` to carry on |
{c_out}
Ids: `vocab.json` lists the characters; character `chars[i]` has id `i + 3`. Ids 0, 1 and 2 are
`<unk>` (any character not in the list), `<bos>` (a lines-mode run starts each sample with it) and
`<eos>` (a lines-mode run ends a sample with it). A stream-mode run starts from a newline.

```python
import json, numpy as np, onnxruntime as ort
chars = json.load(open("vocab.json"))["chars"]
ids_of = {{c: i + 3 for i, c in enumerate(chars)}}
session = ort.InferenceSession("model.onnx")
state = {{name: np.zeros(({layers}, 1, {hidden}), np.float32) for name in {state_names}}}
rng, text = np.random.default_rng(0), "{prime}"
x = np.array([{start}[ids_of.get(c, 0) for c in text]], dtype=np.int64)
for _ in range(200):
    logits, *new = session.run(None, {{"ids": x, **state}})
    state = dict(zip(state, new))
    p = np.exp(logits[0, -1] / 0.8 - (logits[0, -1] / 0.8).max())
    p[:{banned}] = 0  # never write <unk> or <bos>{eos_note}
    i = rng.choice(len(p), p=p / p.sum())
    if i == 2:  # <eos>: the end of a line-mode sample
        break
    text += chars[i - 3]
    x = np.array([[i]], dtype=np.int64)
print(text)
```
"""


EXPORT_MARKS = ("model.onnx", "charrnn.js")  # one of them is in every folder an export writes


def check_out(out: Path, force: bool, run: Path) -> None:
    """Refuse a folder that holds anything, unless `force` and it holds an earlier export (then it is
    replaced); never the run itself or a folder around it."""
    if out.exists() and not out.is_dir():
        raise CharRNNError(f"-o {out}: exists and is not a folder")
    if run.resolve().is_relative_to(out.resolve()):
        raise CharRNNError(f"-o {out}: that folder holds the run itself; export into a folder of its own")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise CharRNNError(f"-o {out}: the folder is not empty; choose another or pass --force to replace it")
        if not any((out / mark).is_file() for mark in EXPORT_MARKS):
            raise CharRNNError(f"-o {out}: --force replaces an earlier export only, and this folder holds something "
                               f"else: choose another folder")
    if not out.parent.is_dir():
        raise CharRNNError(f"-o {out}: the folder {out.parent} does not exist")


def _fresh(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()


def export_onnx(run: str | Path, out: str | Path | None = None, force: bool = False, which: str = "best") -> Path:
    from charrnn.export.onnx_graph import OPSET, to_onnx

    run = Path(run)
    network = load(run, device="cpu", which=which).network
    out = Path(out) if out is not None else run / "export-onnx"
    check_out(out, force, run)
    proto = to_onnx(network.model)
    cfg, lstm, mode = network.model.config, network.model.config.cell == "lstm", network.mode
    readme = ONNX_README.format(
        name=run.resolve().name, run=run, layers=cfg.layers, hidden=cfg.hidden, cell=cfg.cell, vocab=cfg.vocab_size,
        mode=mode, opset=OPSET, state_names=["h", "c"] if lstm else ["h"],
        c_in=f"| `c` | float32 | ({cfg.layers}, batch, {cfg.hidden}): an LSTM's cell state |\n" if lstm else "",
        c_out=f"| `c_out` | float32 | ({cfg.layers}, batch, {cfg.hidden}): pass it back as `c` |\n" if lstm else "",
        prime="" if mode == "lines" else "\\n", start="[1] + " if mode == "lines" else "",
        banned=2 if mode == "lines" else 3, eos_note="" if mode == "lines" else " (nor <eos>: a stream has none)")
    _fresh(out)
    write_atomic(out / "model.onnx", proto.SerializeToString())
    for name in (checkpoint.VOCAB, checkpoint.CONFIG):
        shutil.copyfile(run / name, out / name)
    write_atomic(out / "README.md", readme.encode())
    return out


def web_model(network: Network, poems: bool) -> tuple[dict, bytes]:
    """(model.json, weights.bin): the shape, the vocabulary and each tensor's place in the weights."""
    net, tensors, parts, offset = network.model, {}, [], 0
    for name, value in net.state_dict().items():
        array = value.detach().float().cpu().numpy().astype("<f4")
        tensors[name] = {"offset": offset, "shape": list(array.shape)}
        parts.append(array.tobytes())
        offset += array.size
    cfg = net.config
    meta = {"format": 1, "cell": cfg.cell, "layers": cfg.layers, "hidden": cfg.hidden, "embed": cfg.embed,
            "vocab_size": cfg.vocab_size, "output": cfg.output, "mode": network.mode, "chars": network.vocab.chars,
            "output_scale": getattr(net, "output_scale", 1.0), "poems": poems, "tensors": tensors}
    return meta, b"".join(parts)


def export_web(run: str | Path, out: str | Path | None = None, force: bool = False, which: str = "best",
               poems: bool | None = None) -> Path:
    """The static page. `poems`: offer the poem form (None: when the vocabulary has ， and 。)."""
    run = Path(run)
    network = load(run, device="cpu", which=which).network
    out = Path(out) if out is not None else run / "export-web"
    has_marks = all(m in network.vocab for m in POEM_MARKS)
    if poems and not has_marks:
        raise CharRNNError(f"--poems: {run}'s vocabulary has no ， and 。, so it cannot write regular poems "
                           f"(train on poems, e.g. --dataset tang-poems)")
    check_out(out, force, run)
    meta, weights = web_model(network, has_marks if poems is None else poems)
    _fresh(out)
    for name in WEB_FILES:
        shutil.copyfile(STATIC / name, out / name)
    write_atomic(out / "weights.bin", weights)
    write_atomic(out / "model.json", json.dumps(meta, ensure_ascii=False).encode())
    return out


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())

