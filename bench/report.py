"""Turning measured cells into the comparison the benchmark reports: JSON rows, Markdown, README.

Pure functions over plain dicts, so the numbers in the README are exactly the ones in
bench/results/proxy.json and can be re-rendered without re-running the load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.readme import markers, replace_section

README_START, README_END = markers("proxy")

# The goals the benchmark is read against; the script only reports whether they were met.
GOALS = {
    "added_p50_nonstream_c1_ms": 1.0,
    "rps_ratio_nonstream_c64": 0.40,
    "added_ttft_p50_stream_c16_ms": 3.0,
    "tpot_ratio_max_deviation": 0.05,
}


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def compare(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each cell with what the proxy added over the direct cell of the same mode and concurrency."""
    direct = {(c["mode"], c["concurrency"]): c for c in cells if c["target"] == "direct"}
    rows = []
    for cell in cells:
        base = direct.get((cell["mode"], cell["concurrency"]), {})
        row = dict(cell)
        row["added_p50_ms"] = _sub(cell.get("latency_p50_ms"), base.get("latency_p50_ms"))
        row["added_p99_ms"] = _sub(cell.get("latency_p99_ms"), base.get("latency_p99_ms"))
        row["rps_ratio"] = _ratio(cell.get("rps"), base.get("rps"))
        if cell["mode"] == "stream":
            row["added_ttft_p50_ms"] = _sub(cell.get("ttft_p50_ms"), base.get("ttft_p50_ms"))
            row["added_ttft_p99_ms"] = _sub(cell.get("ttft_p99_ms"), base.get("ttft_p99_ms"))
            row["tpot_ratio"] = _ratio(cell.get("tpot_p50_ms"), base.get("tpot_p50_ms"))
        rows.append(row)
    return rows


def _find(rows: list[dict[str, Any]], target: str, mode: str, concurrency: int) -> dict[str, Any]:
    for row in rows:
        if (row["target"], row["mode"], row["concurrency"]) == (target, mode, concurrency):
            return row
    return {}


def goals(rows: list[dict[str, Any]], target: str) -> dict[str, Any]:
    """The measured value of each goal for ``target`` and whether it was met (None: not measured)."""
    c1 = _find(rows, target, "non-stream", 1).get("added_p50_ms")
    c64 = _find(rows, target, "non-stream", 64).get("rps_ratio")
    ttft = _find(rows, target, "stream", 16).get("added_ttft_p50_ms")
    tpots = [r["tpot_ratio"] for r in rows if r["target"] == target and r.get("tpot_ratio") is not None]
    worst = max(tpots, key=lambda r: abs(r - 1)) if tpots else None

    def met(value: float | None, ok: bool) -> bool | None:
        return None if value is None else ok

    return {
        "added_p50_nonstream_c1_ms": {"value": c1, "goal": "<= 1.0", "met": met(c1, c1 is not None and c1 <= 1.0)},
        "rps_ratio_nonstream_c64": {"value": c64, "goal": ">= 0.40", "met": met(c64, c64 is not None and c64 >= 0.40)},
        "added_ttft_p50_stream_c16_ms": {"value": ttft, "goal": "<= 3.0",
                                         "met": met(ttft, ttft is not None and ttft <= 3.0)},
        "tpot_ratio_worst": {"value": worst, "goal": "within 1 ± 0.05",
                             "met": met(worst, worst is not None and abs(worst - 1) <= 0.05)},
    }


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.2f}" if signed else f"{value:.2f}"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        "| mode | conc. | target | req/s | vs direct | p50 ms | p99 ms | added p50 | added p99 "
        "| TTFT p50 | added TTFT p50 | TPOT p50 | TPOT ratio | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['concurrency']} | {r['target']} | {_fmt(r.get('rps'))} | {_fmt(r.get('rps_ratio'))} "
            f"| {_fmt(r.get('latency_p50_ms'))} | {_fmt(r.get('latency_p99_ms'))} "
            f"| {_fmt(r.get('added_p50_ms'), True)} | {_fmt(r.get('added_p99_ms'), True)} "
            f"| {_fmt(r.get('ttft_p50_ms'))} | {_fmt(r.get('added_ttft_p50_ms'), True)} "
            f"| {_fmt(r.get('tpot_p50_ms'))} | {_fmt(r.get('tpot_ratio'))} | {r.get('errors', 0)} |"
        )
    lines += ["", "| process | idle RSS MiB | peak RSS MiB | version |", "|---|---:|---:|---|"]
    for name, mem in result["processes"].items():
        lines.append(f"| {name} | {mem['idle_rss_mib']} | {mem['peak_rss_mib']} | {mem.get('version') or ''} |")
    for target, checks in result.get("goals", {}).items():
        lines += ["", f"Goals for {target}:", ""]
        for name, check in checks.items():
            verdict = {True: "met", False: "NOT met", None: "not measured"}[check["met"]]
            lines.append(f"- {name}: {_fmt(check['value'])} (goal {check['goal']}): {verdict}")
    return "\n".join(lines)


def readme_section(result: dict[str, Any]) -> str:
    env, load = result["environment"], result["load"]
    profiles = "; ".join(
        f"{mode}: TTFT {p['ttft_ms']} ms, TPOT {p['tpot_ms']} ms, {p['tokens']} tokens"
        for mode, p in result["backend_profiles"].items()
    )
    return "\n".join([
        README_START,
        f"Measured {result['finished_at']} by `python -m bench.bench_proxy` on {env['cpus']} CPU cores "
        f"(load client, proxy and fake backend share them; load average {_fmt(env.get('loadavg_start', [None])[0])} "
        f"at the start), Python {env['python']}. Fake backend: {profiles}. "
        f"{load['description']} \"added\" = proxy minus direct in the same cell.",
        "",
        markdown(result),
        README_END,
    ])


def write_readme(path: Path, result: dict[str, Any]) -> bool:
    """Replace the marked section of ``path`` (append it when the markers are missing).

    Returns False when the file does not exist, so a missing README is never created here.
    """
    if not path.exists():
        return False
    replace_section("proxy", readme_section(result), "Proxy overhead benchmark", path)
    return True
