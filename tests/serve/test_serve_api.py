"""The HTTP API in-process (FastAPI's TestClient): every endpoint, streamed and not, and every kind of
bad input answered with a one-line JSON error and a 4xx status, never a 500."""

from __future__ import annotations

import argparse
import json
import re
import time

import pytest
from fastapi.testclient import TestClient

import charrnn
from charrnn import checkpoint
from charrnn.errors import CharRNNError
from charrnn.serve import Limits, create_app
from charrnn.generation.streaming import StopCutter
from charrnn.serve.registry import find_runs
from charrnn.writers.poem_form import is_line_char
from serve_fixtures import runs_folder, sse_json  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def client(runs_folder):
    with TestClient(create_app(runs_folder, device="cpu")) as c:
        yield c


@pytest.fixture(scope="module")
def shakespeare(tiny_run):
    return charrnn.load(tiny_run, device="cpu")


def one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert "\n" not in response.text.strip()
    body = response.json()
    if response.url.path.startswith("/v1/"):  # OpenAI's shape
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        return body["error"]["message"]
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    return body["error"]


def test_health_and_models(client):
    idle = {"rows": 0, "max_rows": 64, "waiting": 0, "max_queue": 256}
    assert client.get("/health").json() == {"status": "ok", "models": ["dinos", "poems", "shakespeare"], "busy": 0,
                                            "max_concurrency": 4, "batches": dict.fromkeys(["dinos", "poems",
                                                                                            "shakespeare"], idle)}
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert set(models) == {"dinos", "poems", "shakespeare"}  # "notes" is not a run
    s = models["shakespeare"]
    assert (s["cell"], s["layers"], s["hidden"], s["mode"]) == ("lstm", 1, 32, "stream")
    assert s["vocab_size"] > 30 and s["best_val"] > 0 and s["steps"] == 40 and s["parameters"] > 0
    assert s["writes"] == {"story": True, "poem": False, "names": False}
    assert models["poems"]["writes"] == {"story": True, "poem": True, "names": True}
    assert models["dinos"]["writes"]["names"] and not models["dinos"]["writes"]["poem"]


def test_generate_writes_what_the_library_writes(client, shakespeare):
    body = {"model": "shakespeare", "prime": "ROMEO:", "length": 60, "temperature": 0.8, "seed": 7}
    answer = client.post("/api/generate", json=body).json()
    assert answer["seed"] == 7 and answer["warnings"] == [] and answer["model"] == "shakespeare"
    assert answer["samples"] == [{"index": 0, "text": shakespeare.generate("ROMEO:", 60, 0.8, seed=7),
                                  "finish_reason": "length"}]
    three = client.post("/api/generate", json={**body, "num": 3}).json()["samples"]
    assert [s["text"] for s in three] == shakespeare.generate("ROMEO:", 60, 0.8, seed=7, num=3)
    unseeded = client.post("/api/generate", json={"model": "shakespeare", "length": 5}).json()
    assert isinstance(unseeded["seed"], int) and len(unseeded["samples"][0]["text"]) == 5


