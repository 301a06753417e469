"""The run folder: weights round trip, atomic writes, and one-line errors for damaged runs."""

import json
import os
import shutil

import pytest
import torch

import charrnn
from charrnn import checkpoint
from charrnn.errors import CharRNNError


def test_round_trip_gives_identical_logits(tiny_run):
    a, b = charrnn.load(tiny_run), charrnn.load(tiny_run)
    idx = torch.randint(0, len(a.vocab), (2, 50))
    assert torch.equal(a.network.model(idx)[0], b.network.model(idx)[0])
    tensors, _ = checkpoint.load_tensors(tiny_run / checkpoint.BEST)
    assert all(torch.equal(tensors[k], v) for k, v in a.network.model.state_dict().items())


def test_run_folder_contents(tiny_run):
    for name in ("config.json", "vocab.json", "best.safetensors", "last.safetensors", "trainer.safetensors",
                 "metrics.jsonl"):
        assert (tiny_run / name).is_file(), name
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["format"] == checkpoint.FORMAT_VERSION
    assert config["model"]["cell"] == "lstm" and config["train"]["max_steps"] == 40
    # no pickle anywhere: every weight file is safetensors
    assert not list(tiny_run.glob("*.pt")) and not list(tiny_run.glob("*.pkl"))


def copy_run(tiny_run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(tiny_run, target)
    return target


def test_truncated_checkpoint_is_a_clear_error(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    data = (run / "best.safetensors").read_bytes()
    (run / "best.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CharRNNError, match="corrupt or truncated"):
        charrnn.load(run)


def test_garbage_checkpoint_is_a_clear_error(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    (run / "best.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(CharRNNError, match="corrupt or truncated"):
        charrnn.load(run)


def test_newer_run_format_is_refused(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["format"] = 99
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(CharRNNError, match="newer than this charrnn"):
        charrnn.load(run)


def test_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(CharRNNError, match="not a charrnn run"):
        charrnn.load(tmp_path)
    with pytest.raises(CharRNNError, match="no such run folder"):
        charrnn.load(tmp_path / "missing")


def test_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "last.safetensors"
    checkpoint.save_tensors(target, {"w": torch.ones(3)})
    before = target.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CharRNNError, match="No space left on device.*previous version is intact"):
        checkpoint.save_tensors(target, {"w": torch.zeros(3)})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp files left behind


def test_a_run_saved_before_the_regularisers_existed_loads_without_them(tiny_run, tmp_path):
    """config.json from before --weight-drop, --input-dropout and --embed-dropout: trained without them,
    and so resumed without them (the new defaults are not theirs)."""
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    config = json.loads((old / checkpoint.CONFIG).read_text())
    for name in ("weight_drop", "input_dropout", "embed_dropout"):
        config["model"].pop(name)
    (old / checkpoint.CONFIG).write_text(json.dumps(config))
    info, _ = checkpoint.read_run(old)
    assert (info.model.weight_drop, info.model.input_dropout, info.model.embed_dropout) == (0.0, 0.0, 0.0)
