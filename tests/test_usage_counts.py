"""Usage a client can bill on when the backend sends none in a stream: the prompt counted by
the backend's tokenizer over the rendered template, and what is still estimated marked."""

from __future__ import annotations

import httpx
import pytest

from guard.backend.tokenize import CHATML, render
from guard.testing.fake_reply import split_tokens
from tests.support import run_guard, settings_for, write_policies

MESSAGES = [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}]
SMOL = (  # SmolLM2's template, as its GGUF carries it: a default system prompt when none is sent
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def stream_usage(base: str, endpoint: str = "chat/completions", **body) -> dict:
    payload = {"model": "test-model", "stream": True, "stream_options": {"include_usage": True}, **body}
    if endpoint == "chat/completions":
        payload.setdefault("messages", MESSAGES)
    with httpx.stream("POST", f"{base}/{endpoint}", json=payload, timeout=10) as r:
        text = r.read().decode()
    import json

    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert chunks[-1]["choices"] == []
    return chunks[-1]["usage"]


@pytest.fixture(params=["relay", "buffer"])
def policies(request, tmp_path):
    if request.param == "relay":
        return write_policies(tmp_path / "p", {"name": "default"})
    return write_policies(tmp_path / "p", {"name": "default", "checks": {"patterns": {"deny": ["nope"]}}})


def guard_with(fake_backend, policies, **backend):
    s = settings_for(fake_backend.base_url, policies)
    for k, v in backend.items():
        setattr(s.models[0].backend, k, v)
    return run_guard(s)


def test_characters_when_nothing_better(fake_backend, policies) -> None:
    fake_backend.set(fault="no_usage", tokens=7)
    with guard_with(fake_backend, policies) as base:
        usage = stream_usage(base)
    assert usage["completion_tokens"] == 7 and usage["estimated"] is True
    assert usage["estimated_fields"] == ["prompt_tokens", "completion_tokens"]


@pytest.mark.parametrize("kind", ["vllm", "sglang", "llama.cpp"])
def test_the_backends_tokenizer_counts_the_rendered_template(fake_backend, policies, kind) -> None:
    fake_backend.set(fault="no_usage", tokens=7)
    with guard_with(fake_backend, policies, tokenize=kind) as base:
        usage = stream_usage(base)
    assert usage["prompt_tokens"] == len(split_tokens(render(CHATML, MESSAGES)))  # the fake's template
    assert usage["estimated_fields"] == ["completion_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + 7


def test_llama_cpp_python_counts_the_configured_template(fake_backend, policies) -> None:
    fake_backend.set(fault="no_usage", tokens=7)
    with guard_with(fake_backend, policies, tokenize="llama-cpp-python", chat_template=SMOL) as base:
        usage = stream_usage(base)
    sent = [r for r in fake_backend.requests if r.path == "/extras/tokenize/count"][-1].body["input"]
    assert "You are a helpful AI assistant named SmolLM" in sent and sent.endswith("<|im_start|>assistant\n")
    assert usage["prompt_tokens"] == len(split_tokens(sent)) and usage["estimated_fields"] == ["completion_tokens"]


def test_llama_cpp_python_without_a_template_says_the_prompt_is_estimated(fake_backend, policies) -> None:
    fake_backend.set(fault="no_usage", tokens=7)
    with guard_with(fake_backend, policies, tokenize="llama-cpp-python") as base:
        usage = stream_usage(base)
    assert usage["prompt_tokens"] == len(split_tokens(render(CHATML, MESSAGES)))
    assert usage["estimated_fields"] == ["prompt_tokens", "completion_tokens"]


def test_unusable_tokenizer_answers_count_nothing() -> None:
    from guard.backend.tokenize import Step, first_step, next_step

    step = Step("tokenize", {}, "count")
    assert next_step("vllm", step, {"error": {"message": "no"}}) is None
    assert next_step("vllm", step, {"count": -1}) is None
    assert next_step("llama.cpp", Step("apply-template", {}, "prompt"), {"prompt": 3}) is None
    assert first_step("vllm", "completions", {"prompt": [[1, 2, 3]]}, None) is None  # token ids
    assert first_step("none", "chat/completions", {"messages": MESSAGES}, None) is None


async def test_an_unreachable_tokenizer_gives_no_count() -> None:
    from guard.backend.relay import RelayUpstream
    from guard.settings import BackendConfig

    up = RelayUpstream("m", BackendConfig(model="m", api_base="http://127.0.0.1:9/v1", tokenize="vllm"))
    assert await up.count_prompt_tokens("chat/completions", {"model": "m", "messages": MESSAGES}) is None
    await up.close()


def test_backend_usage_is_passed_on_untouched(fake_backend, policies) -> None:
    fake_backend.set(tokens=7)
    with guard_with(fake_backend, policies, tokenize="vllm") as base:
        usage = stream_usage(base)
    assert "estimated" not in usage and usage["completion_tokens"] == 7
    assert not [r for r in fake_backend.requests if r.path == "/tokenize"]


def test_guard_up_reads_the_chat_template_from_the_gguf() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from pathlib import Path

    from guard.commands.serve import embedded_settings, smollm2_path
    from guard.settings import load_settings

    if not smollm2_path().exists():
        pytest.skip("the SmolLM2 GGUF is not installed")
    settings = embedded_settings(load_settings(Path(__file__).resolve().parent.parent / "guard.yaml"), 8081)
    template = settings.models[0].backend.chat_template
    assert template and "SmolLM" in template  # its default system prompt, which the count includes
    assert embedded_settings(load_settings(Path(__file__).resolve().parent.parent / "guard.yaml"), 9999).models[0].backend.chat_template is None
