"""Export: ONNX against onnxruntime, the web page in Chromium, and the refusals."""

from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import charrnn
from charrnn import checkpoint
from charrnn.commands.main import main
from charrnn.export.folder import export_onnx, export_web
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import Vocabulary

ort = pytest.importorskip("onnxruntime")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request on stderr
        pass
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "export"


def write_run(folder: Path, model: CharRNN, vocab: Vocabulary, mode: str = "stream") -> Path:
    checkpoint.write_run_config(folder, checkpoint.RunInfo(model.config, {}, mode), vocab)
    checkpoint.save_tensors(folder / checkpoint.BEST, model.state_dict())
    return folder


def onnx_logits(folder: Path, ids: np.ndarray, cuts: list[int], cell: str, layers: int, hidden: int) -> np.ndarray:
    """Logits from onnxruntime over `ids` (B, T), called on uneven pieces with the state carried."""
    session = ort.InferenceSession(str(folder / "model.onnx"))
    state = {name: np.zeros((layers, ids.shape[0], hidden), np.float32) for name in (("h", "c") if cell == "lstm"
                                                                                       else ("h",))}
    pieces = []
    for a, b in zip([0, *cuts], [*cuts, ids.shape[1]]):
        logits, *new = session.run(None, {"ids": ids[:, a:b], **state})
        state = dict(zip(state, new))
        pieces.append(logits)
    return np.concatenate(pieces, axis=1)


CONFIGS = [(cell, layers, embed, output) for cell in ("rnn", "lstm", "gru")
           for layers, embed, output in ((1, 0, "full"), (2, 8, "full"), (3, 8, "tied"))]


@pytest.mark.parametrize("cell, layers, embed, output", CONFIGS)
def test_onnx_equals_charrnn_over_500_characters(tmp_path, cell, layers, embed, output):
    torch.manual_seed(layers)
    vocab = Vocabulary.from_text("abcdefghij klmnop\n,.;")
    model = CharRNN(ModelConfig(cell=cell, layers=layers, hidden=16, embed=embed, output=output)
                    .resolved(len(vocab))).eval()
    out = export_onnx(write_run(tmp_path / "run", model, vocab), tmp_path / "onnx")
    assert {p.name for p in out.iterdir()} == {"model.onnx", "vocab.json", "config.json", "README.md"}
    ids = np.random.default_rng(0).integers(0, len(vocab), (2, 500))
    with torch.no_grad():
        expected, _ = model(torch.from_numpy(ids))
    got = onnx_logits(out, ids, [1, 38, 39, 300], cell, layers, 16)
    assert np.abs(got - expected.numpy()).max() < 1e-4


def test_a_numpy_engine_run_exports(tmp_path, shakespeare_file):
    run = charrnn.train(str(shakespeare_file), out=str(tmp_path / "run"), engine="numpy", cell="gru", layers=1,
                        hidden=8, embed=0, max_steps=2, batch_size=2, seq_len=16, lr=0.1, eval_every=2,
                        sample_chars=0).run_dir
    model = charrnn.load(run, device="cpu")
    ids = model.vocab.encode("ROMEO: and JULIET").astype(np.int64)[None]
    with torch.no_grad():
        expected, _ = model.network.model(torch.from_numpy(ids))
    got = onnx_logits(export_onnx(run), ids, [5], "gru", 1, 8)
    assert np.abs(got - expected.numpy()).max() < 1e-4


def test_the_onnx_readme_example_writes_text(tiny_run, tmp_path):
    out = export_onnx(tiny_run, tmp_path / "onnx")
    example = re.search(r"```python\n(.*?)```", (out / "README.md").read_text(), re.S)[1]
    result = subprocess.run([sys.executable, "-c", example], cwd=out, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) > 150  # a prime of a newline and 200 written characters


