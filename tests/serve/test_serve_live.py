"""End to end on a live uvicorn server (127.0.0.1, a free port, in a thread): the official `openai`
client, a long request beside short ones, a client that leaves, the load script, and the page driven
in headless Chromium with Playwright (screenshots in artifacts/serve/, which git ignores)."""

from __future__ import annotations

import importlib.util
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import charrnn
from charrnn.serve import Limits, create_app
from charrnn.writers.poem_form import is_line_char
from conftest import REPO_ROOT
from serve_fixtures import live_server, runs_folder  # noqa: F401 (fixtures)

ARTIFACTS = REPO_ROOT / "artifacts" / "serve"


@pytest.fixture(scope="module")
def server(runs_folder):
    with live_server(create_app(runs_folder, device="cpu")) as url:
        yield url


def busy(health: dict) -> bool:
    """Any worker slot taken, any row of any batch held or any request waiting for one."""
    return bool(health["busy"] or any(b["rows"] or b["waiting"] for b in health["batches"].values()))


def wait_until_idle(client: httpx.Client, seconds: float = 10.0) -> float:
    """Seconds until /health says no request is under way (bounded)."""
    start = time.monotonic()
    while busy(client.get("/health").json()):
        assert time.monotonic() - start < seconds, "a worker kept its slot, or a request its rows"
        time.sleep(0.02)
    return time.monotonic() - start


def test_the_openai_client(server, tiny_run):
    import openai

    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=30)
    assert {m.id for m in client.models.list()} == {"dinos", "poems", "shakespeare"}
    ask = dict(model="shakespeare", prompt="ROMEO:", max_tokens=30, temperature=0.8, seed=1)
    done = client.completions.create(**ask, n=2)
    assert done.object == "text_completion" and done.model == "shakespeare" and len(done.choices) == 2
    assert all(len(c.text) == 30 and c.finish_reason == "length" and c.logprobs is None for c in done.choices)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (6, 60, 66)
    one = client.completions.create(**ask).choices[0].text
    assert one == charrnn.load(tiny_run, device="cpu").generate("ROMEO:", 30, 0.8, seed=1)
    chunks = list(client.completions.create(**ask, stream=True))
    assert len(chunks) > 2 and "".join(c.choices[0].text for c in chunks) == one
    assert chunks[-1].choices[0].finish_reason == "length"
    stopped = client.completions.create(**ask, stop=[one[10:12]]).choices[0]
    assert (stopped.text, stopped.finish_reason) == (one[: one.index(one[10:12])], "stop")
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.completions.create(**{**ask, "model": "nope"})
    with pytest.raises(openai.UnprocessableEntityError, match="max_tokens"):
        client.completions.create(**{**ask, "max_tokens": 10**6})
    with pytest.raises(openai.BadRequestError, match="logprobs are not supported"):
        client.completions.create(**ask, logprobs=2)


def test_a_long_request_does_not_stall_the_others(server):
    with httpx.Client(base_url=server, timeout=60) as client, ThreadPoolExecutor(1) as pool:
        long = pool.submit(client.post, "/api/generate", json={"model": "poems", "length": 1000, "num": 16,
                                                               "seed": 1})
        deadline = time.monotonic() + 10
        while not busy(client.get("/health").json()) and not long.done():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        start = time.perf_counter()
        assert client.get("/health").status_code == 200
        short = client.post("/api/generate", json={"model": "dinos", "length": 5, "seed": 1})
        short_seconds = time.perf_counter() - start
        assert short.status_code == 200
        assert not long.done(), "the long request ended first: make it longer"
        assert long.result().status_code == 200
        long_seconds = time.perf_counter() - start
    assert short_seconds < long_seconds / 2, (short_seconds, long_seconds)


