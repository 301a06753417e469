"""The studio's API: training jobs from a request, every bound and refusal, jobs one after another, a
finished job served without a restart, who may train, and removing what the server trained."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charrnn.serve import Limits, create_app
from serve_fixtures import sse_json

TINY = {"hidden": 16, "layers": 1, "cell": "gru"}


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> str:
    from conftest import MIRROR

    return (MIRROR / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:30_000]


def wait_for(client: TestClient, name: str, seconds: float = 120) -> dict:
    """The job's status once it is no longer queued or running (bounded)."""
    deadline = time.monotonic() + seconds
    while (status := client.get(f"/api/train/{name}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def one_line(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_a_job_trains_is_served_without_a_restart_and_is_removed(tmp_path, text):
    runs = tmp_path / "runs"
    with TestClient(create_app(runs, device="cpu")) as client:
        assert client.get("/api/models").json() == [] and client.get("/health").json()["models"] == []
        started = client.post("/api/train", json={"name": "mine", "text": text, "max_steps": 30, **TINY})
        assert started.status_code == 202 and started.json()["state"] in ("queued", "running")
        status = wait_for(client, "mine")
        assert status["state"] == "done" and status["step"] == 30 and status["best_val"] > 0 and status["last_sample"]
        assert [m["name"] for m in client.get("/api/models").json()] == ["mine"]  # no restart
        answer = client.post("/api/generate", json={"model": "mine", "prime": "ROMEO:", "length": 20}).json()
        assert len(answer["samples"][0]["text"]) == 20
        with client.stream("GET", "/api/train/mine/events") as response:
            events = sse_json(response.read().decode())
        kinds = [name for name, _ in events]
        assert kinds[0] == "status" and kinds[-1] == "end" and kinds.count("metrics") >= 3
        assert any("sample" in data for name, data in events if name == "metrics")
        assert (runs / "mine" / "corpus.txt").read_text(encoding="utf-8") == text  # the text, and only there
        assert client.delete("/api/models/mine").status_code == 204
        assert not (runs / "mine").exists() and client.get("/api/models").json() == []
        one_line(client.get("/api/train/mine"), 404)


@pytest.mark.parametrize("body, status, message", [
    ({"name": "../x"}, 422, "name"),
    ({"name": "a/b"}, 422, "name"),
    ({"name": ""}, 422, "name"),
    ({"name": "x" * 65}, 422, "name"),
    ({"text": "too little"}, 422, "at least 5000 characters"),
    ({"text": None, "dataset": "no-such-set"}, 422, "dataset"),
    ({"text": None}, 400, "give a text or a dataset"),
    ({"dataset": "dinosaurs"}, 400, "give a text or a dataset"),  # both
    ({"max_time": 601}, 400, "at most 600 s"),
    ({"preset": "tpu"}, 422, "preset"),
])
def test_bad_jobs_are_refused_and_write_nothing(tmp_path, text, body, status, message):
    runs = tmp_path / "runs"
    with TestClient(create_app(runs, device="cpu")) as client:
        request = {"name": "ok", "text": text, **body}
        assert message in one_line(client.post("/api/train", json=request), status)
        assert list(runs.iterdir()) == [] and list(tmp_path.iterdir()) == [runs]


def test_taken_names_too_much_text_and_a_full_queue(tmp_path, text, tiny_run):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(tiny_run, runs / "served")
    limits = Limits(max_upload=40_000, max_train_jobs=1, train_queue=1)
    with TestClient(create_app(runs, device="cpu", limits=limits)) as client:
        assert "is taken" in one_line(client.post("/api/train", json={"name": "served", "text": text}), 409)
        assert "larger than" in one_line(client.post("/api/train", json={"name": "big", "text": text * 2}), 413)
        slow = {"text": text, "max_steps": 100_000, **TINY}
        assert client.post("/api/train", json={"name": "first", **slow}).status_code == 202  # trains
        assert client.post("/api/train", json={"name": "second", **slow}).json()["state"] == "queued"
        assert "is taken" in one_line(client.post("/api/train", json={"name": "second", **slow}), 409)
        refused = client.post("/api/train", json={"name": "third", **slow})
        assert "queue is full" in one_line(refused, 429) and refused.headers["retry-after"]
        assert client.post("/api/train/second/stop").json()["state"] == "stopped"  # out of the queue
        client.post("/api/train/first/stop")
        assert wait_for(client, "first")["state"] == "stopped"
        assert sorted(p.name for p in runs.iterdir()) == ["first", "second", "served"]
        assert "was not trained by this server" in one_line(client.delete("/api/models/served"), 403)


def test_two_jobs_train_one_after_the_other(tmp_path, text):
    with TestClient(create_app(tmp_path / "runs", device="cpu")) as client:
        for name in ("one", "two"):
            assert client.post("/api/train", json={"name": name, "text": text, "max_steps": 20, **TINY}).status_code == 202
        seen = set()
        deadline = time.monotonic() + 120
        while True:
            states = {j["name"]: j["state"] for j in client.get("/api/train").json()}
            seen.add(tuple(sorted(states.items())))
            assert list(states.values()).count("running") <= 1, states  # --max-train-jobs 1
            if set(states.values()) == {"done"} or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert states == {"one": "done", "two": "done"}
        assert (("one", "running"), ("two", "queued")) in seen
        assert [m["name"] for m in client.get("/api/models").json()] == ["one", "two"]


def test_training_off_says_how_to_turn_it_on(tmp_path, text):
    with TestClient(create_app(tmp_path / "runs", device="cpu", training=False)) as client:
        for response in (client.post("/api/train", json={"name": "x", "text": text}), client.get("/api/train"),
                         client.get("/api/train/x"), client.post("/api/train/x/stop")):
            message = one_line(response, 403)
            assert "--api-key" in message and "--allow-training" in message
        assert list((tmp_path / "runs").iterdir()) == []


def test_the_serve_command_trains_on_loopback_or_with_a_key_or_when_told(tmp_path, monkeypatch, capsys):
    import argparse

    import charrnn.commands.serve as command

    apps = []

    class NoServer:
        def __init__(self, config):
            apps.append(config.app)
            self.started = True

        def run(self):
            pass

    monkeypatch.setattr("uvicorn.Server", NoServer)
    monkeypatch.delenv("CHARRNN_API_KEY", raising=False)
    base = dict(path=str(tmp_path / "new"), port=0, max_rows=16, max_queue=4, max_concurrency=2, timeout=10.0,
                max_body=65536, max_upload=1 << 20, max_train_time=60.0, max_train_jobs=1, train_queue=2, cors=[],
                threads=0, device="cpu", checkpoint="best", log_level="warning")
    for host, key, allow, on in (("127.0.0.1", None, False, True), ("0.0.0.0", None, False, False),
                                 ("0.0.0.0", "k", False, True), ("0.0.0.0", None, True, True)):
        assert command.cmd_serve(argparse.Namespace(**base, host=host, api_key=key, allow_training=allow)) == 0
        headers = {"Authorization": "Bearer k"} if key else {}
        with TestClient(apps[-1]) as client:
            assert client.get("/api/train", headers=headers).status_code == (200 if on else 403), (host, key, allow)
    assert (tmp_path / "new").is_dir()  # a missing folder is made: the page opens on the Train tab
    assert "serving no model yet (train one on the page)" in capsys.readouterr().err


def test_a_folder_that_is_one_run_trains_nothing(tiny_run):
    with TestClient(create_app(tiny_run, device="cpu")) as client:
        assert "serve a folder of runs to train" in one_line(client.get("/api/train"), 403)


def test_jobs_of_an_earlier_server_are_read_back(tmp_path, text):
    runs = tmp_path / "runs"
    with TestClient(create_app(runs, device="cpu", limits=Limits(max_train_jobs=1))) as client:
        client.post("/api/train", json={"name": "a", "text": text, "max_steps": 100_000, **TINY})
        client.post("/api/train", json={"name": "b", "text": text, "max_steps": 20, **TINY})
    # the server closed: the running job saved and stopped, the queued one never started
    with TestClient(create_app(runs, device="cpu")) as client:
        states = {j["name"]: j["state"] for j in client.get("/api/train").json()}
        assert states == {"a": "stopped", "b": "stopped"}
        assert client.post("/api/train/b/resume").json()["state"] in ("queued", "running")
        assert wait_for(client, "b")["state"] == "done"
        assert Path(runs / "b" / "best.safetensors").exists()
