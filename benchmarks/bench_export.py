"""Export: the time to write each format, the folder's size, and how fast the exported model writes.

    CHARRNN_DATA=../shared/corpora python benchmarks/bench_export.py [--chars 1000]

A 2x512 LSTM (the default model; random weights: the arithmetic is a trained one's) with
tinyshakespeare's vocabulary. Writing speed, one character at a time as a user waits for it:
the web export in headless Chromium (Debian's, driven by Playwright; the page's own
`charrnn.generate`), the ONNX export in onnxruntime (one call per character, the state carried),
and charrnn itself (`TrainedModel.generate`) as the baseline.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from charrnn import checkpoint
from charrnn.data.downloads import dataset_files
from charrnn.export.folder import export_onnx, export_web, folder_size
from charrnn.model import CharRNN, ModelConfig
from charrnn.trained import load
from charrnn.vocab import Vocabulary

CHROMIUM = "/usr/bin/chromium"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request on stderr
        pass


def make_run(folder: Path) -> Path:
    torch.manual_seed(0)
    vocab = Vocabulary.from_text(dataset_files("tinyshakespeare")[0].read_text(encoding="utf-8"))
    model = CharRNN(ModelConfig().resolved(len(vocab))).eval()
    checkpoint.write_run_config(folder, checkpoint.RunInfo(model.config, {}, "stream"), vocab)
    checkpoint.save_tensors(folder / checkpoint.BEST, model.state_dict())
    return folder


def browser_chars_per_s(folder: Path, chars: int) -> float:
    from playwright.sync_api import sync_playwright

    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
            page.wait_for_function("window.charrnn && window.charrnn.ready", timeout=60_000)
            page.evaluate("charrnn.generate({prime: 'ROMEO:', length: 50, seed: 1})")  # warm the JIT
            seconds = page.evaluate(f"(async () => {{ const t = performance.now(); "
                                    f"await charrnn.generate({{prime: 'ROMEO:', length: {chars}, temperature: 1, seed: 2}}); "
                                    f"return (performance.now() - t) / 1000; }})()")
            browser.close()
    finally:
        httpd.shutdown()
    return chars / seconds


def onnx_chars_per_s(folder: Path, chars: int) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "model.onnx"))
    state = {name: np.zeros((2, 1, 512), np.float32) for name in ("h", "c")}
    x = np.array([[5]], dtype=np.int64)
    start = time.perf_counter()
    for _ in range(chars):
        logits, h, c = session.run(None, {"ids": x, **state})
        state = {"h": h, "c": c}
        x = np.array([[int(logits[0, -1].argmax())]], dtype=np.int64)
    return chars / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=1000, help="characters written per speed row (default: 1000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp) / "run")
        rows = []
        for name, export in (("web", export_web), ("onnx", export_onnx)):
            start = time.perf_counter()
            out = export(run, Path(tmp) / name)
            rows.append((name, time.perf_counter() - start, folder_size(out)))
        model = load(run, device="cpu")
        start = time.perf_counter()
        model.generate("ROMEO:", length=args.chars, seed=1)
        base = args.chars / (time.perf_counter() - start)
        speeds = {"web": browser_chars_per_s(Path(tmp) / "web", args.chars),
                  "onnx": onnx_chars_per_s(Path(tmp) / "onnx", args.chars)}
    print(f"### Export, 2x512 LSTM, {torch.get_num_threads()} threads\n")
    print("| format | export s | folder MB | writes chars/s | vs charrnn |\n|---|---:|---:|---:|---:|")
    for name, seconds, size in rows:
        where = "headless Chromium" if name == "web" else "onnxruntime, a call per character"
        print(f"| {name} ({where}) | {seconds:.1f} | {size / 1e6:.1f} | {speeds[name]:,.0f} | "
              f"{speeds[name] / base:.2f}x |")
    print(f"| charrnn `generate` (baseline) | - | - | {base:,.0f} | 1.00x |")


if __name__ == "__main__":
    main()
