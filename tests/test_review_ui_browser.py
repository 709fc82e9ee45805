"""The reviewer's day in real Chromium at 1366x768: decide fast, decide safely, in English and Chinese.

One browser and one review server for the whole module (each test has its own browser context,
so its own cookies, and its own policy, so its own queue filter). Screenshots land in
tests/output/ and the layout is checked by the test: the claim, the flagged claims and the
decision form are inside the first screen.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from review_support import new_item

from guard.review import open_store
from guard.settings import ReviewConfig, Reviewer
from review_queue.app import create_review_app
from review_queue.auth import hash_password
from tests.review_support import CHROMIUM, chromium
from tests.support import serve_app

OUTPUT = Path(__file__).parent / "output"
VIEWPORT = {"width": 1366, "height": 768}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium is not installed at {CHROMIUM}"),
]


def run(coro):
    """A store call from inside Playwright's sync API, which keeps an event loop in this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, text: str, provenance: dict) -> None:
        self.calls.append((text, provenance))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('ui') / 'review.sqlite3'}")
    config = ReviewConfig(reviewers=[Reviewer(username="ann", password_hash=hash_password("ann-password", 4))])
    sink = Sink()
    app = create_review_app(store, config, knowledge_sink=sink)
    try:
        with serve_app(app) as base:
            yield base, store, sink
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module; each test gets its own context."""
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    p = context.new_page()
    p.dialogs = []
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    try:
        yield p
    finally:
        context.close()


def log_in(page, base: str, lang: str = "en") -> None:
    """By keyboard: the user name field has focus when the page opens."""
    page.goto(f"{base}/login?lang={lang}")
    # autofocus lands a moment after the load event on a busy machine: typing earlier goes nowhere
    page.wait_for_function("document.activeElement && document.activeElement.name === 'username'")
    page.keyboard.type("ann")
    page.keyboard.press("Tab")
    page.keyboard.type("ann-password")
    page.keyboard.press("Enter")
    page.wait_for_selector("table.queue, p.empty")


GPU_ANNOTATION = {"sentences": [
    {"text": "The cluster has 2048 GPUs.", "start": 0, "end": 26, "support": 0.91, "unsupported": False,
     "reasons": [], "codes": [],
     "evidence": [{"passage_id": "hw-1", "source": "hardware.md", "span": "The cluster has 2048 H800 GPUs.",
                   "score": 0.95}]},
    {"text": "It was built in 2019.", "start": 27, "end": 48, "support": 0.32, "unsupported": True,
     "reasons": ["number 2019 not in evidence"], "codes": [{"code": "number_missing", "params": {"value": "2019"}}],
     "evidence": [{"passage_id": "doc-2", "source": "request", "span": "The cluster was built in 2021 in Hangzhou.",
                   "score": 0.71, "title": "集群建设记录 (Cluster history)", "document": "history.pdf"}]},
]}
GPU_ANSWER = "The cluster has 2048 GPUs. It was built in 2019."


def _gpu_item(policy: str, **kw):
    fields = dict(policy=policy, answer=GPU_ANSWER, annotation=GPU_ANNOTATION, confidence=0.3,
                  request={"messages": [{"role": "user", "content": "Tell me about the cluster."}]})
    fields.update(kw)
    return new_item(**fields)


def _open_first(page, base: str, policy: str) -> None:
    page.goto(f"{base}/?policy={policy}")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_selector("#decide-form")


def test_approve_with_edit_saves_the_edit_and_the_knowledge_base_gets_exactly_it(page, server):
    base, store, sink = server
    item = run(store.create_item(_gpu_item("edit-trap")))
    log_in(page, base)
    _open_first(page, base, "edit-trap")
    corrected = "The cluster has 2048 GPUs. It was built in 2021."
    page.fill("#final_answer", corrected)
    assert page.locator("#edited-note").is_visible()  # said before pressing anything
    page.check("#add_to_knowledge")
    page.click("#approve")  # the one Approve button, as the README says
    page.wait_for_selector("#diff")
    assert "2019" in page.locator("#diff del").all_inner_texts() and "2021" in page.locator("#diff ins").all_inner_texts()
    assert run(store.get(item.id)).status == "pending" and sink.calls == []  # nothing saved before confirming
    assert page.locator("#still-unsupported").count() == 0  # the flagged claim was rewritten
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "review_confirm_edit.png"))
    page.keyboard.press("Enter")  # the confirm button has focus
    page.wait_for_url(re.compile(r".*msg=decided.*"))
    done = run(store.get(item.id))
    assert (done.status, done.final_answer) == ("edited", corrected)
    assert [c for c in sink.calls if c[1]["item_id"] == item.id] == [(corrected, sink.calls[-1][1])]
    assert sink.calls[-1][0] == corrected


def test_knowledge_base_with_flagged_claims_asks_and_names_them(page, server):
    base, store, sink = server
    item = run(store.create_item(_gpu_item("kb-ask")))
    log_in(page, base)
    _open_first(page, base, "kb-ask")
    page.check("#add_to_knowledge")
    page.keyboard.press("a")
    page.wait_for_selector("#still-unsupported")
    assert page.locator("#still-unsupported").inner_text().strip() == "It was built in 2019."
    assert page.locator("#diff").count() == 0  # unchanged: nothing to diff
    assert run(store.get(item.id)).status == "pending"
    page.uncheck("#add_to_knowledge")  # the reviewer changes their mind: a plain approval
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r".*msg=decided.*"))
    assert run(store.get(item.id)).status == "approved"
    assert not [c for c in sink.calls if c[1]["item_id"] == item.id]


def _long_item(policy: str):
    """A long question and a long answer with six flagged claims among twelve sentences."""
    sentences, answer = [], ""
    for i in range(12):
        text = f"Claim number {i} says the cluster has {1000 + i} GPUs in rack {i}."
        sentences.append({"text": text, "start": len(answer), "end": len(answer) + len(text), "support": 0.1 if i % 2 else 0.9,
                          "unsupported": bool(i % 2), "reasons": [f"number {1000 + i} not in evidence"] if i % 2 else [],
                          "codes": [{"code": "number_missing", "params": {"value": str(1000 + i)}}] if i % 2 else [],
                          "evidence": [{"passage_id": f"p{i}", "source": "hardware.md", "score": 0.5,
                                        "span": "The cluster has 2048 GPUs in eight racks of 256."}]})
        answer += text + " "
    question = "Please describe, in detail, " + "the cluster's hardware and its history, " * 12 + "thank you."
    return new_item(policy=policy, answer=answer.strip(), annotation={"sentences": sentences}, confidence=0.3,
                    request={"messages": [{"role": "user", "content": question}]})


@pytest.mark.parametrize("lang,long", [("en", False), ("zh", False), ("zh", True)])
def test_first_screen_shows_claim_flagged_claims_and_form(page, server, lang, long):
    base, store, _ = server
    policy = f"layout-{lang}{'-long' if long else ''}"
    if long:
        run(store.create_item(_long_item(policy)))
    else:
        run(store.create_item(_gpu_item(policy, reasons=["confidence 0.30 is in the band from 0.00: hold"] * 3)))
    log_in(page, base, lang)
    _open_first(page, base, policy)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"review_item_1366x768_{lang}{'_long' if long else ''}.png"))
    for selector in ("#question", "#answer", "#flagged", "#decide-form", "#approve", "#reject"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] >= 0, selector
        assert box["y"] + (box["height"] if selector != "#decide-form" else 40) <= VIEWPORT["height"], selector
    assert page.evaluate("document.scrollingElement.scrollTop") == 0
    assert page.locator("#meta").get_attribute("open") is None  # metadata folded away
    if long:
        assert page.locator("#flagged .claim").count() == 6
        return
    # evidence that explains: marks, labelled scores, the request document's title
    assert "2048" in page.locator("mark.m-number").all_inner_texts()
    assert "2021" in page.locator("mark.m-conflict").all_inner_texts()
    assert "cluster" in [t.lower() for t in page.locator("mark.m-match").all_inner_texts()]
    scores = page.locator(".evidence .score").all_inner_texts()
    retrieval, support = ("检索得分", "支持度") if lang == "zh" else ("retrieval", "support")
    assert f"{retrieval} 0.95" in scores and f"{support} 0.32" in scores
    assert "集群建设记录 (Cluster history)" in page.locator(".doctitle").inner_text()
    why = page.locator("#flagged .why").inner_text()
    assert why == ("证据中没有数字 2019" if lang == "zh" else "number 2019 not in evidence")
    if lang == "zh":
        assert "拦截" not in page.locator(".itemhead").inner_text()
        assert page.locator("#decide-form").inner_text().count("通过") >= 1


def test_chinese_glyphs_render_not_tofu(page, server):
    base, _, _ = server
    log_in(page, base, "zh")
    widths = page.evaluate("""() => {
        const font = getComputedStyle(document.body).font;
        const c = document.createElement("canvas").getContext("2d");
        c.font = font;
        const size = parseFloat(getComputedStyle(document.body).fontSize);
        const bitmap = (ch) => {
            const cv = document.createElement("canvas"); cv.width = 40; cv.height = 40;
            const x = cv.getContext("2d"); x.font = font; x.fillText(ch, 2, 30);
            return Array.from(x.getImageData(0, 0, 40, 40).data).join(",");
        };
        return {size: size, cjk: c.measureText("审核队列").width, missing: c.measureText("\\uE000\\uE001\\uE002\\uE003").width,
                same: bitmap("审") === bitmap("核"), tofu: bitmap("审") === bitmap("\\uE000")};
    }""")
    assert not widths["same"] and not widths["tofu"], widths
    assert abs(widths["cjk"] - 4 * widths["size"]) < 0.15 * widths["size"] * 4, widths  # full-width glyphs
    assert widths["cjk"] != widths["missing"], widths
    assert "人工审核队列" in page.locator("header").inner_text()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "review_queue_zh.png"))


def test_history_and_audit_read_as_chinese_text(page, server):
    base, store, _ = server
    item = run(store.create_item(_gpu_item("zh-audit")))
    log_in(page, base, "zh")
    _open_first(page, base, "zh-audit")
    page.keyboard.press("r")
    page.keyboard.type("编造的年份")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*msg=decided.*"))
    assert run(store.get(item.id)).reject_reason == "编造的年份"
    page.goto(f"{base}/items/{item.id}")
    page.click("#history summary")
    history = page.locator("#history").inner_text()
    assert "原因: 编造的年份" in history and "驳回" in history and "\\u" not in history
    page.goto(f"{base}/audit")
    audit = page.locator("table.audit").inner_text()
    assert "原因: 编造的年份" in audit and "\\u" not in audit
    page.screenshot(path=str(OUTPUT / "review_audit_zh.png"))


def _keyboard_queue(store) -> dict[str, str]:
    """30 pending items under policy "kbd"; returns question -> what the reviewer will do."""
    plan: dict[str, str] = {}
    ask = lambda q, a, c: run(store.create_item(new_item(  # noqa: E731
        policy="kbd", answer=a, confidence=c, annotation={"sentences": []},
        request={"messages": [{"role": "user", "content": q}]})))
    for _ in range(5):
        ask("What is the refund window?", "Refunds are accepted within 30 days.", 0.1)
    plan["What is the refund window?"] = "approve"
    for _ in range(3):
        ask("Do you ship to Mars?", "Yes, we ship to Mars weekly.", 0.2)
    plan["Do you ship to Mars?"] = "reject"
    ask("Who founded the company?", "The company was founded by Ada Lovelace in 1843.", 0.25)
    ask("Who founded the company?", "The company was founded by Ada Lovelace in 1842.", 0.26)
    plan["Who founded the company?"] = "approve-similar"
    for i in range(20):
        q = f"Question {i}?"
        ask(q, f"Answer number {i}.", 0.3 + i * 0.01)
        plan[q] = ("approve", "reject", "edit")[i % 3]
    return plan


def test_keyboard_only_session_decides_30_items_with_groups(page, server):
    base, store, _ = server
    plan = _keyboard_queue(store)
    log_in(page, base)
    page.goto(f"{base}/?policy=kbd")
    rows = page.locator("tr.row")
    assert rows.count() == 24  # 30 items, the 5 and the 3 identical ones folded into one row each
    assert sorted(page.locator("tr.row .badge.group").all_inner_texts()) == ["3 identical", "5 identical"]
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "review_queue_groups.png"))
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    decisions = 0
    while True:
        page.wait_for_selector("#decide-form, table.queue, p.empty")
        if page.locator("#decide-form").count() == 0:
            break
        question = page.locator("#question").inner_text().strip()
        action = plan[question]
        if decisions == 0:
            assert page.locator("#group-count").inner_text() == "5 identical"
            assert page.locator(".members input:checked").count() == 4  # the identical ones, ticked
            page.screenshot(path=str(OUTPUT / "review_group_item.png"))
        if action == "approve":
            page.keyboard.press("a")
        elif action == "approve-similar":
            assert page.locator(".members .near input").count() == 1
            page.keyboard.press("g")
            page.keyboard.press("a")
        elif action == "reject":
            page.keyboard.press("r")
            page.keyboard.type("invented")
            page.keyboard.press("Enter")
        else:
            page.keyboard.press("e")
            page.keyboard.press("Control+A")
            page.keyboard.type(f"Corrected: {question}")
            page.keyboard.press("Control+Enter")
            page.wait_for_selector("#diff")
            page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*msg=decided.*"))
        decisions += 1
        assert decisions <= 30, "the session does not end"
    assert decisions == 23 and page.dialogs == []

    items = [i for i in run(store.list_items(limit=1000)) if i.policy == "kbd"]
    assert len(items) == 30
    for item in items:
        action = plan[item.question]
        expected = {"approve": "approved", "approve-similar": "approved", "reject": "rejected", "edit": "edited"}[action]
        assert (item.status, item.reviewer) == (expected, "ann"), item.question
        if action == "reject":
            assert item.reject_reason == "invented"
        elif action == "edit":
            assert item.final_answer == f"Corrected: {item.question}"
        else:
            assert item.final_answer == item.answer  # each approved member keeps its own answer
    refunds = [i for i in items if i.question == "What is the refund window?"]
    leader = min(refunds, key=lambda i: i.created_at)
    for item in refunds:  # each member of the group has its own audit record, naming the group
        [decided] = [e for e in run(store.events(item.id)) if e.action == "approved"]
        assert decided.actor == "ann" and decided.detail["group"] == leader.id

    page.goto(f"{base}/stats")
    kbd = page.locator('#per-policy tr[data-policy="kbd"]')
    assert kbd.locator(".share-approved").inner_text() == "14 (47%)"
    assert kbd.locator(".share-edited").inner_text() == "6 (20%)"
    assert kbd.locator(".share-rejected").inner_text() == "10 (33%)"
    assert int(page.locator('#per-reviewer tr[data-reviewer="ann"] td').nth(1).inner_text()) >= 30
    column = page.locator("#per-reviewer-hour thead th").all_inner_texts().index("ann")
    cells = page.locator(f"#per-reviewer-hour tbody tr td:nth-child({column + 1})").all_inner_texts()
    assert sum(int(c) for c in cells if c) >= 30  # the same decisions, hour by hour
    page.screenshot(path=str(OUTPUT / "review_stats.png"), full_page=True)
