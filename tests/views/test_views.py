"""The views: training curves, the terminal and HTML inspections, and their commands."""

import json
import re
import shutil

import pytest

import charrnn
from charrnn import checkpoint
from charrnn.commands.main import main
from charrnn.errors import CharRNNError
from charrnn.views.curves import plot, read_curve
from charrnn.views.terminal import render_plain, render_tty


@pytest.fixture
def two_runs(tmp_path, tiny_run, tiny_lines_run):
    """Copies (plot writes into the first run folder by default)."""
    runs = [tmp_path / "shakespeare", tmp_path / "dinos"]
    for source, copy in zip((tiny_run, tiny_lines_run), runs):
        shutil.copytree(source, copy)
    return runs


def test_plot_writes_png_and_svg_with_one_line_per_run(two_runs, tmp_path):
    png = plot(two_runs, tmp_path / "curves.png", x="seconds", lr=True, speed=True)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000
    svg = plot(two_runs, tmp_path / "curves.svg", x="chars").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for run in two_runs:  # each run is a val line with its legend entry
        assert svg.count(f"{run.name} (val)") == 1
    assert plot(two_runs[:1]) == two_runs[0] / "curves.png"  # default: into the first run folder


def test_plot_reads_a_run_still_training(two_runs):
    metrics = two_runs[0] / checkpoint.METRICS
    before = len(read_curve(two_runs[0]).train[0])
    with open(metrics, "a", encoding="utf-8") as f:
        f.write('{"step": 41, "loss": 2.1, "lr": 0.01, "chars_per_s": 1000.0, "elapsed": 3.0}\n{"step": 42, "lo')
    curve = read_curve(two_runs[0])
    assert len(curve.train[0]) == before + 1 and curve.train[0][-1] == 41  # the torn last line is skipped


def test_plot_by_passes_over_the_text(two_runs, tmp_path):
    """--x epochs: training points at their logged passes, eval points on the line between them."""
    for run in two_runs:  # stream and lines mode
        records = checkpoint.read_metrics(run)
        logged = {r["step"]: r["epochs"] for r in records if "epochs" in r}
        curve = read_curve(run, x="epochs")
        assert curve.train[0] == [logged[r["step"]] for r in records if "loss" in r and "epochs" in r]
        assert curve.train[0] == sorted(curve.train[0]) and curve.train[0][-1] > 0
        for step, passes in zip([r["step"] for r in records if "val_loss" in r], curve.val[0]):
            before = max((s for s in [0, *logged] if s <= step))
            after = min((s for s in logged if s >= step), default=before)
            assert ({0: 0.0, **logged}[before] <= passes <= logged.get(after, passes))
    assert plot(two_runs, tmp_path / "passes.svg", x="epochs").exists()
    old = two_runs[0] / checkpoint.METRICS
    old.write_text("".join(line.replace('"epochs"', '"e"') + "\n" for line in old.read_text().splitlines()))
    with pytest.raises(CharRNNError, match="do not count passes.*--x steps"):
        read_curve(two_runs[0], x="epochs")


def test_plot_refuses_bad_input(two_runs, tmp_path):
    (two_runs[0] / checkpoint.METRICS).unlink()
    with pytest.raises(CharRNNError, match="no metrics yet"):
        plot(two_runs[:1], tmp_path / "a.png")
    with pytest.raises(CharRNNError, match="not a charrnn run"):
        plot([tmp_path], tmp_path / "a.png")
    with pytest.raises(CharRNNError, match="does not exist"):
        plot(two_runs[1:], tmp_path / "missing" / "a.png")
    with pytest.raises(CharRNNError, match="must end in"):
        plot(two_runs[1:], tmp_path / "a.jpg")


def test_terminal_views(tiny_run):
    model = charrnn.load(tiny_run, device="cpu")
    inspection = model.inspect("ROMEO:\nWhat 你\n")
    plain = render_plain(inspection, "surprisal", len(model.vocab))
    lines = plain.splitlines()
    assert lines[0] == "ROMEO:" and re.fullmatch(r" \d{6}", lines[1])  # first character unscored
    assert lines[2] == "What 你" and lines[3].endswith("??" + lines[3][-1])  # a wide unknown: two marks
    tty = render_tty(inspection, "entropy", len(model.vocab))
    assert "\x1b[48;2;" in tty and "\x1b[4m" in tty  # coloured backgrounds; the unknown underlined


def run(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_json_keys(tiny_run, capsys):
    code, out, _ = run(capsys, "inspect", tiny_run, "--text", "ROMEO: hi", "--json", "--units", "0:1,0:2:c",
                       "--device", "cpu")
    data = json.loads(out)
    assert code == 0 and data["characters"] == list("ROMEO: hi") and data["surprisal"][0] is None
    assert len(data["top"][1]) == 5 and all(len(pair) == 2 for pair in data["top"][1])
    assert set(data["activations"]) == {"0:1", "0:2:c"}


def test_inspect_html_is_self_contained(tiny_run, tmp_path, capsys):
    out = tmp_path / "inside.html"
    code, printed, _ = run(capsys, "inspect", tiny_run, "--text", "ROMEO: </script> hi", "--html", out,
                           "--device", "cpu")
    page = out.read_text(encoding="utf-8")
    assert code == 0 and printed.strip() == str(out)
    assert not re.search(r"https?://", page)  # nothing loaded from elsewhere
    assert "Inside.mount(" in page and page.count("</script>") == 2  # the text cannot end a script early
    assert page.count("<script") == 2 and "<link" not in page


def test_neurons_command(tiny_run, capsys):
    code, out, _ = run(capsys, "neurons", tiny_run, "--text", "ROMEO: (a)\nJULIET: b\n" * 20, "--top", "3",
                       "--json", "--device", "cpu")
    data = json.loads(out)
    assert code == 0 and len(data["units"]) == 3 and {f["feature"] for f in data["per_feature"]} >= {"line_position"}
    code, out, _ = run(capsys, "neurons", tiny_run, "--top", "2", "--max-chars", "500", "--device", "cpu")
    assert code == 0 and "best unit per feature" in out and out.count("on the text's start") == 2


@pytest.mark.parametrize("args, message", [
    (["inspect", "RUN", "--text", ""], "empty"),
    (["inspect", "RUN", "--text", "ab", "--color", "unit", "3:0"], "layer"),
    (["inspect", "RUN", "--text", "ab", "--color", "rainbow"], "--color"),
    (["inspect", "RUN", "--text", "ab", "--html", "/nonexistent/x.html"], "does not exist"),
    (["inspect", "NOT_A_RUN", "--text", "ab"], "no such run folder"),
    (["plot", "RUN", "-o", "/nonexistent/x.png"], "does not exist"),
    (["neurons", "RUN", "--text", "ab", "--top", "0"], "--top"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_run, tmp_path, capsys, args, message):
    args = [str(tiny_run) if a == "RUN" else str(tmp_path / "nope") if a == "NOT_A_RUN" else a for a in args]
    code, _, err = run(capsys, *args)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_plot_is_public(two_runs, tmp_path):
    assert charrnn.plot(two_runs, tmp_path / "c.svg").exists()


def test_script_json_cannot_close_the_script_element():
    from charrnn.views.html import _script_json

    assert "</" not in _script_json({"text": "</script><script>alert(1)</script>", "list": ["<", "/"]})
