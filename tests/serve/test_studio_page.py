"""The Train tab in Chromium, as a user drives it: paste a text, name it, 20 s, Start; the curve and
a sample appear; Stop and Resume; once done, the model writes in the Story tab."""

from __future__ import annotations

from charrnn.serve import create_app
from conftest import MIRROR, REPO_ROOT
from serve_fixtures import live_server

ARTIFACTS = REPO_ROOT / "artifacts" / "serve"


def test_a_text_becomes_a_model_that_writes(tmp_path, browser):
    from playwright.sync_api import expect

    text = (MIRROR / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:30_000]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with live_server(create_app(tmp_path / "runs", device="cpu")) as url:
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        problems = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{url}/")
        expect(page.locator("#tab-train")).to_have_attribute("aria-selected", "true")  # no model yet
        page.fill("#train-form textarea[name=text]", text)
        page.fill("#train-form input[name=name]", "my-shakespeare")
        page.select_option("#train-form select[name=budget]", "custom")
        page.fill("#train-form input[name=seconds]", "20")
        page.click("#train-form button[type=submit]")

        expect(page.locator("#train-chart circle.dot")).to_have_count(2, timeout=60_000)  # two val points, then more
        expect(page.locator("#train-sample")).not_to_be_empty(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "studio-training.png", full_page=True)
        page.click("#train-stop")
        expect(page.locator("#train-out")).to_have_attribute("data-state", "stopped", timeout=30_000)
        expect(page.locator("#train-resume")).to_be_visible()
        page.click("#train-resume")
        expect(page.locator("#train-out")).to_have_attribute("data-state", "done", timeout=90_000)
        assert page.locator("#train-chart circle.dot").count() >= 2
        page.screenshot(path=ARTIFACTS / "studio-done.png", full_page=True)

        expect(page.locator("#model")).to_have_value("my-shakespeare")  # chosen for the other tabs
        page.click("#tab-story")
        page.fill("#story-form textarea[name=prime]", "ROMEO:")
        page.fill("#story-form input[name=length]", "120")
        page.click("#story-form button[type=submit]")
        expect(page.locator("#story-out")).to_have_attribute("data-state", "done", timeout=20_000)
        assert len(page.text_content("#story-cont")) == 120
        page.screenshot(path=ARTIFACTS / "studio-story.png", full_page=True)

        phone = browser.new_page(viewport={"width": 360, "height": 800})
        phone.goto(f"{url}/")
        phone.click("#tab-train")
        width = phone.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(path=ARTIFACTS / "studio-phone.png", full_page=True)
        assert width <= 360  # nothing wider than a phone
        assert not problems, problems
