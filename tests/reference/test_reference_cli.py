"""`python -m charrnn.reference` and the promise that the engine needs numpy only."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import charrnn.reference.__main__ as reference_main

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "charrnn"
TEXT = "hello world, hello numpy. the quick brown fox. " * 4


def run_module(*args):
    return subprocess.run(
        [sys.executable, "-m", "charrnn.reference", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_engine_imports_without_torch():
    """charrnn/__init__.py imports torch, so stand in an empty `charrnn` package for it."""
    modules = ["", ".convert", ".train", ".sampling", ".optim", ".__main__"]
    code = "\n".join(
        [
            "import sys, types",
            "package = types.ModuleType('charrnn')",
            f"package.__path__ = [{str(PACKAGE)!r}]",
            "sys.modules['charrnn'] = package",
            *[f"import charrnn.reference{m}" for m in modules],
            "assert 'torch' not in sys.modules, 'torch was imported'",
            "print('ok')",
        ]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_minimal_loop_prints_samples_and_the_smoothed_loss(tmp_path, capsys):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    args = [str(path), "--hidden", "8", "--seq-len", "10", "--iters", "201", "--sample-len", "30"]
    assert reference_main.main(args) == 0
    text = capsys.readouterr().out
    out = text.splitlines()
    assert out[0] == f"data has {len(TEXT)} characters, {len(set(TEXT))} unique."
    assert [line.split(",")[0] for line in out if line.startswith("iter ")] == ["iter 0", "iter 100", "iter 200"]
    samples = re.findall(r"----\n (.*) \n----\niter \d+, loss: \d+\.\d+\n", text)  # min-char-rnn's layout
    assert len(samples) == 3 and all(len(s) == 30 and set(s) <= set(TEXT) for s in samples)
    assert out[-1].startswith("done: 201 iterations, loss: ")


@pytest.mark.parametrize("content, reason", [(None, "no such file"), ("", "empty"), ("x", "too short")])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, content, reason):
    path = tmp_path / "input.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert reference_main.main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and reason in captured.err


def test_ctrl_c_stops_cleanly(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    monkeypatch.setattr(reference_main, "minimal_loop", interrupted)
    assert reference_main.main([str(path)]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_python_dash_m_end_to_end(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = run_module(str(path), "--hidden", "8", "--iters", "101", "--cell", "gru")
    assert result.returncode == 0, result.stderr
    assert "iter 100, loss: " in result.stdout and "----" in result.stdout

    missing = run_module(str(tmp_path / "missing.txt"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
