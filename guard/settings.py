"""The one settings class: ``guard.yaml`` as pydantic models.

Loaded once by the CLI and handed to ``create_app(settings)``; nothing reads the environment or
files at import time. Paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from guard.redis_url import parse_url, redacted


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Timeouts(Strict):
    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=120.0, gt=0)  # longest silence between two bytes
    total: float = Field(default=600.0, gt=0)


class BreakerConfig(Strict):
    """Circuit breaker: open after ``failures`` consecutive failures, try again after ``cooldown_s``."""

    failures: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=30.0, gt=0)
    # The ``retry-after`` guard's 503 carries while the circuit is open. The SDKs obey it (up to
    # a minute) on each of their ``max_retries`` (2 by default): the remaining cool-down (up to
    # 30 s) made one call to a dead backend take 30 s. A short value lets the caller fail over
    # or give up quickly; None sends the remaining cool-down. docs/clients.md has the arithmetic.
    retry_after_s: float | None = Field(default=1.0, ge=0)
    # False also sends ``x-should-retry: false``: the openai SDKs then do not retry at all.
    client_retry: bool = True


class BackendConfig(Strict):
    """Where one public model name is served.

    ``kind: openai`` relays to any OpenAI-compatible server (vLLM, SGLang, Ollama's /v1,
    llama.cpp, LMDeploy, TensorRT-LLM, hosted OpenAI-compatible APIs) with the least work.
    ``kind: litellm`` goes through litellm for providers that speak another protocol.
    """

    kind: Literal["openai", "litellm"] = "openai"
    model: str  # upstream model name (openai) or litellm model string (litellm)
    api_base: str | None = None
    api_key_env: str | None = None
    timeouts: Timeouts = Timeouts()
    retries: int = Field(default=1, ge=0, le=5)
    breaker: BreakerConfig = BreakerConfig()
    extra_headers: dict[str, str] = {}
    # Forward the request's ``documents`` field to this backend (vLLM's chat templates for RAG
    # models read it); otherwise guard keeps it for the checks and strips it from the request.
    pass_documents: bool = False
    # Send the backend's own error messages to clients. Off by default: they can name internal
    # hosts, paths or keys. Guard always logs them (event backend_error_body).
    expose_errors: bool = False
    # Join a message's ``content`` given as text parts (``[{"type": "text", "text": ...}]``, as
    # guidellm and many SDK helpers send it) into one string before it reaches the backend: some
    # chat templates (llama.cpp's SmolLM2) render parts as nothing and answer an empty stream.
    # Messages with any non-text part are left as they are.
    flatten_text_parts: bool = False
    # Ask for usage on every stream (``stream_options.include_usage``), whatever the client asked;
    # guard drops it again for a client that did not ask. Off for a backend that rejects the field.
    stream_usage: bool = True
    # Where prompt tokens are counted when the backend sends no usage in a stream: the backend's
    # tokenize endpoint over the rendered chat template (llama.cpp's server: /apply-template and
    # /tokenize; llama-cpp-python: /extras/tokenize/count; vLLM and SGLang: /tokenize). "none"
    # estimates from characters, and the usage says ``estimated``.
    tokenize: Literal["none", "llama.cpp", "llama-cpp-python", "vllm", "sglang"] = "none"
    # The model's chat template (Jinja), for counting on a backend that tokenizes but cannot
    # render (llama-cpp-python); ``guard up`` reads it from the GGUF file. None: ChatML, estimated.
    chat_template: str | None = None

    @model_validator(mode="after")
    def _openai_needs_base(self) -> "BackendConfig":
        if self.kind == "openai" and not self.api_base:
            raise ValueError("kind openai needs api_base (for example http://127.0.0.1:8000/v1)")
        if self.kind == "openai" and not re.match(r"https?://[^/?#]+", self.api_base or ""):
            raise ValueError(f"api_base {self.api_base!r} is not an http:// or https:// URL")
        return self

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class ModelConfig(Strict):
    name: str  # the public name clients send in `model`
    backend: BackendConfig
    fallbacks: list[str] = []  # other public model names, tried in order
    policy: str | None = None  # pin a policy by name; otherwise matched by model and tenant
    owned_by: str = "guard"
    # Some DeepSeek-R1 distill chat templates open <think> in the prompt, so the output starts
    # mid-thought with only a closing </think>. A stream cannot tell that from an answer by its
    # first tokens; this says so up front.
    think_opened_in_prompt: bool = False


class ApiKey(Strict):
    """A key is stored as ``sha256:<hex>``; ``guard keys hash`` prints one."""

    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    tenant: str
    policies: list[str] = []  # restrict the tenant to these policies (empty: any that matches)
    rate_per_minute: int | None = Field(default=None, gt=0)
    max_concurrent: int | None = Field(default=None, gt=0)


class AuthConfig(Strict):
    mode: Literal["keys", "none"] = "keys"
    keys: list[ApiKey] = []

    @model_validator(mode="after")
    def _keys_or_none(self) -> "AuthConfig":
        if self.mode == "keys" and not self.keys:
            raise ValueError("auth.mode is keys but no keys are configured (use mode: none for local use)")
        return self


class LimitsConfig(Strict):
    # store_url may hold a password: errors name the setting, never echo its value
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_messages: int = Field(default=512, gt=0)
    max_message_chars: int = Field(default=400_000, gt=0)
    shutdown_grace_s: float = Field(default=30, ge=0)
    # Request evidence (``documents``, plus the template context and tool results when a policy
    # uses them): above either limit the request is refused with a 413.
    max_documents: int = Field(default=64, gt=0)
    max_document_chars: int = Field(default=200_000, gt=0)
    # Per-key limits shared by every replica (redis:// or rediss://, Redis or Valkey); without
    # one each process counts alone. See guard.shared_limits and docs/deploy.md.
    store_url: str | None = None
    store_prefix: str = "guard:"
    on_store_error: Literal["local", "open", "closed"] = "local"
    store_timeout_s: float = Field(default=0.25, gt=0)
    store_retry_s: float = Field(default=1.0, gt=0)
    lease_ttl_s: float = Field(default=300, gt=1)  # a dead replica's concurrency slots expire after this

    @model_validator(mode="after")
    def _store_is_redis(self) -> "LimitsConfig":
        if self.store_url:
            if not re.match(r"(redis|rediss|unix)://", self.store_url):
                raise ValueError(f"limits.store_url {redacted(self.store_url)!r} is not a redis:// URL")
            try:
                parse_url(self.store_url)
            except ValueError as e:
                raise ValueError(f"limits.store_url: {e}") from None
        return self
    # Every route but the two completion routes (feedback, reviewer forms, look-ups).
    max_other_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    # A client must send its request line and headers within header_timeout_s of connecting
    # (or of its previous response), and its whole body within body_timeout_s.
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # Feedback reports per API key per minute (POST /v1/guard/feedback), on top of the key's own limits.
    feedback_per_minute: int = Field(default=60, gt=0)
    # Output checks run in a pool of their own, never in the one the review store uses.
    check_workers: int = Field(default=4, ge=1, le=64)
    check_queue: int = Field(default=64, ge=0)  # waiting checks beyond the workers; more fail at once


class KnowledgeConfig(Strict):
    index_dir: Path | None = None  # a built index (guard index build); None = no grounding
    embedder: str = "all-MiniLM-L6-v2"  # name or path
    # The same model on torch, or exported once to ONNX Runtime: fp32 (torch's vectors, ~1.7x
    # faster per query) or int8 weights (~3x faster per query, cosine ~0.99 to torch's vectors,
    # the same AUROC on the eval sets). docs/knowledge-index.md has the measurements.
    embedder_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    # Tenant-scoped knowledge: keys are tenant names, or ``policy:<name>``; values are built index
    # directories. A tenant found here is checked against its own index; the others (and every
    # tenant of a policy not listed) against ``index_dir``, the shared default.
    indexes: dict[str, Path] = {}
    # How often each replica replays corrections approved or retracted in the review store.
    corrections_sync_s: float = Field(default=10.0, gt=0)

    def index_dir_for(self, tenant: str, policy: str) -> Path | None:
        """The index a tenant's answers are checked against (tenant first, then policy)."""
        return self.indexes.get(tenant) or self.indexes.get(f"policy:{policy}") or self.index_dir

    @property
    def configured(self) -> bool:
        return self.index_dir is not None or bool(self.indexes)


