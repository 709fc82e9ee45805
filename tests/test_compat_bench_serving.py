"""bench/bench_serving.py runs end to end on loopback (fake backend and guard as processes)."""

from __future__ import annotations

import pytest

from bench.bench_serving import RequestResult, main, require_loopback, summarize


def test_summary_metrics() -> None:
    results = [RequestResult(True, latency=0.5, ttft=0.1, itl=[0.1] * 4, output_tokens=5), RequestResult(False, error="x")]
    s = summarize(results, duration=1.0)
    assert s["completed"] == 1 and s["failed"] == 1 and s["first_error"] == "x"
    assert s["median_ttft_ms"] == 100.0 and s["median_tpot_ms"] == 100.0 and s["median_itl_ms"] == 100.0
    assert s["output_throughput_tok_s"] == 5.0


def test_only_loopback_targets() -> None:
    require_loopback("http://127.0.0.1:8000/v1")
    require_loopback("http://localhost:8000/v1")
    with pytest.raises(SystemExit):
        require_loopback("http://10.1.2.3:8000/v1")


def test_small_run_direct_and_through_guard(tmp_path) -> None:
    report = main(["--num-prompts", "8", "--concurrency", "2", "--output-len", "8", "--max-seconds", "10",
                   "--ttft-ms", "5", "--tpot-ms", "1", "--out", str(tmp_path / "serving.json")])
    for side in ("direct", "through_guard"):
        assert report[side]["completed"] == 8 and report[side]["failed"] == 0
        assert report[side]["total_output_tokens"] == 64  # usage from stream_options.include_usage
        assert report[side]["median_ttft_ms"] >= 5
    assert (tmp_path / "serving.json").exists()
