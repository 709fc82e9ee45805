"""OpenTelemetry traces: spans and attributes in memory, and a real OTLP/HTTP export on loopback."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guard.settings import TelemetryConfig
from guard.telemetry import NO_TRACE, Telemetry


def test_off_without_an_endpoint():
    telemetry = Telemetry(TelemetryConfig())
    assert not telemetry.enabled
    assert telemetry.start("chat", "m") is NO_TRACE
    with NO_TRACE.stage("guard.backend"):
        pass  # the stages of an untraced request cost nothing and do nothing


def test_request_span_with_children_and_genai_attributes():
    exporter = InMemorySpanExporter()
    telemetry = Telemetry(TelemetryConfig(), exporter=exporter)
    trace = telemetry.start("chat", "smollm2", **{"guard.request_id": "r1", "gen_ai.system": "openai"})
    with trace.stage("guard.policy", **{"guard.policy": "default"}):
        pass
    with trace.stage("guard.backend"):
        trace.first_token()
    now = time.time_ns()
    trace.record("guard.check.grounding", now - 5_000_000, now, **{"guard.check.passed": False})
    trace.set(gen_ai__usage__input_tokens=12, gen_ai__usage__output_tokens=7, guard__decision="hold", guard__confidence=0.35)
    trace.end(status=200)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"chat smollm2", "guard.policy", "guard.backend", "guard.check.grounding"}
    root = spans["chat smollm2"]
    assert all(spans[n].parent.span_id == root.context.span_id for n in spans if n != root.name)
    attrs = root.attributes
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "smollm2"
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["guard.decision"] == "hold"
    assert attrs["gen_ai.server.time_to_first_token"] >= 0
    assert attrs["http.response.status_code"] == 200


def test_caller_traceparent_becomes_the_parent():
    exporter = InMemorySpanExporter()
    telemetry = Telemetry(TelemetryConfig(), exporter=exporter)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    telemetry.start("chat", "m", headers={"traceparent": parent}).end(status=200)
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"


def test_sample_ratio_zero_records_nothing():
    exporter = InMemorySpanExporter()
    telemetry = Telemetry(TelemetryConfig(sample_ratio=0.0), exporter=exporter)
    trace = telemetry.start("chat", "m")
    assert trace is NO_TRACE
    assert exporter.get_finished_spans() == ()


def test_server_errors_mark_the_span():
    exporter = InMemorySpanExporter()
    Telemetry(TelemetryConfig(), exporter=exporter).start("chat", "m").end(status=502)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code.name == "ERROR"


def test_bad_endpoint_is_a_config_error():
    with pytest.raises(ValueError, match="otlp_endpoint"):
        TelemetryConfig(otlp_endpoint="collector:4318")


class Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_export_to_a_real_otlp_http_receiver():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.bodies.clear()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        telemetry = Telemetry(TelemetryConfig(otlp_endpoint=endpoint, service_name="guard-test"))
        trace = telemetry.start("chat", "smollm2")
        with trace.stage("guard.decision", **{"guard.decision": "block"}):
            pass
        trace.end(status=200)
        telemetry.shutdown()  # flushes the batch
        deadline = time.monotonic() + 10
        while not Receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
    assert Receiver.bodies and Receiver.bodies[0][0] == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(Receiver.bodies[0][1])
    (resource,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    names = {s.name for scope in resource.scope_spans for s in scope.spans}
    assert service == "guard-test" and names == {"chat smollm2", "guard.decision"}


def test_a_request_through_the_proxy_is_one_trace(fake_backend, tmp_path):
    """The app's own spans: request, policy, backend, each check and the decision."""
    import httpx

    from guard.api.app import create_app
    from tests.support import serve_app, settings_for, write_policies

    policies = write_policies(tmp_path / "p", {"name": "default", "checks": {"max_chars": 10_000, "pii": {"enabled": True}}})
    app = create_app(settings_for(fake_backend.base_url, policies))
    exporter = InMemorySpanExporter()
    app.state.runtime.telemetry = Telemetry(TelemetryConfig(), exporter=exporter)
    with serve_app(app) as base:
        ask = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(base + "/v1/chat/completions", json=ask, timeout=15).status_code == 200
        assert httpx.post(base + "/v1/chat/completions", json={**ask, "stream": True}, timeout=15).status_code == 200
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "chat test-model"]
    assert len(roots) == 2
    for root in roots:
        children = {s.name for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id}
        assert {"guard.policy", "guard.backend", "guard.check.pii", "guard.check.length", "guard.decision"} <= children
        assert root.attributes["guard.decision"] == "pass" and root.attributes["http.response.status_code"] == 200
        assert root.attributes["gen_ai.response.model"] == "upstream-model"
    non_stream = next(r for r in roots if "gen_ai.usage.input_tokens" in r.attributes)
    assert non_stream.attributes["gen_ai.usage.output_tokens"] > 0
    assert any("gen_ai.server.time_to_first_token" in r.attributes for r in roots)