class Reviewer(Strict):
    username: str
    password_hash: str  # bcrypt; `guard review hash-password` prints one
    role: Literal["reviewer", "admin"] = "reviewer"
    tenants: list[str] = ["*"]


class ReviewConfig(Strict):
    # sqlite:///var/guard.sqlite3 or postgresql://user@host:5432/db; None: no review queue
    store_url: str | None = None
    reviewers: list[Reviewer] = []
    session_secret_env: str | None = None
    lease_s: float = Field(default=300, gt=0)
    language: Literal["en", "zh"] = "en"
    # The request documents kept with a held item for the reviewer, at most this many characters.
    max_document_chars: int = Field(default=100_000, ge=0)
    session_max_age_s: float = Field(default=12 * 3600, gt=0)
    idle_timeout_s: float = Field(default=1800, gt=0)  # a session unused this long ends
    # The cookie's Secure flag. None: when the request came over https, which behind a
    # TLS-terminating proxy needs server.forwarded_allow_ips (so X-Forwarded-Proto is believed).
    cookie_secure: bool | None = None
    login_attempts_per_user: int = Field(default=5, ge=1)  # failures before the back-off starts
    login_attempts_per_address: int = Field(default=20, ge=1)
    # guard refuses to listen beyond loopback while a reviewer's password is the sample "change-me".
    allow_sample_password: bool = False


