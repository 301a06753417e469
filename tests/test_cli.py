"""The command line: every command works, and every bad input is one line on stderr with exit code 2."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from charrnn.commands.main import main
from conftest import MIRROR

TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-len", "16", "--max-steps", "4",
        "--sample-chars", "0", "--device", "cpu"]


def fails_cleanly(capsys, argv, match):
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("charrnn: error: "), err
    assert match in lines[0], lines[0]


def test_train_sample_eval_info(tmp_path, shakespeare_file, capsys):
    run = tmp_path / "run"
    assert main(["train", str(shakespeare_file), "--out", str(run), *TINY]) == 0
    assert "done: 4 steps" in capsys.readouterr().out
    assert main(["sample", str(run), "--prime", "ROMEO:", "--length", "40", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) >= 6
    main(["sample", str(run), "--prime", "ROMEO:", "--length", "40", "--seed", "1"])
    assert capsys.readouterr().out == first  # the same seed writes the same text
    assert main(["sample", str(run), "--num", "3", "--length", "20", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 3
    assert main(["eval", str(run), str(shakespeare_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"loss_nats", "bpc", "perplexity", "chars"} and result["chars"] > 0
    assert main(["info", str(run)]) == 0
    info = capsys.readouterr().out
    assert "1x16 lstm" in info and "parameters" in info


def test_temperature_zero_is_greedy_and_stop_ends_the_sample(tiny_run, capsys):
    main(["sample", str(tiny_run), "--length", "60", "--temperature", "0", "--seed", "1"])
    a = capsys.readouterr().out
    main(["sample", str(tiny_run), "--length", "60", "--temperature", "0", "--seed", "2"])
    assert capsys.readouterr().out == a
    main(["sample", str(tiny_run), "--length", "60", "--seed", "5"])
    full = capsys.readouterr().out
    stop = full[20:22]
    main(["sample", str(tiny_run), "--length", "60", "--seed", "5", "--stop", stop])
    assert capsys.readouterr().out == full[: full.index(stop)] + "\n"  # same text, cut before the stop


def test_unknown_prime_characters_are_a_warning_not_a_crash(tiny_run, capsys):
    assert main(["sample", str(tiny_run), "--prime", "Ωμέγα 世界", "--length", "10"]) == 0
    captured = capsys.readouterr()
    assert "not in the vocabulary" in captured.err and captured.out.startswith("Ωμέγα 世界")


def test_lines_mode_samples_end_at_the_end_token(tiny_lines_run, capsys):
    assert main(["sample", str(tiny_lines_run), "--num", "5", "--length", "200", "--seed", "3"]) == 0
    samples = [s for s in capsys.readouterr().out.split("\n") if s and not s.startswith("---")]
    assert len(samples) == 5 and all(len(s) < 200 for s in samples)


def test_datasets_and_help(capsys):
    assert main(["datasets"]) == 0
    assert "tinyshakespeare" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ("--cell", "--layers", "--hidden", "--embed", "--dropout", "--seq-len", "--batch-size", "--lr",
                 "--max-steps", "--max-time", "--eval-every", "--save-every", "--val-frac", "--seed", "--device",
                 "--out", "--resume", "--init-from", "--dataset", "--mode", "--max-vocab", "--encoding"):
        assert flag in help_text, flag


def test_python_dash_m_and_console_script():
    done = subprocess.run([sys.executable, "-m", "charrnn", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("charrnn ")
    script = shutil.which("charrnn", path=os.path.dirname(sys.executable))
    assert script, "the charrnn console script is not installed beside this Python"


# --- bad input: one line, exit code 2, nothing lost -------------------------------------------------------------

def test_missing_corpus(capsys, tmp_path):
    fails_cleanly(capsys, ["train", str(tmp_path / "nope.txt"), *TINY], "no such file or folder")


def test_nothing_to_train_on(capsys):
    fails_cleanly(capsys, ["train", *TINY], "nothing to train on")


def test_empty_corpus(capsys, tmp_path):
    (tmp_path / "e.txt").write_text("\n \n")
    fails_cleanly(capsys, ["train", str(tmp_path / "e.txt"), *TINY], "empty")


def test_bf16_lstm_on_a_cpu_without_bf16_is_refused(capsys, tmp_path, shakespeare_file, monkeypatch):
    """oneDNN's LSTM refuses bf16 on CPUs without bf16 instructions: one line before the run folder, not a traceback."""
    from charrnn import device

    monkeypatch.setattr(device, "cpu_lstm_runs_bf16", lambda: False)
    fails_cleanly(capsys, ["train", str(shakespeare_file), *TINY, "--cell", "lstm", "--dtype", "bf16",
                           "--out", str(tmp_path / "r")], "--dtype bf16: this CPU has no bf16 instructions")
    assert not (tmp_path / "r").exists()


