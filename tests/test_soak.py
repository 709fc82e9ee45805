"""A 20-second soak: sustained mixed load with checks on, zero unexpected outcomes, flat memory."""

from __future__ import annotations

import orjson
import pytest

from bench import soak


def test_outcomes_are_classified_strictly():
    done = b'data: {"choices":[]}\n\ndata: [DONE]\n\n'
    error = b'data: {"x":1}\n\ndata: {"error":{"message":"backend dropped"}}\n\n'
    assert soak.classify(200, done, True, None) == "ok"
    assert soak.classify(200, error, True, None).startswith("unexpected")
    assert soak.classify(200, error, True, "drop") == "expected:drop"
    assert soak.classify(200, done, True, "drop").startswith("unexpected")  # a drop must not look complete
    withheld = b'data: {"choices":[{"finish_reason":"content_filter"}]}\n\ndata: [DONE]\n\n'
    assert soak.classify(200, withheld, True, "drop") == "expected:withheld_before_drop"
    assert soak.classify(502, b"{}", False, "status") == "expected:status"
    assert soak.classify(500, b"{}", False, "status").startswith("unexpected")
    assert soak.classify(200, b'{"choices":[{"message":{"content":""}}]}', False, None) == "unexpected:empty answer"


def test_memory_growth_is_measured_after_the_warmup():
    samples = [(0.0, 50.0), (2.0, 90.0), (4.0, 95.0), (6.0, 96.0), (8.0, 95.0), (10.0, 97.0), (12.0, 99.0), (14.0, 98.0)]
    mem = soak.memory(samples, warmup_s=4.0)
    assert mem["baseline_mb"] == 95.0 and mem["final_mb"] == 98.0 and mem["growth_mb"] == 3.0 and mem["peak_mb"] == 99.0
    assert mem["second_half_growth_mb"] == 0.0


def test_a_filling_cache_and_a_leak_look_different():
    plateau = soak.memory([(float(t), 100.0 + min(t, 100) * 0.1) for t in range(0, 300, 2)], warmup_s=60)
    leak = soak.memory([(float(t), 100.0 + t * 0.1) for t in range(0, 300, 2)], warmup_s=60)
    assert plateau["growth_mb"] > 3 and plateau["second_half_growth_mb"] == 0.0
    assert leak["second_half_growth_mb"] > 10


def test_readme_section_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# guard\n\nintro\n")
    soak.write_readme(f"{soak.START}\nfirst\n{soak.END}", readme)
    soak.write_readme(f"{soak.START}\nsecond\n{soak.END}", readme)
    text = readme.read_text()
    assert text.startswith("# guard\n\nintro\n") and "second" in text and "first" not in text
    assert text.count(soak.START) == 1


@pytest.mark.slow
def test_soak_20_seconds(tmp_path):
    results = tmp_path / "soak.json"
    code = soak.main(["--seconds", "20", "--concurrency", "16", "--results", str(results)])
    summary = orjson.loads(results.read_bytes())
    assert code == 0, summary["failures"]
    assert summary["unexpected"] == {}
    assert summary["requests"] > 200 and summary["guard_counted"] == summary["requests"]
    assert {"status", "drop"} <= set(summary["expected_faults"])  # the error paths were exercised