class CorsConfig(Strict):
    """Cross-origin access for browser clients (openai-node with ``dangerouslyAllowBrowser``,
    LobeChat's client mode, Chatbox web). Off unless configured: a browser page from any listed
    origin can then call guard with whatever key its user holds. No cookies are involved (keys
    travel in ``Authorization``), so credentials are never allowed."""

    allow_origins: list[str] = Field(min_length=1)  # exact origins (https://chat.example.com) or "*"
    allow_headers: list[str] = ["*"]  # the SDKs send authorization, content-type and x-stainless-*
    allow_methods: list[str] = ["GET", "POST", "OPTIONS"]
    # what browser code may read: the decision headers and the request id
    expose_headers: list[str] = ["x-request-id", "x-guard-decision", "x-guard-confidence", "x-guard-policy", "x-guard-changes", "retry-after"]
    max_age: int = Field(default=600, ge=0)  # seconds a browser may cache a preflight answer


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "info"
    workers: int = Field(default=1, ge=1, le=64)  # worker processes on one port (guard serve --workers)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs, "*"
    # for any). Empty: none, the socket's peer is the client and the scheme is what it spoke.
    forwarded_allow_ips: list[str] = []
    # The interactive API docs (/docs, Swagger UI served from guard itself, no CDN).
    docs: bool = False
    cors: CorsConfig | None = None  # off by default


class TelemetryConfig(Strict):
    """OpenTelemetry traces, exported by OTLP/HTTP; off (and free on the request path) without an endpoint."""

    otlp_endpoint: str | None = None  # e.g. http://127.0.0.1:4318/v1/traces
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)  # share of requests traced
    service_name: str = "guard"
    headers: dict[str, str] = {}  # sent with every export (an API key for a hosted collector)

    @model_validator(mode="after")
    def _endpoint_is_http(self) -> "TelemetryConfig":
        if self.otlp_endpoint and not re.match(r"https?://[^/?#]+", self.otlp_endpoint):
            raise ValueError(f"otlp_endpoint {self.otlp_endpoint!r} is not an http:// or https:// URL")
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it can be reached from elsewhere


class Settings(Strict):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig(mode="none")
    models: list[ModelConfig] = []
    policies_dir: Path | None = None
    default_policy: str = "default"
    knowledge: KnowledgeConfig = KnowledgeConfig()
    review: ReviewConfig = ReviewConfig()
    limits: LimitsConfig = LimitsConfig()
    telemetry: TelemetryConfig = TelemetryConfig()

    @model_validator(mode="after")
    def _names_unique(self) -> "Settings":
        names = [m.name for m in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model names must be unique, repeated: {sorted(dup)}")
        for m in self.models:
            for f in m.fallbacks:
                if f not in names:
                    raise ValueError(f"model {m.name!r} falls back to unknown model {f!r}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        for m in self.models:
            if m.name == name:
                return m
        return None


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def load_settings(path: str | Path) -> Settings:
    """Read ``guard.yaml``; errors come back as ``ConfigError`` with file, line and key path."""
    from guard.policy.loader import load_yaml_model

    path = Path(path)
    settings = load_yaml_model(path, Settings)
    base = path.resolve().parent
    if settings.policies_dir is not None and not settings.policies_dir.is_absolute():
        settings.policies_dir = base / settings.policies_dir
    if settings.knowledge.index_dir is not None and not settings.knowledge.index_dir.is_absolute():
        settings.knowledge.index_dir = base / settings.knowledge.index_dir
    settings.knowledge.indexes = {k: v if v.is_absolute() else base / v for k, v in settings.knowledge.indexes.items()}
    url = settings.review.store_url or ""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        settings.review.store_url = "sqlite:///" + str(base / url[len("sqlite:///"):])
    return settings