def test_generate_streams_small_pieces_then_done(client):
    body = {"model": "shakespeare", "prime": "ROMEO:", "length": 200, "seed": 3}
    whole = client.post("/api/generate", json=body).json()["samples"][0]["text"]
    with client.stream("POST", "/api/generate", json={**body, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_json(r.read().decode("utf-8"))
    pieces = [data for name, data in events if name == "message"]
    assert "".join(p["text"] for p in pieces) == whole and {p["index"] for p in pieces} == {0}
    assert len(pieces) >= 200 // 8  # a few characters an event: it reads as it is written
    assert events[-1] == ("done", {"model": "shakespeare", "seed": 3, "finish_reasons": ["length"], "warnings": []})


def test_stop_strings_cut_the_text(client):
    body = {"model": "shakespeare", "length": 120, "seed": 11}
    full = client.post("/api/generate", json=body).json()["samples"][0]["text"]
    stop = full[50:53]
    cut = client.post("/api/generate", json={**body, "stop": stop}).json()["samples"][0]
    assert cut == {"index": 0, "text": full[: full.index(stop)], "finish_reason": "stop"}
    early, late = full[30:32], full[80:83]
    cut = client.post("/api/generate", json={**body, "stop": [late, early]}).json()["samples"][0]
    assert cut["text"] == full[: min(full.index(early), full.index(late))]
    with client.stream("POST", "/api/generate", json={**body, "stop": stop, "stream": True}) as r:
        events = sse_json(r.read().decode())
    assert "".join(d["text"] for n, d in events if n == "message") == full[: full.index(stop)]
    assert events[-1][1]["finish_reasons"] == ["stop"]


def test_stop_cutter_holds_back_only_a_possible_stop():
    cutter = StopCutter(["END", "!"])
    assert [cutter.feed(c) for c in "abEN"] == ["a", "b", "", ""]
    assert cutter.feed("x") == "ENx" and not cutter.stopped
    assert cutter.feed("E") == "" and cutter.feed("N") == "" and cutter.feed("D") == "" and cutter.stopped


def test_lines_mode_samples_stop_at_the_end_token(client):
    body = {"model": "dinos", "length": 300, "num": 4, "seed": 1}
    samples = client.post("/api/generate", json=body).json()["samples"]
    assert all(s["finish_reason"] == "stop" and 0 < len(s["text"]) < 300 and "\n" not in s["text"] for s in samples)


def test_prime_outside_the_vocabulary_is_a_warning_not_an_error(client):
    body = {"model": "shakespeare", "prime": "Ωμέγα 世界", "length": 10, "seed": 1}
    answer = client.post("/api/generate", json=body)
    assert answer.status_code == 200
    assert "not in the vocabulary" in answer.json()["warnings"][0] and len(answer.json()["samples"][0]["text"]) == 10


def test_poem_has_the_form_the_heads_and_chinese(client, poems_run):
    vocab = charrnn.load(poems_run, device="cpu").vocab
    heads = "".join([c for c in vocab.chars if is_line_char(c)][10:14])
    answer = client.post("/api/poem", json={"model": "poems", "form": "wujue", "acrostic": heads, "rhyme": True,
                                            "num": 2, "seed": 5, "temperature": 0.8})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    poems = answer.json()["poems"]
    assert len(poems) == 2
    for poem in poems:
        assert len(poem["lines"]) == 4 and "".join(poem["lines"]) == poem["text"]
        assert [line[0] for line in poem["lines"]] == list(heads)
        assert [line[-1] for line in poem["lines"]] == ["，", "。", "，", "。"]
        assert all(len(line) == 6 and all(is_line_char(c) for c in line[:5]) for line in poem["lines"])
    again = client.post("/api/poem", json={"model": "poems", "acrostic": heads[:2], "seed": 5}).json()
    assert len(again["poems"][0]["lines"]) == 2  # no form: one line per head


def test_names(client):
    answer = client.post("/api/names", json={"model": "dinos", "num": 6, "starts_with": "a", "max_len": 12,
                                             "seed": 2}).json()
    assert len(answer["names"]) == 6 and all(n.startswith("a") and len(n) <= 12 for n in answer["names"])
    assert "names" in answer["summary"] and answer["seed"] == 2
    new = client.post("/api/names", json={"model": "dinos", "num": 5, "new_only": True, "seed": 2}).json()
    assert len(set(new["names"])) == len(new["names"]) and (len(new["names"]) == 5 or new["warnings"])


def test_openai_completions_in_process(client, shakespeare):
    assert client.get("/v1/models").json()["data"][0] == {"id": "dinos", "object": "model", "owned_by": "charrnn",
                                                          "created": pytest.approx(time.time(), abs=60)}
    body = {"model": "shakespeare", "prompt": "ROMEO:", "max_tokens": 40, "seed": 4, "n": 2, "user": "ignored"}
    answer = client.post("/v1/completions", json=body).json()
    assert answer["object"] == "text_completion" and answer["id"].startswith("cmpl-")
    assert answer["model"] == "shakespeare" and isinstance(answer["created"], int)
    texts = shakespeare.generate("ROMEO:", 40, seed=4, num=2)
    assert answer["choices"] == [{"text": t, "index": i, "logprobs": None, "finish_reason": "length"}
                                 for i, t in enumerate(texts)]
    assert answer["usage"] == {"prompt_tokens": 6, "completion_tokens": 80, "total_tokens": 86}
    echoed = client.post("/v1/completions", json={**body, "n": 1, "echo": True, "prompt": ["ROMEO:"]}).json()
    assert echoed["choices"][0]["text"] == "ROMEO:" + shakespeare.generate("ROMEO:", 40, seed=4)
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as r:
        raw = r.read().decode()
    assert raw.rstrip().endswith("data: [DONE]") and "event:" not in raw
    chunks = [data for _, data in sse_json(raw)]
    assert all(c["object"] == "text_completion" and c["id"] == chunks[0]["id"] for c in chunks)
    for i, text in enumerate(texts):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == i]
        assert "".join(c["text"] for c in mine) == text
        assert [c["finish_reason"] for c in mine][-1] == "length" and all(c["finish_reason"] is None for c in mine[:-1])


BAD = [  # (path, body, status, words in the error)
    ("/api/generate", {"length": "5"}, 422, "length: Input should be a valid integer"),
    ("/api/generate", {"length": True}, 422, "length"),
    ("/api/generate", {"length": -1}, 422, "length"),
    ("/api/generate", {"length": 2001}, 422, "less than or equal to 2000"),
    ("/api/generate", {"temperature": -0.1}, 422, "temperature"),
    ("/api/generate", {"temperature": 5.5}, 422, "temperature"),
    ("/api/generate", {"temperature": "hot"}, 422, "temperature"),
    ("/api/generate", {"top_k": -1}, 422, "top_k"),
    ("/api/generate", {"top_k": 10**30}, 422, "top_k"),
    ("/api/generate", {"top_p": 0}, 422, "top_p"),
    ("/api/generate", {"top_p": 1.5}, 422, "top_p"),
    ("/api/generate", {"num": 0}, 422, "num"),
    ("/api/generate", {"num": 17}, 422, "num"),
    ("/api/generate", {"seed": -1}, 422, "seed"),
    ("/api/generate", {"prime": "x" * 4001}, 422, "prime: String should have at most 4000 characters"),
    ("/api/generate", {"prime": 12}, 422, "prime"),
    ("/api/generate", {"stop": ["a", "b", "c", "d", "e"]}, 422, "stop: List should have at most 4 items"),
    ("/api/generate", {"stop": "x" * 65}, 422, "stop"),
    ("/api/generate", {"lenght": 5}, 422, "lenght: Extra inputs are not permitted"),
    ("/api/generate", {"stream": "yes"}, 422, "stream"),
    ("/api/generate", {"model": 3}, 422, "model"),
    ("/api/generate", [1, 2], 422, "body"),
    ("/api/generate", "just text", 422, "body"),
    ("/api/generate", {"model": "nope"}, 404, "model 'nope' is not served here; choose from: dinos, poems"),
    ("/api/generate", {"model": "../../etc/passwd"}, 404, "not served here"),
    ("/api/generate", {"model": "x" * 129}, 422, "model"),
    ("/api/poem", {"model": "poems", "form": "sonnet"}, 422, "form"),
    ("/api/poem", {"model": "poems", "num": 9}, 422, "num"),
    ("/api/poem", {"model": "poems", "chars_per_line": 1}, 422, "chars_per_line"),
    ("/api/poem", {"model": "poems", "form": "wujue", "acrostic": "一二"}, 400, "gives 2 heads but the poem has 4"),
    ("/api/poem", {"model": "poems", "acrostic": "ＸＹ"}, 400, "not in this run's vocabulary"),
    ("/api/poem", {"model": "poems", "acrostic": "，。"}, 400, "no head characters"),
    ("/api/poem", {"model": "shakespeare"}, 400, "poem needs a run trained on poems"),
    ("/api/names", {"model": "shakespeare"}, 400, "names needs a lines-mode run"),
    ("/api/names", {"model": "dinos", "min_len": 9, "max_len": 3}, 400, "no name fits"),
    ("/api/names", {"model": "dinos", "num": 101}, 422, "num"),
    ("/api/names", {"model": "dinos", "starts_with": "\u0416"}, 400, "not in this run's vocabulary"),
    ("/api/inspect", {"model": "shakespeare", "text": "x" * 2001}, 422, "text"),
    ("/api/inspect", {"model": "shakespeare", "text": ""}, 422, "text"),
    ("/api/inspect", {"model": "shakespeare", "text": "ab", "top_k": 21}, 422, "top_k"),
    ("/api/inspect", {"model": "shakespeare", "text": "ab", "units": ["9:0"]}, 400, "has 1 layer"),
    ("/api/inspect", {"model": "shakespeare", "text": "ab", "units": ["0:99"]}, 400, "32 units"),
    ("/api/inspect", {"model": "shakespeare", "text": "ab", "units": ["zero"]}, 400, "LAYER:INDEX"),
    ("/api/inspect", {"model": "dinos", "text": "ab", "units": ["0:1:c"]}, 400, "only an LSTM"),
    ("/api/inspect", {"model": "dinos", "text": "\n \n"}, 400, "empty"),
    ("/api/inspect", {"model": "nope", "text": "ab"}, 404, "not served here"),
    ("/api/neurons", {"model": "shakespeare", "top": 51}, 422, "top"),
    ("/api/neurons", {"model": "shakespeare", "text": "x" * 2001}, 422, "text"),
    ("/v1/completions", {"prompt": "a"}, 422, "model: Field required"),
    ("/v1/completions", {"model": "nope"}, 404, "not served here"),
    ("/v1/completions", {"model": "dinos", "n": 0}, 422, "n:"),
    ("/v1/completions", {"model": "dinos", "max_tokens": 100000}, 422, "max_tokens"),
    ("/v1/completions", {"model": "dinos", "prompt": ["a", "b"]}, 422, "prompt: List should have at most 1 item"),
    ("/v1/completions", {"model": "dinos", "logprobs": 2}, 400, "logprobs are not supported"),
    ("/v1/completions", {"model": "dinos", "best_of": 3}, 400, "best_of"),
]


@pytest.mark.parametrize("path,body,status,words", BAD, ids=[f"{p}-{w[:30]}" for p, _, _, w in BAD])
def test_bad_input_is_one_line_and_4xx(client, path, body, status, words):
    assert words in one_line_error(client.post(path, json=body), status)


def test_inspect_answers_what_the_library_computes(client, shakespeare):
    text = "ROMEO: (a) JULIET\n"
    answer = client.post("/api/inspect", json={"model": "shakespeare", "text": text, "top_k": 3,
                                               "units": ["0:1", "0:2:c"]}).json()
    inspection = shakespeare.inspect(text, top_k=3, units=["0:1", "0:2:c"])
    expected = inspection.to_dict(list(inspection.units))
    assert answer["model"] == "shakespeare" and answer["characters"] == list(text)
    assert answer["surprisal"] == expected["surprisal"] and answer["activations"] == expected["activations"]
    assert answer["top"] == expected["top"] and len(answer["top"][1]) == 3


def test_neurons_and_metrics(client, tiny_run):
    found = client.post("/api/neurons", json={"model": "shakespeare", "text": "ROMEO: a\nJULIET: (b)\n" * 10,
                                              "top": 4}).json()
    assert len(found["units"]) == 4 and {"unit", "feature", "r"} == set(found["units"][0])
    assert found["characters"] == 210 and found["per_feature"]
    metrics = client.get("/api/models/shakespeare/metrics").json()
    assert metrics["records"] == checkpoint.read_metrics(tiny_run) and metrics["records"]
    one_line_error(client.get("/api/models/nope/metrics"), 404)


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe", b"null", b'{"length": NaN}', b'{"length": 1e999}',
                                     b"[" * 5000])
