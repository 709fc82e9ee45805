"""bench/bench_serving.py runs end to end on loopback (fake backend and guard as processes)."""

from __future__ import annotations

import pytest

from bench.bench_serving import PROMPTS, RequestResult, empty_output, main, partly_empty, request_body, require_loopback, summarize


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


def test_requests_rotate_prompts_and_ask_for_the_full_length() -> None:
    bodies = [request_body("m", 32, n) for n in range(len(PROMPTS) + 1)]
    assert len({b["prompt"] for b in bodies}) == len(PROMPTS) and bodies[0]["prompt"] == bodies[-1]["prompt"]
    assert all(b["min_tokens"] == 32 and b["ignore_eos"] is True and b["max_tokens"] == 32 for b in bodies)
    plain = request_body("m", 32, 0, length_control=False)
    assert "min_tokens" not in plain and "ignore_eos" not in plain


def test_requests_without_output_make_a_run_invalid() -> None:
    empty = summarize([RequestResult(True, latency=0.1, output_tokens=0)] * 3, duration=1.0)
    assert "no output tokens" in (empty_output(empty) or "")
    some = summarize([RequestResult(True, latency=0.1, output_tokens=0), RequestResult(True, latency=0.1, ttft=0.05, output_tokens=4)], 1.0)
    assert empty_output(some) is None and "1 of 2" in (partly_empty(some) or "")
    assert empty_output(summarize([RequestResult(True, latency=0.1, ttft=0.05, output_tokens=4)], 1.0)) is None


def test_a_run_that_measures_nothing_fails_loudly(tmp_path, capsys) -> None:
    """SmolLM2 answering its prompt with EOS gave "completed 60, failed 0" and 0 tokens."""
    with pytest.raises(SystemExit) as e:
        main(["--num-prompts", "4", "--concurrency", "2", "--output-len", "0", "--max-seconds", "10",
              "--ttft-ms", "1", "--tpot-ms", "1", "--out", str(tmp_path / "serving.json")])
    assert e.value.code == 2
    assert "measured nothing" in capsys.readouterr().err