def test_a_client_that_leaves_stops_its_writer(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        body = {"model": "poems", "length": 2000, "num": 16, "stream": True}
        with client.stream("POST", "/api/generate", json=body) as r:
            assert r.status_code == 200
            next(r.iter_lines())  # the first piece, then hang up
        assert wait_until_idle(client) < 5


def test_streams_that_are_dropped_free_their_rows_for_the_queue(runs_folder, monkeypatch):
    """Rows full and the queue full: 429. The writers hang up: the queued request gets their rows."""
    from charrnn.generation.batch import Batch

    real = Batch.advance

    def slow_advance(self, leaving=()):  # 5 ms a character: tiny models would finish before the clients leave
        time.sleep(0.005)
        real(self, leaving)

    monkeypatch.setattr(Batch, "advance", slow_advance)
    app = create_app(runs_folder, device="cpu", limits=Limits(max_rows=16, max_queue=1))
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(1) as pool:
        body = {"model": "shakespeare", "length": 2000, "num": 8, "stream": True}  # 10 s of writing each
        streams = [client.stream("POST", "/api/generate", json=body) for _ in range(2)]
        readers = []  # kept: a line iterator that is dropped closes its response
        for s in streams:
            response = s.__enter__()
            assert response.status_code == 200
            readers.append(response.iter_lines())
            next(readers[-1])  # writing
        queued = pool.submit(httpx.post, f"{url}/api/generate", json={"model": "shakespeare", "length": 10},
                             timeout=30)
        deadline = time.monotonic() + 5
        while client.get("/health").json()["batches"]["shakespeare"]["waiting"] == 0:
            assert time.monotonic() < deadline and not queued.done()
            time.sleep(0.01)
        assert client.get("/health").json()["batches"]["shakespeare"]["rows"] == 16
        refused = client.post("/api/generate", json={"model": "shakespeare", "length": 5})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        start = time.monotonic()
        for s in streams:
            s.__exit__(None, None, None)  # every client hangs up
        assert queued.result(timeout=5).status_code == 200 and time.monotonic() - start < 2
        assert wait_until_idle(client) < 2


def test_the_load_script(server):
    spec = importlib.util.spec_from_file_location("load_server", REPO_ROOT / "benchmarks" / "load_server.py")
    load = importlib.util.module_from_spec(spec)
    sys.modules["load_server"] = load  # its dataclasses look their module up there
    spec.loader.exec_module(load)
    levels = load.run_load(server, "dinos", [1, 8], requests=16, length=20, budget=20)
    for level in levels:
        assert level.errors == 0, level.error_samples
        assert level.ok > 0 and level.health_checks >= 1 and level.health_failures == 0
        assert level.ok == 16  # every request answered in the end: the only refusals are deliberate 429s
    with pytest.raises(SystemExit):
        load.check_local("http://example.com:8000")


def test_the_serve_command_in_a_subprocess(tiny_run, tmp_path):
    """The real command: flags, uvicorn on 127.0.0.1, models loaded at start-up, a clean stop."""
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "charrnn", "serve", str(tiny_run), "--port", str(port),
                                 "--device", "cpu", "--max-concurrency", "2"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        idle = {"rows": 0, "max_rows": 64, "waiting": 0, "max_queue": 256}
        assert health == {"status": "ok", "models": [tiny_run.name], "busy": 0, "max_concurrency": 2,
                          "batches": {tiny_run.name: idle}}
        answer = httpx.post(f"http://127.0.0.1:{port}/api/generate", json={"length": 20, "seed": 1}, timeout=30)
        assert len(answer.json()["samples"][0]["text"]) == 20
    finally:
        proc.terminate()
        assert proc.wait(10) == 0, log.read_text()  # a requested stop is a clean exit
    text = log.read_text()
    assert f"serving {tiny_run.name} on http://127.0.0.1:{port}/" in text and "shutdown complete" in text


# --- the page, in a real browser ------------------------------------------------------------------------

def open_page(browser, server: str):
    """The page in a new tab, with the script errors it raises and the requests it makes elsewhere."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1000, "height": 820})
    problems, elsewhere = [], []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: r.url.startswith(server) or elsewhere.append(r.url))
    page.goto(f"{server}/")
    return page, problems, elsewhere


def test_the_page_writes_a_poem_streams_a_story_and_makes_names(server, browser, poems_run):
    from playwright.sync_api import expect

    vocab = charrnn.load(poems_run, device="cpu").vocab
    heads = "".join([c for c in vocab.chars if is_line_char(c)][10:14])
    page, problems, elsewhere = open_page(browser, server)

    # Poem: an acrostic 五言绝句 that rhymes
    page.select_option("#model", "poems")
    expect(page.locator("#tab-poem")).to_have_attribute("aria-selected", "true")
    page.select_option("#poem-form select[name=form]", "wujue")
    page.fill("#poem-form input[name=acrostic]", heads)
    page.check("#poem-form input[name=rhyme]")
    page.click("#poem-form button[type=submit]")
    lines = page.locator("#poem-out .poem-line")
    expect(lines).to_have_count(4)
    texts = lines.all_inner_texts()
    assert [t[0] for t in texts] == list(heads)
    assert [t[-1] for t in texts] == ["，", "。", "，", "。"] and all(len(t) == 6 for t in texts)
    expect(page.locator("#error")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "poem.png", full_page=True)

    # Regulated verse with a keyword, then the check box on a Tang poem and on a planted fault
    page.fill("#poem-form input[name=acrostic]", "")
    page.select_option("#poem-form select[name=meter]", "strict")
    page.fill("#poem-form input[name=keywords]", heads[0])
    page.click("#poem-form button[type=submit]")
    # the first poem's four lines are still there while this one is written: wait for the panel instead
    expect(page.locator("#panel-poem")).to_have_attribute("aria-busy", "false", timeout=30_000)
    expect(lines).to_have_count(4)
    assert heads[0] in "".join(lines.all_inner_texts())
    page.fill("#check-form textarea[name=text]", "贞条障曲砌，翠叶贯寒霜。拂牖分龙影，临池待凤翔。\n"
                                                 "贞条障曲砌，翠叶贯寒霜。拂牖分我影，临池待凤翔。")
    page.click("#check-form button[type=submit]")
    expect(page.locator("#check-out")).to_contain_text("1. OK")
    expect(page.locator("#check-out")).to_contain_text("line 3, character 4 “我”: wanted 平")
    page.screenshot(path=ARTIFACTS / "poem-verse.png", full_page=True)
    page.select_option("#poem-form select[name=meter]", "off")
    page.fill("#poem-form input[name=keywords]", "")

    # Story: the continuation arrives in many small events and is shown as it comes
    page.select_option("#model", "shakespeare")
    expect(page.locator("#tab-story")).to_have_attribute("aria-selected", "true")
    page.fill("#story-form textarea[name=prime]", "ROMEO:")
    page.fill("#story-form input[name=length]", "400")
    page.click("#story-form button[type=submit]")
    expect(page.locator("#story-out")).to_have_attribute("data-state", "done", timeout=20_000)
    assert page.inner_text("#story-prime") == "ROMEO:" and len(page.text_content("#story-cont")) == 400
    assert int(page.get_attribute("#story-out", "data-events")) >= 400 // 8
    page.screenshot(path=ARTIFACTS / "story.png", full_page=True)

    # Names, then a refused request shows its error
    page.select_option("#model", "dinos")
    expect(page.locator("#tab-names")).to_have_attribute("aria-selected", "true")
    page.fill("#names-form input[name=num]", "8")
    page.click("#names-form button[type=submit]")
    expect(page.locator("#names-out li")).to_have_count(8)
    page.click("[data-again=names-form]")  # regenerate
    expect(page.locator("#names-out li")).to_have_count(8)
    page.click("#tab-poem")
    page.click("#poem-form button[type=submit]")
    expect(page.locator("#error")).to_contain_text("400: this run's vocabulary has no")
    page.screenshot(path=ARTIFACTS / "names-error.png", full_page=True)

    # A phone-width screen: nothing wider than the screen
    phone = browser.new_page(viewport={"width": 375, "height": 740}, device_scale_factor=2)
    phone.goto(f"{server}/")
    phone.select_option("#model", "poems")
    phone.click("#poem-form button[type=submit]")
    expect(phone.locator("#poem-out .poem-line")).to_have_count(4)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot(path=ARTIFACTS / "phone.png", full_page=True)
    print(f"screenshots in {ARTIFACTS}")
    assert not problems and not elsewhere, (problems, elsewhere)


def test_the_page_looks_inside_and_shows_training(server, browser):
    from playwright.sync_api import expect

    page, problems, elsewhere = open_page(browser, server)
    page.select_option("#model", "shakespeare")
    page.click("#tab-inside")
    page.fill("#inside-form textarea[name=text]", "ROMEO:\nBut soft, what light (through) yonder window breaks?\n")
    page.click("#inside-form button[type=submit]")
    chars = page.locator("#inside-out span.ch")
    expect(chars).to_have_count(len("ROMEO:\nBut soft, what light (through) yonder window breaks?\n"))

    # hover: the tooltip shows that character's guesses
    chars.nth(10).hover()
    tip = page.locator(".inside-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("the model's guesses for this character")
    assert tip.inner_text().count("%") == 5  # top 5 guesses
    colours = lambda: chars.evaluate_all("spans => spans.map(s => s.style.background)")  # noqa: E731
    by_surprisal = colours()

    # picking one of the finder's units recolours the text by its activation
    options = page.locator("#inside-out select option")
    assert options.count() >= 3 and options.nth(2).inner_text().startswith("unit ")
    page.select_option("#inside-out select", index=2)
    expect(page.locator(".inside-legend")).to_contain_text("unit ")
    assert colours() != by_surprisal
    chars.nth(20).hover()
    page.screenshot(path=ARTIFACTS / "inside.png", full_page=True)

    # any unit can be asked for by name, besides the finder's
    page.fill("#inside-form input[name=unit]", "0:7:c")
    page.click("#inside-form button[type=submit]")
    expect(page.locator(".inside-legend")).to_contain_text("unit 0:7:c")

    # the Training tab draws the run's curves from its metrics
    page.click("#tab-training")
    expect(page.locator("#training-chart path.train")).to_have_count(1)
    expect(page.locator("#training-summary")).to_contain_text("steps")
    page.screenshot(path=ARTIFACTS / "training.png", full_page=True)
    assert not problems and not elsewhere, (problems, elsewhere)


def test_sigterm_ends_streams_with_an_error_event_and_exits_0(runs_folder, tmp_path):
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "charrnn", "serve", str(runs_folder), "--port", str(port),
                                 "--device", "cpu", "--timeout", "60"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        body = {"model": "poems", "length": 2000, "num": 16, "stream": True}
        with httpx.stream("POST", f"{base}/api/generate", json=body, timeout=30) as r:
            lines = r.iter_lines()
            next(lines)  # writing
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rest = "\n".join(lines)
        assert "event: error" in rest and "the server is stopping" in rest
        assert proc.wait(10) == 0, log.read_text()
        assert time.monotonic() - stopped_at < 10  # well within the request time limit
    finally:
        if proc.poll() is None:
            proc.kill()