def test_malformed_bodies_are_4xx(client, content):
    response = client.post("/api/generate", content=content, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500 and "\n" not in response.json()["error"]


def test_other_clients_errors(client):
    one_line_error(client.get("/api/nothing"), 404)
    one_line_error(client.get("/api/generate"), 405)
    response = client.post("/api/generate", content=b"length=5", headers={"content-type": "text/plain"})
    assert 400 <= response.status_code < 500


def test_bodies_over_the_cap_are_refused_with_413(runs_folder):
    with TestClient(create_app(runs_folder, device="cpu", limits=Limits(max_body=2048))) as c:
        big = {"model": "shakespeare", "prime": "x" * 3000}
        assert "larger than the server's limit of 2048 bytes" in one_line_error(c.post("/api/generate", json=big), 413)

        def chunks():  # no Content-Length: the body is counted as it arrives
            yield b'{"prime": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        one_line_error(c.post("/api/generate", content=chunks(), headers={"content-type": "application/json"}), 413)
        response = c.post("/api/generate", content=b"{}", headers={"content-length": "abc"})
        assert response.status_code == 400
        assert c.post("/api/generate", json={"model": "shakespeare", "length": 3}).status_code == 200


def test_a_full_server_answers_429_with_retry_after_and_still_health(runs_folder):
    with TestClient(create_app(runs_folder, device="cpu", limits=Limits(max_rows=16, max_queue=0,
                                                                        max_concurrency=1))) as c:
        server = c.app.state.server
        for batch in server.batches.values():  # as if long requests held every row, with no room to wait
            with batch.lock:
                batch.reserved = batch.max_rows
        refused = c.post("/api/generate", json={"length": 5})
        assert "busy" in one_line_error(refused, 429) and refused.headers["retry-after"] == "1"
        one_line_error(c.post("/api/poem", json={"model": "poems"}), 429)
        one_line_error(c.post("/api/names", json={"model": "dinos"}), 429)
        one_line_error(c.post("/v1/completions", json={"model": "dinos"}), 429)
        assert c.get("/health").json()["batches"]["dinos"]["rows"] == 16
        assert server.slots.take()  # looking inside has slots of its own: the only one taken
        one_line_error(c.post("/api/inspect", json={"model": "dinos", "text": "Abc"}), 429)
        server.slots.give_back()
        for batch in server.batches.values():
            with batch.lock:
                batch.reserved = 0
        assert c.post("/api/generate", json={"length": 5}).status_code == 200
        assert c.post("/api/inspect", json={"model": "dinos", "text": "Abc"}).status_code == 200
        wait_until_idle(c)  # the worker gives its slot back just after the answer


def wait_until_idle(client, seconds: float = 5.0) -> None:
    """Every worker slot given back and every row of every batch free."""
    server, deadline = client.app.state.server, time.monotonic() + seconds
    while server.slots.busy or any(b.load["rows"] for b in server.batches.values()):
        assert time.monotonic() < deadline, "a worker kept its slot, or a request its rows"
        time.sleep(0.01)


def test_the_time_limit_answers_503_and_stops_the_worker(runs_folder):
    with TestClient(create_app(runs_folder, device="cpu", limits=Limits(timeout=0.02))) as c:
        long = {"model": "shakespeare", "length": 2000, "num": 16}
        assert "time limit" in one_line_error(c.post("/api/generate", json=long), 503)
        with c.stream("POST", "/api/generate", json={**long, "stream": True}) as r:
            body = r.read().decode()
        assert r.status_code == 503 or sse_json(body)[-1][0] == "error"
        wait_until_idle(c)  # the writer saw the cancel and gave its slot back


def test_page_uses_only_local_assets_and_utf8(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert '<meta charset="utf-8">' in html and 'name="viewport"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {"/static/app.js", "/static/style.css", "/static/views.js", "/inside/inside.js"} <= set(assets)
    for url in assets:
        assert url.startswith(("/", "data:")), url  # nothing from another host
        if url.startswith(("/static/", "/inside/")):
            asset = client.get(url)
            assert asset.status_code == 200 and "charset=utf-8" in asset.headers["content-type"]
            # the SVG namespace is a name, not an address: nothing is fetched from it
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\b)", asset.text), url
    assert "Noto Sans CJK SC" in client.get("/static/style.css").text
    assert client.get("/static/../app.py").status_code == 404


def test_openapi_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/health", "/api/models", "/api/generate", "/api/poem", "/api/names", "/v1/models",
            "/v1/completions"} <= set(spec["paths"])
    length = spec["components"]["schemas"]["GenerateRequest"]["properties"]["length"]
    assert (length["minimum"], length["maximum"]) == (0, 2000)


