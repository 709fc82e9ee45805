"""The reviewer page in a real browser (Playwright + Debian Chromium) over real HTTP.

Log in, open the riskiest item with the keyboard, claim it, edit and approve it; the hostile
answer must show as text (no script runs, no dialog opens). A screenshot of the item page is
saved under tests/output/.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from review_support import new_item

from guard.review import open_store
from tests.review_support import CHROMIUM, chromium
from tests.support import serve_app
from guard.settings import ReviewConfig, Reviewer
from review_queue.app import create_review_app
from review_queue.auth import hash_password

OUTPUT = Path(__file__).parent / "output"
XSS_ANSWER = '<script>alert("pwned")</script> It uses 670B GPUs. <img src=x onerror=alert(1)>'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium is not installed at {CHROMIUM} "
                       "(apt-get install -y chromium)"),
]


def run(coro):
    """Run a store call from inside Playwright's sync API, which keeps an event loop in this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def review_server(tmp_path) -> Iterator[tuple[str, object]]:
    """The review app served by uvicorn on loopback in a thread; yields (base URL, store)."""
    store = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    config = ReviewConfig(reviewers=[Reviewer(username="ann", password_hash=hash_password("ann-password", 4))])
    app = create_review_app(store, config, knowledge_sink=lambda text, provenance: None)
    try:
        with serve_app(app) as base:
            yield base, store
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; each test gets its own context."""
    with chromium() as b:
        yield b


@pytest.fixture
def browser_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_log_in_claim_edit_approve_in_a_browser(review_server, browser_page):
    base, store = review_server
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    annotation = {"sentences": [{"text": "It uses 670B GPUs.", "start": 40, "end": 58, "support": 0.05,
                                 "unsupported": True, "reasons": ["number 670B not in evidence"],
                                 "evidence": [{"passage_id": "hw-3", "source": "hardware.md",
                                               "span": "The cluster uses 2048 GPUs.", "score": 0.61}]}]}
    held = run(store.create_item(new_item(answer=XSS_ANSWER, annotation=annotation, confidence=0.05)))
    run(store.create_item(new_item(confidence=0.8)))  # less risky: sorted after

    page.goto(f"{base}/")
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "ann-password")
    page.click("button[type=submit]")
    page.wait_for_selector("table.queue")

    page.keyboard.press("j")  # select the first (riskiest) row, open it
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/items/{held.id}*")
    page.keyboard.press("c")  # claim
    page.wait_for_selector("#final_answer")

    answer = page.locator("#answer")
    assert '<script>alert("pwned")</script>' in answer.inner_text()
    assert "<img src=x onerror=alert(1)>" in answer.inner_text()
    assert page.locator("#answer script, #answer img").count() == 0
    assert page.locator(".sentence.unsupported").inner_text().startswith("It uses 670B GPUs.")
    assert "The cluster uses 2048 GPUs." in page.locator(".evidence").inner_text()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "review_item.png"), full_page=True)

    page.keyboard.press("e")  # focus the editor, replace the answer, save with Ctrl+Enter
    assert page.evaluate("document.activeElement.id") == "final_answer"
    page.fill("#final_answer", "It uses 2048 GPUs.")
    page.check("#add_to_knowledge")
    page.keyboard.press("Control+Enter")  # approve: the changed answer is shown as a diff first
    page.wait_for_selector("#diff")
    page.keyboard.press("Enter")
    page.wait_for_url("**/items/*msg=decided")  # the next item opens
    assert "Decision saved." in page.content()

    done = run(store.get(held.id))
    assert (done.status, done.final_answer, done.reviewer) == ("edited", "It uses 2048 GPUs.", "ann")
    assert "knowledge_added" in [e.action for e in run(store.events(held.id))]
    assert dialogs == []  # no script from the answer ran


def test_waiting_caller_receives_the_answer_a_reviewer_edits_in_the_browser(browser_page, fake_backend, knowledge_index, tmp_path):
    """The whole loop: caller → guard holds → reviewer edits in Chromium → the same caller gets it."""
    import httpx

    from tests.support import run_guard, settings_for, write_policies

    write_policies(
        tmp_path / "p",
        {
            "name": "default",
            "checks": {"grounding": {}},
            "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 60000},
            "hold": {"wait_s": 90},
        },
    )
    settings = settings_for(
        fake_backend.base_url,
        tmp_path / "p",
        knowledge={"index_dir": str(knowledge_index)},
        review={"store_url": f"sqlite:///{tmp_path / 'q.sqlite3'}", "reviewers": [{"username": "ann", "password_hash": hash_password("ann-password", 4)}]},
    )
    fake_backend.set(text=XSS_ANSWER)
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with run_guard(settings, warm=True) as base:
        result: dict = {}
        caller = threading.Thread(target=lambda: result.update(httpx.post(
            f"{base}/chat/completions", timeout=120,
            json={"model": "test-model", "messages": [{"role": "user", "content": "How many GPUs does the cluster use?"}]},
        ).json()))
        caller.start()
        root = base.removesuffix("/v1")
        page.goto(f"{root}/review/")
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", "ann-password")
        page.click("button[type=submit]")
        deadline = time.monotonic() + 60
        while page.locator("table.queue tbody tr").count() == 0:  # the hold arrives while we look
            assert time.monotonic() < deadline, "the held answer never reached the queue"
            time.sleep(0.5)
            page.reload()
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        page.wait_for_url("**/items/*")
        page.keyboard.press("c")
        page.wait_for_selector("#final_answer")
        assert '<script>alert("pwned")</script>' in page.locator("#answer").inner_text()
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "held_item.png"), full_page=True)
        page.keyboard.press("e")
        page.fill("#final_answer", "The cluster uses 2048 GPUs.")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#diff")
        page.keyboard.press("Enter")
        page.wait_for_url("**/?msg=decided")
        caller.join(60)
    assert result["choices"][0]["message"]["content"] == "The cluster uses 2048 GPUs."
    assert result["guard"]["decision"] == "reviewed" and result["guard"]["review_status"] == "edited"
    assert dialogs == []
