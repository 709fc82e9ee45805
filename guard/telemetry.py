"""OpenTelemetry traces: one span per request, a child span per stage, exported by OTLP/HTTP.

Operators put guard beside the gateways they already trace (LiteLLM, NeMo Guardrails and
Guardrails AI export OpenTelemetry), so the request span follows the GenAI semantic conventions:
``gen_ai.operation.name``, ``gen_ai.system``/``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.usage.input_tokens``/``output_tokens``, finish reasons and
the time to the first token, plus guard's own ``guard.decision``, ``guard.confidence`` and
``guard.policy``. Children: ``guard.policy`` (template and sampling), ``guard.backend`` (the
upstream call), ``guard.check.<name>`` (each output check) and ``guard.decision``.

Off by default. Without ``telemetry.otlp_endpoint`` the package is not even imported and every
call below goes to ``NO_TRACE``, whose methods return at once: the request path pays a method
call per stage. Each app has its own ``TracerProvider`` (no global one), so tests and several
apps in one process never share spans. An incoming W3C ``traceparent`` makes guard's span a
child of the caller's trace; the sampling ratio applies to traces that start here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

from guard.settings import TelemetryConfig

_NULL = contextlib.nullcontext()


class NoTrace:
    """What every request gets when tracing is off: methods that do nothing."""

    __slots__ = ()
    recording = False

    def stage(self, name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
        return _NULL

    def set(self, **attributes: Any) -> None:
        return None

    def record(self, name: str, start_ns: int, end_ns: int, **attributes: Any) -> None:
        return None

    def first_token(self) -> None:
        return None

    def end(self, status: int | None = None, error: str | None = None) -> None:
        return None


NO_TRACE = NoTrace()


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry takes str, bool, int, float and lists of one of them; None means unset."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            out[key] = value
        elif isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        else:
            out[key] = str(value)
    return out


class Trace:
    """One request's span and its stages; children name their parent explicitly, so a check
    running in a worker thread still lands under the request."""

    __slots__ = ("_tracer", "_span", "_started", "_first", "_context")
    recording = True

    def __init__(self, tracer: Any, span: Any, context: Any) -> None:
        self._tracer = tracer
        self._span = span
        self._context = context
        self._started = time.perf_counter()
        self._first: float | None = None

    @contextlib.contextmanager
    def stage(self, name: str, **attributes: Any) -> Iterator[Any]:
        with self._tracer.start_as_current_span(name, context=self._context, attributes=_clean(attributes)) as span:
            yield span

    def set(self, **attributes: Any) -> None:
        """Attributes by keyword; dots are spelled as double underscores (gen_ai__usage__input_tokens)."""
        self._span.set_attributes(_clean({k.replace("__", "."): v for k, v in attributes.items()}))

    def record(self, name: str, start_ns: int, end_ns: int, **attributes: Any) -> None:
        """A child span for work timed elsewhere (a check run in a worker thread)."""
        span = self._tracer.start_span(name, context=self._context, start_time=start_ns, attributes=_clean(attributes))
        span.end(end_time=end_ns)

    def first_token(self) -> None:
        if self._first is None:
            self._first = time.perf_counter()
            self._span.set_attribute("gen_ai.server.time_to_first_token", self._first - self._started)
            self._span.add_event("gen_ai.first_token")

    def end(self, status: int | None = None, error: str | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if status is not None:
            self._span.set_attribute("http.response.status_code", status)
        if error or (status is not None and status >= 500):
            self._span.set_status(Status(StatusCode.ERROR, error or f"HTTP {status}"))
        self._span.end()


class Telemetry:
    """The tracer of one app: ``start`` a trace per request, ``shutdown`` flushes at exit."""

    def __init__(self, config: TelemetryConfig, exporter: Any | None = None) -> None:
        self.enabled = bool(config.otlp_endpoint or exporter is not None)
        self._provider: Any = None
        self._tracer: Any = None
        self._propagator: Any = None
        if self.enabled:
            self._setup(config, exporter)

    def _setup(self, config: TelemetryConfig, exporter: Any | None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        sampler = ParentBased(TraceIdRatioBased(config.sample_ratio))
        self._provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}), sampler=sampler)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=dict(config.headers))
            self._provider.add_span_processor(BatchSpanProcessor(exporter))
        else:  # tests: spans visible as soon as they end
            self._provider.add_span_processor(SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("guard")
        self._propagator = TraceContextTextMapPropagator()

    def start(
        self, operation: str, model: str, headers: Mapping[str, str] | None = None, start_time: int | None = None, **attributes: Any
    ) -> Trace | NoTrace:
        """The request span, named as the GenAI conventions name it ("chat smollm2")."""
        if not self.enabled:
            return NO_TRACE
        from opentelemetry.trace import SpanKind, set_span_in_context

        parent = self._propagator.extract(dict(headers)) if headers else None
        attrs = {"gen_ai.operation.name": operation, "gen_ai.request.model": model, **attributes}
        span = self._tracer.start_span(
            f"{operation} {model}", context=parent, kind=SpanKind.SERVER, attributes=_clean(attrs), start_time=start_time
        )
        if not span.is_recording():
            span.end()
            return NO_TRACE
        return Trace(self._tracer, span, set_span_in_context(span))

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