@pytest.mark.parametrize("args, message", [
    (["export", "NOT_A_RUN", "--format", "onnx"], "no such run folder"),
    (["export", "RUN", "--format", "tflite"], "--format 'tflite': choose onnx or web"),
    (["export", "RUN", "--format", "onnx", "-o", "FULL"], "not empty"),
    (["export", "RUN", "--format", "web", "--poems", "-o", "NEW"], "has no ， and 。"),
    (["export", "RUN", "--format", "web", "-o", "/nonexistent/site"], "does not exist"),
])
def test_refusals_are_one_line_and_leave_nothing(tiny_run, tmp_path, capsys, args, message):
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep me")
    names = {"RUN": str(tiny_run), "NOT_A_RUN": str(tmp_path / "nope"), "FULL": str(full), "NEW": str(tmp_path / "new")}
    code = main([names.get(a, a) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err
    assert (full / "mine.txt").read_text() == "keep me" and not (tmp_path / "new").exists()


def test_force_replaces_an_earlier_export_and_nothing_else(tiny_run, tmp_path, capsys):
    site = tmp_path / "site"
    assert main(["export", str(tiny_run), "--format", "web", "-o", str(site)]) == 0
    (site / "old.txt").write_text("old")
    assert main(["export", str(tiny_run), "--format", "web", "-o", str(site), "--force"]) == 0
    assert not (site / "old.txt").exists() and (site / "index.html").exists()
    assert "MB" in capsys.readouterr().out
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    for out, message in ((notes, "replaces an earlier export only"), (tiny_run, "holds the run itself"),
                         (tiny_run.parent, "holds the run itself")):
        assert main(["export", str(tiny_run), "--format", "onnx", "-o", str(out), "--force"]) == 2
        assert message in capsys.readouterr().err
    assert (notes / "mine.txt").read_text() == "keep me" and (tiny_run / "config.json").exists()


# --- the web page in a real browser -----------------------------------------------------------------------

def open_export(browser, folder: Path):
    """The folder behind a local static server; every request elsewhere is aborted and recorded."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{httpd.server_address[1]}/"
    page, elsewhere, problems = browser.new_page(), [], []
    page.on("pageerror", lambda e: problems.append(str(e)))

    def route(r):
        if r.request.url.startswith(origin):
            return r.continue_()
        elsewhere.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(origin)
    page.wait_for_function("window.charrnn && window.charrnn.ready", timeout=30_000)
    return page, httpd, elsewhere, problems


def test_the_web_export_writes_poems_in_the_browser(browser, poems_run, tmp_path):
    from charrnn.writers.poem_form import is_line_char

    model = charrnn.load(poems_run, device="cpu")
    heads = "".join([c for c in model.vocab.chars if is_line_char(c)][20:24])
    page, httpd, elsewhere, problems = open_export(browser, export_web(poems_run, tmp_path / "web"))
    try:
        for seed in range(5):
            poem = page.evaluate(f"charrnn.poem({{form: 'wujue', acrostic: {json.dumps(heads)}, seed: {seed}}})")
            lines = re.findall("[^，。]+[，。]", poem)
            assert "".join(lines) == poem and [line[0] for line in lines] == list(heads)
            assert [len(line) for line in lines] == [6] * 4 and [line[-1] for line in lines] == list("，。，。")
        names = page.evaluate("charrnn.names({num: 3, seed: 1})")
        assert len(names) == 3 and all(names)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.fill("#poem-form input[name=acrostic]", heads)
        page.click("#poem-form button")
        page.wait_for_function("document.querySelector('#out').textContent.length > 20")
        page.screenshot(path=ARTIFACTS / "web-poem.png", full_page=True)
        assert not elsewhere and not problems, (elsewhere, problems)
    finally:
        httpd.shutdown()


def test_the_web_export_writes_and_computes_charrnns_logits(browser, tiny_run, shakespeare_text, tmp_path):
    model = charrnn.load(tiny_run, device="cpu")
    page, httpd, elsewhere, problems = open_export(browser, export_web(tiny_run, tmp_path / "web"))
    try:
        text = shakespeare_text[:200]
        got = np.array(page.evaluate(f"charrnn.forward({json.dumps(text)})"))
        with torch.no_grad():
            expected, _ = model.network.model(torch.from_numpy(model.vocab.encode(text).astype(np.int64))[None])
        assert got.shape == (200, len(model.vocab)) and np.abs(got - expected[0].numpy()).max() < 1e-3
        written = page.evaluate("charrnn.generate({prime: 'ROMEO:', length: 120, temperature: 0.8, seed: 4})")
        again = page.evaluate("charrnn.generate({prime: 'ROMEO:', length: 120, temperature: 0.8, seed: 4})")
        assert len(written) == 120 and written == again  # a seed writes the same text
        assert set(written) <= set(model.vocab.chars)
        page.click("#text-form button")
        page.wait_for_function("document.querySelector('#out').textContent.length > 100")
        assert page.is_hidden("#poem-form") and page.is_hidden("#names-form")  # a stream run: text only
        assert not elsewhere and not problems, (elsewhere, problems)
    finally:
        httpd.shutdown()