def test_corpus_too_short_for_one_batch(capsys, tmp_path):
    (tmp_path / "s.txt").write_text("a short text\n" * 3)
    fails_cleanly(capsys, ["train", str(tmp_path / "s.txt"), *TINY], "too short for one batch")
    assert not (tmp_path / "runs").exists()  # a refused run leaves nothing behind


def test_binary_file(capsys, tmp_path):
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 40)
    fails_cleanly(capsys, ["train", str(tmp_path / "b.bin"), *TINY], "binary")


def test_non_utf8_file(capsys, tmp_path):
    (tmp_path / "l.txt").write_bytes(("x" * 50 + "é").encode("latin-1"))
    fails_cleanly(capsys, ["train", str(tmp_path / "l.txt"), *TINY], "not valid utf-8 at byte offset 50")


def test_unknown_encoding(capsys, shakespeare_file):
    fails_cleanly(capsys, ["train", str(shakespeare_file), "--encoding", "klingon", *TINY], "unknown text encoding")


def test_unknown_dataset(capsys):
    fails_cleanly(capsys, ["train", "--dataset", "nope", *TINY], "nope")


@pytest.mark.parametrize("flags, match", [
    (["--hidden", "0"], "--hidden must be > 0"), (["--layers", "-1"], "--layers must be > 0"),
    (["--batch-size", "0"], "--batch-size must be > 0"), (["--seq-len", "-1"], "--seq-len must be >= 0"),
    (["--lr", "0"], "--lr must be > 0"), (["--dropout", "1.5"], "--dropout"), (["--val-frac", "0.95"], "--val-frac"),
    (["--max-steps", "-3"], "--max-steps must be >= 0")])
def test_invalid_training_values(capsys, shakespeare_file, tmp_path, flags, match):
    fails_cleanly(capsys, ["train", str(shakespeare_file), "--out", str(tmp_path / "r"), *TINY, *flags], match)


@pytest.mark.parametrize("flags, match", [
    (["--temperature", "-1"], "--temperature must be >= 0"), (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "1.5"], "--top-p"), (["--top-k", "-2"], "--top-k must be >= 0"),
    (["--length", "-5"], "--length must be >= 0"), (["--num", "0"], "--num must be > 0")])
def test_invalid_sampling_values(capsys, tiny_run, flags, match):
    fails_cleanly(capsys, ["sample", str(tiny_run), *flags], match)


def test_folder_that_is_not_a_run(capsys, tmp_path):
    for command in (["sample", str(tmp_path)], ["eval", str(tmp_path), __file__], ["info", str(tmp_path)]):
        fails_cleanly(capsys, command, "not a charrnn run")


def test_corrupt_checkpoint(capsys, tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "best.safetensors").write_bytes((run / "best.safetensors").read_bytes()[:100])
    fails_cleanly(capsys, ["sample", str(run)], "corrupt or truncated")


def test_run_from_a_newer_format(capsys, tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    config["format"] = 7
    (run / "config.json").write_text(json.dumps(config))
    fails_cleanly(capsys, ["info", str(run)], "newer than this charrnn")


def test_resume_with_changed_model_flags(capsys, tiny_run):
    fails_cleanly(capsys, ["train", "--out", str(tiny_run), "--resume", "--cell", "gru"], "--cell gru differs")


def test_out_names_an_existing_run(capsys, tiny_run, shakespeare_file):
    fails_cleanly(capsys, ["train", str(shakespeare_file), "--out", str(tiny_run), *TINY], "already holds a run")


def test_resume_without_a_run(capsys, tmp_path):
    fails_cleanly(capsys, ["train", "--out", str(tmp_path / "none"), "--resume"], "nothing to resume")


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(capsys, shakespeare_file, tmp_path, monkeypatch):
    run = tmp_path / "r"
    real_fsync = os.fsync

    def disk_full_on_second_checkpoint(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if ".last.safetensors." in name and (run / "last.safetensors").exists():
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_on_second_checkpoint)
    fails_cleanly(capsys, ["train", str(shakespeare_file), "--out", str(run), *TINY, "--save-every", "2"],
                  "No space left on device")
    monkeypatch.setattr(os, "fsync", real_fsync)
    from charrnn.checkpoint import LAST, read_header

    assert read_header(run / LAST)[1]["step"] == 2  # the checkpoint of step 2 survived the failed one
    assert [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"] == []  # no temp file


def test_eval_of_a_missing_file(capsys, tiny_run, tmp_path):
    fails_cleanly(capsys, ["eval", str(tiny_run), str(tmp_path / "missing.txt")], "cannot read")
