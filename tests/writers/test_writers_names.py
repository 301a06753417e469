"""Names: to the end token, only new ones on request, length bounds and a start as constraints."""

import json
import shutil

import pytest

import charrnn
from charrnn.commands.main import main
from charrnn.checkpoint import TRAIN_LINES
from conftest import MIRROR, TINY_TRAIN
from test_cli import fails_cleanly


@pytest.fixture(scope="module")
def jinyong_run(tmp_path_factory):
    """A 1x32 GRU trained for 10 steps on the 226 names of 天龙八部 (lines mode)."""
    path = MIRROR / "wuxia-names" / "jinyong_tianlongbabu.txt"
    if not path.exists():
        pytest.skip(f"corpora mirror not found at {MIRROR}")
    folder = tmp_path_factory.mktemp("jinyong")
    result = charrnn.train(dataset="tianlongbabu-names", out=str(folder / "run"), max_steps=10, cell="gru", layers=1,
                           hidden=32, **{**TINY_TRAIN, "batch_size": 16, "eval_every": 10})
    return result.run_dir


def corpus_names(run) -> set[str]:
    return set((run / TRAIN_LINES).read_text(encoding="utf-8").splitlines())


def test_the_run_keeps_its_corpus_lines(tiny_lines_run, jinyong_run):
    dinos = set((MIRROR / "dinosaurs" / "dinos.txt").read_text(encoding="utf-8").splitlines())
    assert corpus_names(tiny_lines_run) == dinos  # train and validation lines: everything the run has seen
    assert len(corpus_names(jinyong_run)) == 226


@pytest.mark.parametrize("fixture", ["tiny_lines_run", "jinyong_run"])
def test_new_only_gives_distinct_names_outside_the_corpus(request, capsys, fixture):
    run = request.getfixturevalue(fixture)
    assert main(["names", str(run), "--new-only", "--num", "50", "--seed", "1", "--json"]) == 0
    captured = capsys.readouterr()
    names = [n["name"] for n in json.loads(captured.out)]
    assert len(names) == 50 == len(set(names)) and all(names)
    assert not set(names) & corpus_names(run)
    assert captured.err.startswith("names: 50 new names from ")


def test_plain_output_is_one_name_per_line_and_summary_on_stderr(tiny_lines_run, capsys):
    assert main(["names", str(tiny_lines_run), "--num", "7", "--seed", "2"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 7 and all(captured.out.splitlines())
    assert captured.err.startswith("names: 7 names, ") and "new" in captured.err


def test_length_bounds_and_start_are_kept(tiny_lines_run, jinyong_run):
    model = charrnn.load(tiny_lines_run)
    names = model.names(num=60, min_len=6, max_len=8, starts_with="Ty", seed=3, temperature=1.2)
    assert len(names) == 60 and all(6 <= len(n) <= 8 and n.startswith("Ty") for n in names)
    short = model.names(num=30, max_len=2, seed=3)
    assert all(1 <= len(n) <= 2 for n in short)
    chinese = charrnn.load(jinyong_run).names(num=20, starts_with="段", new_only=True, min_len=2, max_len=3, seed=4)
    assert len(chinese) == 20 and all(n.startswith("段") and 2 <= len(n) <= 3 for n in chinese)


def test_several_temperatures_label_their_names(tiny_lines_run, capsys):
    assert main(["names", str(tiny_lines_run), "--num", "3", "--temperature", "0.5,1.5", "--seed", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "--- temperature 0.5 ---" and lines[4] == "--- temperature 1.5 ---" and len(lines) == 8


def test_new_only_stops_at_its_bound_with_a_clear_message(tiny_lines_run, capsys):
    # one-character names: the vocabulary holds fewer than 100 of them
    code = main(["names", str(tiny_lines_run), "--new-only", "--num", "100", "--max-len", "1", "--seed", "6"])
    captured = capsys.readouterr()
    assert code == 1
    assert "found only" in captured.err and "of 100 new names in 5000 samples" in captured.err
    assert 0 < len(captured.out.splitlines()) < 100


def test_python_api_reports_what_it_dropped(tiny_lines_run):
    model = charrnn.load(tiny_lines_run)
    result = model.name_samples(20, new_only=True, seed=7, temperature=0.6)
    assert result.complete and result.drawn == 20 + result.in_training + result.repeats
    assert all(n.new for n in result.names) and all(n.logprob < 0 for n in result.names)


@pytest.mark.parametrize("flags, match", [
    (["--min-len", "8", "--max-len", "5"], "--min-len 8 is more than --max-len 5"),
    (["--starts-with", "Жук"], "--starts-with: 'Жук' not in this run's vocabulary"),
    (["--starts-with", "Tyranno", "--max-len", "4"], "more than --max-len 4"),
    (["--min-len", "0"], "--min-len must be >= 1"),
    (["--num", "0"], "--num must be > 0"),
    (["--top-p", "2"], "--top-p must be in (0, 1]")])
def test_bad_names_input_is_one_line(tiny_lines_run, capsys, flags, match):
    fails_cleanly(capsys, ["names", str(tiny_lines_run), *flags], match)


def test_a_stream_mode_run_is_refused(tiny_run, capsys):
    fails_cleanly(capsys, ["names", str(tiny_run)], "train it again with --mode lines")


def test_new_only_needs_the_corpus_lines(tiny_lines_run, tmp_path, capsys):
    run = tmp_path / "old"
    shutil.copytree(tiny_lines_run, run)
    (run / TRAIN_LINES).unlink()
    fails_cleanly(capsys, ["names", str(run), "--new-only"], f"has no {TRAIN_LINES}")
    assert main(["names", str(run), "--num", "2"]) == 0  # without --new-only it still writes
    assert "which are new is unknown" in capsys.readouterr().err


def test_new_wuxia_names_are_in_neither_list(tmp_path):
    """The acceptance of the wuxia-names dataset: 100 new names, none a name of either author."""
    if not (MIRROR / "wuxia-names" / "gulong.txt").exists():
        pytest.skip(f"corpora mirror not found at {MIRROR}")
    run = charrnn.train(dataset="wuxia-names", out=str(tmp_path / "run"), max_steps=60, cell="gru", layers=1,
                        hidden=64, **{**TINY_TRAIN, "batch_size": 32, "eval_every": 60}).run_dir
    names = charrnn.load(run).names(num=100, new_only=True, seed=1)
    known = set()
    for author in ("jinyong", "gulong"):
        known |= set((MIRROR / "wuxia-names" / f"{author}.txt").read_text(encoding="utf-8").splitlines())
    assert len(names) == len(set(names)) == 100 and not set(names) & known
    assert len(corpus_names(run)) == 2430 - 5  # both lists; the 5 shared names once each in train_lines
