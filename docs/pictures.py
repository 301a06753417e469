"""Make the pictures of the README and docs/looking-inside.md from real runs.

    CHARRNN_DATA=../shared/corpora python docs/pictures.py RUN_LSTM RUN_GRU RUN_TANG
    CHARRNN_DATA=../shared/corpora python docs/pictures.py --studio

    docs/curves.png          `charrnn plot RUN_LSTM RUN_GRU --x seconds --lr`
    docs/inspect-terminal.png  `charrnn inspect RUN_LSTM` on a terminal (its 24-bit colours drawn as HTML)
    docs/inside-tab.png      the web app's Inside tab on RUN_LSTM, a unit picked, a character hovered
    docs/inside-tang.png     the Inside tab on RUN_TANG, coloured by its best poem_position unit
    docs/studio.png          --studio: the Train tab learning 100,000 characters of tinyshakespeare
                             pasted into it (a fresh server on an empty folder, the defaults, 240 s),
                             at its fifth eval

Needs Debian's chromium (driven by Playwright, as the tests do).
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
CHARRNN = str(Path(sys.executable).parent / "charrnn")
CHROMIUM = "/usr/bin/chromium"
VERSE = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
TANG = "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"


def ansi_to_html(text: str) -> str:
    """The few escapes `charrnn inspect` writes (24-bit background and foreground, underline, reset)."""
    out, open_span = [], False
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        codes = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if not codes:
            out.append(html.escape(part))
            continue
        numbers = codes[1].split(";")
        if numbers == ["0"]:
            out.append("</span>" * open_span)
            open_span = False
        elif numbers[:2] == ["48", "2"]:
            out.append(f'<span style="background: rgb({",".join(numbers[2:5])}); color: #000">')
            open_span = True  # one span per character: the reset that follows closes it
    return "".join(out).replace("\x1b[4m", "")


def terminal_picture(run: str, browser) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    script = ("import sys, charrnn.commands.main; sys.stdout.isatty = lambda: True; "
              "sys.exit(charrnn.commands.main.main(sys.argv[1:]))")
    shown = subprocess.run([sys.executable, "-c", script, "inspect", run, "--text", VERSE, "--device", "cpu"],
                           capture_output=True, text=True, check=True, env=env).stdout
    page = browser.new_page(viewport={"width": 1100, "height": 300})
    page.set_content(f"""<body style="margin:0;background:#1d2330;color:#e8e8e8">
<pre style="font: 15px/1.5 'DejaVu Sans Mono', monospace; padding: 14px; margin: 0">
<span style="color:#9aa">$ charrnn inspect runs/shakespeare --text "ROMEO: ..."</span>
{ansi_to_html(shown)}</pre></body>""")
    page.locator("pre").screenshot(path=DOCS / "inspect-terminal.png")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(port: int, seconds: float = 60) -> None:
    """Until the server answers /health: its models are loaded (accepting connections comes first)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server on port {port} did not start within {seconds:g}s")
        time.sleep(0.2)


def inside_pictures(runs: list[str], browser) -> None:
    folder = DOCS / ".pictures-runs"
    folder.mkdir(exist_ok=True)
    for run in runs:
        link = folder / Path(run).name
        if not link.exists():
            link.symlink_to(Path(run).resolve(), target_is_directory=True)
    port = free_port()
    server = subprocess.Popen([CHARRNN, "serve", str(folder), "--port", str(port), "--log-level", "warning"])
    try:
        wait_for_server(port)
        for run, text, name, hover in ((runs[0], VERSE, "inside-tab.png", 25), (runs[2], TANG, "inside-tang.png", 8)):
            page = browser.new_page(viewport={"width": 900, "height": 780})
            page.goto(f"http://127.0.0.1:{port}/")
            page.select_option("#model", Path(run).name)
            page.click("#tab-inside")
            page.fill("#inside-form textarea[name=text]", text)
            page.click("#inside-form button[type=submit]")
            page.wait_for_selector("#inside-out span.ch")
            page.select_option("#inside-out select", index=2)
            page.locator("#inside-out span.ch").nth(hover).hover()
            page.screenshot(path=DOCS / name)
    finally:
        server.terminate()
        server.wait(10)
        for link in folder.iterdir():
            link.unlink()
        folder.rmdir()


def studio_picture(browser) -> None:
    import tempfile

    text = (Path(os.environ["CHARRNN_DATA"]) / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = subprocess.Popen([CHARRNN, "serve", folder, "--port", str(port), "--log-level", "warning"])
        try:
            wait_for_server(port)
            page = browser.new_page(viewport={"width": 900, "height": 1150})
            page.goto(f"http://127.0.0.1:{port}/")
            page.eval_on_selector("#train-form textarea[name=text]", "(box, text) => { box.value = text; }",
                                  text[:100_000])  # as a paste would (filling 100,000 characters key by key is slow)
            page.fill("#train-form input[name=name]", "my-shakespeare")
            page.select_option("#train-form select[name=budget]", "custom")
            page.fill("#train-form input[name=seconds]", "240")
            page.click("#train-form button[type=submit]")
            deadline = time.monotonic() + 200  # (the page's policy allows no script from a string: polled here)
            while page.locator("#train-chart circle.dot").count() < 5 and time.monotonic() < deadline:
                time.sleep(0.5)
            page.screenshot(path=DOCS / "studio.png")
        finally:
            server.terminate()
            server.wait(30)


def main() -> None:
    if sys.argv[1:] == ["--studio"]:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            studio_picture(browser)
            browser.close()
        return
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    runs = sys.argv[1:]
    subprocess.run([CHARRNN, "plot", runs[0], runs[1], "-o", str(DOCS / "curves.png"), "--x", "seconds", "--lr"],
                   check=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        terminal_picture(runs[0], browser)
        inside_pictures(runs, browser)
        browser.close()


if __name__ == "__main__":
    main()