def test_docs_page_works_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assets = re.findall(r'(?:src=|href=|url: )"([^"]+)"', page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets) and any(a.endswith(".css") for a in assets)
    for url in assets:
        assert url.startswith("/"), url  # nothing from another host: the page works offline
        assert client.get(url).status_code == 200, url


def test_cors_is_off_unless_asked(runs_folder, client):
    preflight = {"origin": "http://example.com", "access-control-request-method": "POST"}
    assert "access-control-allow-origin" not in client.options("/api/generate", headers=preflight).headers
    with TestClient(create_app(runs_folder, device="cpu", cors=["http://example.com"])) as c:
        assert c.options("/api/generate", headers=preflight).headers["access-control-allow-origin"] == \
            "http://example.com"


def test_find_runs(tmp_path, tiny_run, runs_folder):
    assert find_runs(tiny_run) == {tiny_run.resolve().name: tiny_run}
    assert list(find_runs(runs_folder)) == ["dinos", "poems", "shakespeare"]
    assert find_runs(tmp_path) == {}  # an empty folder serves no model yet: the studio trains them
    assert find_runs(tmp_path / "missing") == {} and (tmp_path / "missing").is_dir()  # made
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(CharRNNError, match="neither a run folder nor a folder of runs"):
        find_runs(tmp_path / "file.txt")


