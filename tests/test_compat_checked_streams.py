"""Checked streams read the way most apps read a stream: ``chunk.choices[0]`` on every chunk.

OpenAI sends a chunk with ``choices: []`` only when the client asked for usage; guard used to
end every checked stream with one (carrying its verdict), and this code crashed on it
(Python ``IndexError``, Node ``TypeError``). The verdict now rides on the finish chunk.
"""

from __future__ import annotations

import json
import subprocess

import openai
import pytest

from guard.api.app import create_app
from guard.settings import Settings
from tests.support import serve_app, write_policies
from tests.test_compat_clients import NODE_DIR, _node_skip_reason

ANSWER = "The capital of France is Paris."
MODES = ["buffer", "sentence", "observe"]


@pytest.fixture(scope="module")
def guard_url(_fake_backend_session, tmp_path_factory):
    policies = [
        {"name": mode, "checks": {"patterns": {"deny": ["(?i)forbidden"]}}, "streaming": {"mode": mode}} for mode in MODES
    ]
    d = write_policies(tmp_path_factory.mktemp("checked"), *policies)
    backend = {"kind": "openai", "model": "upstream-model", "api_base": _fake_backend_session.base_url, "retries": 0}
    settings = Settings.model_validate({
        "models": [{"name": mode, "backend": backend, "policy": mode} for mode in MODES],
        "policies_dir": str(d), "default_policy": "buffer",
    })
    with serve_app(create_app(settings)) as url:
        yield url + "/v1"


@pytest.fixture
def answering(fake_backend):
    fake_backend.set(text=ANSWER, tpot_ms=1)
    return fake_backend


@pytest.mark.parametrize("mode", MODES)
def test_python_reads_choices_0_of_every_chunk(answering, guard_url, mode) -> None:
    client = openai.OpenAI(base_url=guard_url, api_key="unused", max_retries=0)
    text, finish, verdict = "", None, None
    for chunk in client.chat.completions.create(model=mode, messages=[{"role": "user", "content": "Capital of France?"}], stream=True):
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
        verdict = (chunk.model_extra or {}).get("guard", verdict)
    assert text == ANSWER and finish == "stop"
    assert verdict is not None and verdict["decision"] == "pass"


@pytest.mark.parametrize("mode", MODES)
async def test_python_async_reads_choices_0_of_every_chunk(answering, guard_url, mode) -> None:
    client = openai.AsyncOpenAI(base_url=guard_url, api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model=mode, messages=[{"role": "user", "content": "Capital of France?"}], stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream]) == ANSWER
    await client.close()


@pytest.mark.skipif(_node_skip_reason() is not None, reason=_node_skip_reason() or "")
@pytest.mark.parametrize("mode", MODES)
def test_node_reads_choices_0_of_every_chunk(answering, guard_url, mode) -> None:
    proc = subprocess.run(["node", str(NODE_DIR / "checked_stream.mjs"), guard_url, mode], capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"text": ANSWER, "finish": "stop", "decision": "pass"}


# ---- what each client library exposes of a verdict (docs/clients.md) ---------------------------


@pytest.fixture
def blocked(fake_backend):
    fake_backend.set(text="This is forbidden.", tpot_ms=1)
    return fake_backend


def test_openai_python_exposes_headers_and_the_guard_object(blocked, guard_url) -> None:
    client = openai.OpenAI(base_url=guard_url, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="buffer", messages=[{"role": "user", "content": "q"}])
    assert raw.headers["x-guard-decision"] == "block"
    out = raw.parse()
    assert out.model_extra["guard"]["decision"] == "block" and out.choices[0].finish_reason == "content_filter"


def test_langchain_exposes_headers_and_finish_reason_not_the_guard_object(blocked, guard_url) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(model="buffer", base_url=guard_url, api_key="unused", max_retries=0, include_response_headers=True)
    msg = llm.invoke("q")
    assert msg.response_metadata["headers"]["x-guard-decision"] == "block"
    assert msg.response_metadata["finish_reason"] == "content_filter"
    assert "guard" not in msg.response_metadata and "guard" not in msg.additional_kwargs
    stream = langchain_openai.ChatOpenAI(model="sentence", base_url=guard_url, api_key="unused", max_retries=0)
    finishes = [c.response_metadata.get("finish_reason") for c in stream.stream("q")]
    assert "content_filter" in finishes


def test_llamaindex_exposes_the_raw_response(blocked, guard_url) -> None:
    openai_like = pytest.importorskip("llama_index.llms.openai_like")
    from llama_index.core.llms import ChatMessage

    llm = openai_like.OpenAILike(model="buffer", api_base=guard_url, api_key="unused", is_chat_model=True, max_retries=0)
    r = llm.chat([ChatMessage(role="user", content="q")])
    assert r.raw.model_extra["guard"]["decision"] == "block"
