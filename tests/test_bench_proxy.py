"""The proxy benchmark's parts: the load client against the fake backend, the comparison, the README."""

from __future__ import annotations

import os

import yaml

from bench.bench_proxy import parse_args, run
from bench.loadgen import LoadResult, Sample, percentile, run_load
from bench.report import README_END, README_START, compare, goals, markdown, write_readme
from bench.targets import litellm_config, tree_rss
from guard.testing import run_fake_backend


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def test_summary_counts_errors_and_rates():
    result = LoadResult([Sample(True, 0.010), Sample(True, 0.020), Sample(False, 0.5, error="HTTP 500: x")], wall=1.0)
    s = result.summary()
    assert (s["requests"], s["errors"], s["rps"]) == (3, 1, 2.0)
    assert s["latency_p50_ms"] == 10.0
    assert s["first_error"] == "HTTP 500: x"


async def test_run_load_stream_measures_ttft_and_tpot():
    with run_fake_backend(ttft_ms=40, tpot_ms=10, tokens=5) as fb:
        result = await run_load(fb.base_url, stream=True, concurrency=4, requests=12, max_seconds=10)
        assert len(result.samples) == 12
        assert all(s.ok and s.tokens == 5 for s in result.samples)
        assert all(0.035 <= s.ttft < 0.5 for s in result.samples)
        assert all(0.008 <= s.tpot < 0.1 for s in result.samples)
        bodies = [r.body for r in fb.requests]
        assert all(b["stream"] and b["stream_options"] == {"include_usage": True} for b in bodies)


async def test_run_load_reports_backend_errors():
    with run_fake_backend(fault="status", status=503) as fb:
        result = await run_load(fb.base_url, concurrency=2, requests=4, max_seconds=5)
    summary = result.summary()
    assert summary["errors"] == 4
    assert summary["first_error"].startswith("HTTP 503")


def _cell(target, mode, conc, p50, rps, ttft=None, tpot=None):
    cell = {"target": target, "mode": mode, "concurrency": conc, "latency_p50_ms": p50,
            "latency_p99_ms": p50 * 2, "rps": rps, "errors": 0}
    if ttft is not None:
        cell.update(ttft_p50_ms=ttft, ttft_p99_ms=ttft * 2, tpot_p50_ms=tpot)
    return cell


def test_compare_and_goals():
    rows = compare([
        _cell("direct", "non-stream", 1, 0.4, 2000.0), _cell("guard", "non-stream", 1, 1.2, 800.0),
        _cell("direct", "non-stream", 64, 20.0, 4000.0), _cell("guard", "non-stream", 64, 40.0, 2000.0),
        _cell("direct", "stream", 16, 200.0, 80.0, 20.5, 5.0), _cell("guard", "stream", 16, 202.0, 79.0, 22.0, 5.4),
    ])
    guard_c1 = rows[1]
    assert guard_c1["added_p50_ms"] == 0.8
    assert guard_c1["added_p99_ms"] == 1.6
    assert guard_c1["rps_ratio"] == 0.4
    check = goals(rows, "guard")
    assert check["added_p50_nonstream_c1_ms"] == {"value": 0.8, "goal": "<= 1.0", "met": True}
    assert check["rps_ratio_nonstream_c64"]["met"] is True
    assert check["added_ttft_p50_stream_c16_ms"]["value"] == 1.5
    assert check["tpot_ratio_worst"]["value"] == 1.08
    assert check["tpot_ratio_worst"]["met"] is False
    assert goals(rows, "litellm")["added_p50_nonstream_c1_ms"]["met"] is None


def _result():
    rows = compare([_cell("direct", "non-stream", 1, 0.4, 2000.0), _cell("guard", "non-stream", 1, 1.2, 800.0)])
    return {
        "finished_at": "2026-01-01 00:00 UTC",
        "environment": {"cpus": 2, "python": "3.11"},
        "backend_profiles": {"non-stream": {"ttft_ms": 0, "tpot_ms": 0, "tokens": 32}},
        "load": {"description": "Each cell: a test."},
        "rows": rows,
        "processes": {"guard": {"idle_rss_mib": 70.0, "peak_rss_mib": 80.0, "version": None}},
        "goals": {"guard": goals(rows, "guard")},
    }


def test_markdown_has_a_row_per_cell():
    text = markdown(_result())
    assert "| non-stream | 1 | guard | 800.00 | 0.40 | 1.20 | 2.40 | +0.80 |" in text
    assert "| guard | 70.0 | 80.0 |" in text
    assert "added_p50_nonstream_c1_ms: 0.80 (goal <= 1.0): met" in text


def test_write_readme_replaces_only_the_marked_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# guard\n\nintro\n\n{README_START}\nold numbers\n{README_END}\n\n## After\n")
    assert write_readme(readme, _result())
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.startswith("# guard\n\nintro\n\n" + README_START)
    assert text.endswith(README_END + "\n\n## After\n")
    assert "| non-stream | 1 | guard |" in text
    assert text.count(README_START) == 1


def test_write_readme_appends_markers_and_never_creates(tmp_path):
    readme = tmp_path / "README.md"
    assert not write_readme(readme, _result())
    assert not readme.exists()
    readme.write_text("# guard\n")
    assert write_readme(readme, _result())
    assert readme.read_text().count(README_END) == 1


def test_litellm_config_points_at_the_backend():
    config = yaml.safe_load(litellm_config("http://127.0.0.1:9/v1"))
    (model,) = config["model_list"]
    assert model["model_name"] == "fake-model"
    assert model["litellm_params"]["model"] == "openai/fake-model"
    assert model["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"


def test_tree_rss_counts_this_process():
    assert tree_rss(os.getpid()) > 10 * 1024 * 1024


def test_bench_runs_end_to_end_against_direct(tmp_path):
    args = parse_args([
        "--targets", "direct", "--modes", "non-stream,stream", "--concurrency", "2", "--scale", "0.02",
        "--rounds", "1", "--ttft-ms", "5", "--tpot-ms", "1", "--tokens", "4", "--out", str(tmp_path / "p.json"),
    ])
    result = run(args)
    modes = [(r["target"], r["mode"]) for r in result["rows"]]
    assert modes == [("direct", "non-stream"), ("direct", "stream")]
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in result["rows"])
    assert result["rows"][1]["tokens_mean"] == 4
    assert result["processes"]["backend"]["peak_rss_mib"] > 0