def test_serve_command_flags_and_errors(tmp_path, capsys):
    import argparse

    from charrnn.commands.serve import add_parsers, cmd_serve

    parser = argparse.ArgumentParser(prog="charrnn")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", str(tmp_path)])
    assert (args.host, args.port, args.max_concurrency, args.cors) == ("127.0.0.1", 8000, 4, [])
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(CharRNNError, match="neither a run folder"):
        cmd_serve(parser.parse_args(["serve", str(tmp_path / "file.txt")]))
    with pytest.raises(CharRNNError, match="--max-concurrency must be in"):
        cmd_serve(parser.parse_args(["serve", str(tmp_path), "--max-concurrency", "0"]))
    with pytest.raises(CharRNNError, match="--port"):
        cmd_serve(parser.parse_args(["serve", str(tmp_path), "--port", "70000"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--help"])
    assert "--max-concurrency" in capsys.readouterr().out


def test_json_keeps_chinese_as_utf8(client):
    response = client.post("/api/generate", json={"model": "poems", "prime": "春", "length": 10, "seed": 1})
    assert response.headers["content-type"] == "application/json"
    text = response.json()["samples"][0]["text"]
    assert json.loads(response.content.decode("utf-8"))["samples"][0]["text"] == text


def test_an_api_key_guards_the_api_but_not_the_page(runs_folder):
    with TestClient(create_app(runs_folder, device="cpu", api_key="s3cret")) as c:
        assert "this server needs an API key" in one_line_error(c.get("/api/models"), 401)
        assert "not right" in one_line_error(c.get("/api/models", headers={"Authorization": "Bearer nope"}), 401)
        refused = c.post("/v1/completions", json={"model": "dinos"})
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        good = {"Authorization": "Bearer s3cret"}
        assert c.get("/api/models", headers=good).status_code == 200
        assert c.post("/v1/completions", json={"model": "dinos", "max_tokens": 3}, headers=good).status_code == 200
        for open_path in ("/health", "/", "/static/app.js", "/inside/inside.js", "/docs", "/openapi.json"):
            assert c.get(open_path).status_code == 200, open_path


def test_the_serve_command_reads_the_key_from_the_environment(runs_folder, monkeypatch, capsys):
    import charrnn.commands.serve as command

    seen = {}

    class NoServer:
        def __init__(self, config):
            seen["app"], self.started = config.app, True

        def run(self):
            pass

    monkeypatch.setattr("uvicorn.Server", NoServer)
    monkeypatch.setenv("CHARRNN_API_KEY", "from-env")
    args = argparse.Namespace(path=str(runs_folder), host="0.0.0.0", port=0, max_rows=16, max_queue=4,
                              max_upload=1 << 20, max_train_time=60.0, max_train_jobs=1, train_queue=2,
                              allow_training=False, max_concurrency=2, timeout=10.0,
                              max_body=65536, cors=[], threads=0, device="cpu", checkpoint="best",
                              log_level="warning", api_key=None)
    assert command.cmd_serve(args) == 0
    assert "without --api-key" not in capsys.readouterr().err
    with TestClient(seen["app"]) as c:
        assert c.get("/api/models").status_code == 401
        assert c.get("/api/models", headers={"Authorization": "Bearer from-env"}).status_code == 200
    monkeypatch.delenv("CHARRNN_API_KEY")
    assert command.cmd_serve(args) == 0
    assert "without --api-key: anyone who can reach it" in capsys.readouterr().err


def test_regulated_poems_and_the_check_over_http(client):
    answer = client.post("/api/poem", json={"model": "poems", "form": "wujue", "meter": "strict", "num": 3,
                                             "seed": 1}).json()
    from charrnn.writers.meter import check, verse_lines

    assert len(answer["poems"]) == 3 and all(check(verse_lines(p["text"]), "pingshui") == [] for p in answer["poems"])
    checked = client.post("/api/poem/check", json={"text": "贞条障曲砌，翠叶贯寒霜。拂牖分龙影，临池待凤翔。\n"
                                                           "床前明月光，疑是地上霜。举头望明月，低头思故乡。"}).json()
    assert [p["ok"] for p in checked["poems"]] == [True, False] and checked["poems"][1]["violations"]
    assert "--meter is for regulated verse" in one_line_error(
        client.post("/api/poem", json={"model": "poems", "chars_per_line": 6, "meter": "strict"}), 400)
    one_line_error(client.post("/api/poem/check", json={"text": "   "}), 400)
    one_line_error(client.post("/api/poem", json={"model": "poems", "meter": "exact"}), 422)
