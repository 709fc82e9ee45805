"""The clients people already use work through guard: the openai SDKs for Python and Node.js,
LangChain's ChatOpenAI and LlamaIndex's OpenAILike, stream and non-stream; and the model list
that chat front ends (Open WebUI, LobeChat, Dify...) read first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import openai
import pytest

from guard.api.app import create_app
from guard.commands.serve import quick_settings
from guard.settings import Settings
from tests.support import serve_app, write_policies

ANSWER = "The capital of France is Paris."
THOUGHT = "France is a country in Europe."
QUESTION = "What is the capital of France?"
MODELS = ["relay-model", "checked-model"]
NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def guard_url(_fake_backend_session, tmp_path_factory) -> str:
    policies = write_policies(
        tmp_path_factory.mktemp("client-policies"),
        {"name": "default"},
        {"name": "checked", "checks": {"patterns": {"deny": ["(?i)forbidden"]}}, "streaming": {"mode": "sentence"}},
    )
    backend = {"kind": "openai", "model": "upstream-model", "api_base": _fake_backend_session.base_url, "retries": 0}
    settings = Settings.model_validate({
        "models": [
            {"name": "relay-model", "backend": backend},
            {"name": "checked-model", "backend": backend, "policy": "checked"},
        ],
        "policies_dir": str(policies),
    })
    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture
def answering(fake_backend):
    fake_backend.set(text=ANSWER, reasoning="field", reasoning_text=THOUGHT, tpot_ms=1)
    return fake_backend


@pytest.mark.parametrize("model", MODELS)
def test_openai_python(answering, guard_url: str, model: str) -> None:
    client = openai.OpenAI(base_url=f"{guard_url}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    out = client.chat.completions.create(model=model, messages=messages)
    assert out.choices[0].message.content == ANSWER
    chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [out.usage.completion_tokens]


async def test_openai_python_async(answering, guard_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{guard_url}/v1", api_key="unused", max_retries=0)
    stream = await client.chat.completions.create(model="checked-model", messages=[{"role": "user", "content": QUESTION}], stream=True)
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == ANSWER
    await client.close()


def _node_skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        return "the openai npm package is missing: run `npm ci --prefix tests/node`"
    return None


@pytest.mark.skipif(_node_skip_reason() is not None, reason=_node_skip_reason() or "")
@pytest.mark.parametrize("model", MODELS)
def test_openai_node(answering, guard_url: str, model: str) -> None:
    proc = subprocess.run(
        ["node", str(NODE_DIR / "chat.mjs"), f"{guard_url}/v1", model],
        capture_output=True, text=True, timeout=60, cwd=NODE_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["content"] == ANSWER and got["model"] == model
    assert got["reasoning"] == THOUGHT
    assert got["streamed"] == ANSWER and got["finish"] == "stop"
    assert got["usage"]["completion_tokens"] > 0
    if model == "relay-model":  # the relay passes reasoning deltas on as reasoning_content
        assert got["streamedReasoning"] == THOUGHT
    assert got["error"] == {"status": 404, "type": "invalid_request_error"}


@pytest.mark.parametrize("model", MODELS)
def test_langchain_chat_openai(answering, guard_url: str, model: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(model=model, base_url=f"{guard_url}/v1", api_key="unused", max_retries=0, timeout=20)
    assert llm.invoke(QUESTION).content == ANSWER
    assert "".join(chunk.content for chunk in llm.stream(QUESTION)) == ANSWER


@pytest.mark.parametrize("model", MODELS)
async def test_langchain_async_stream(answering, guard_url: str, model: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    llm = langchain_openai.ChatOpenAI(model=model, base_url=f"{guard_url}/v1", api_key="unused", max_retries=0,
                                      stream_usage=True)
    chunks = [c async for c in llm.astream(QUESTION)]
    assert "".join(c.content for c in chunks) == ANSWER
    assert sum((c.usage_metadata or {}).get("output_tokens", 0) for c in chunks) > 0


@pytest.mark.parametrize("model", MODELS)
def test_llamaindex_openai_like(answering, guard_url: str, model: str) -> None:
    openai_like = pytest.importorskip("llama_index.llms.openai_like")
    from llama_index.core.llms import ChatMessage

    llm = openai_like.OpenAILike(model=model, api_base=f"{guard_url}/v1", api_key="unused",
                                 is_chat_model=True, max_retries=0, timeout=20)
    messages = [ChatMessage(role="user", content=QUESTION)]
    assert llm.chat(messages).message.content == ANSWER
    last = None
    for last in llm.stream_chat(messages):
        pass
    assert last is not None and last.message.content == ANSWER
    assert llm.complete(QUESTION).text == ANSWER  # complete() on a chat model goes through chat


# ---- what front ends read first ------------------------------------------------------------------


def test_models_in_config_mode_lists_the_configured_names(guard_url: str) -> None:
    data = httpx.get(f"{guard_url}/v1/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["relay-model", "checked-model"]
    assert all(m["object"] == "model" and isinstance(m["created"], int) and m["owned_by"] for m in data["data"])
    client = openai.OpenAI(base_url=f"{guard_url}/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["relay-model", "checked-model"]
    assert client.models.retrieve("checked-model").id == "checked-model"


def test_models_in_quick_start_mode_lists_the_backend_models(fake_backend) -> None:
    fake_backend.set(model="qwen2.5:7b", dialect="ollama")
    settings = quick_settings(fake_backend.base_url, None, "127.0.0.1", 0, "*")
    with serve_app(create_app(settings)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["qwen2.5:7b"]
        fake_backend.set(text=ANSWER)
        out = client.chat.completions.create(model="qwen2.5:7b", messages=[{"role": "user", "content": QUESTION}])
        assert out.choices[0].message.content == ANSWER and out.model == "qwen2.5:7b"
        assert fake_backend.requests[-1].body["model"] == "qwen2.5:7b"
