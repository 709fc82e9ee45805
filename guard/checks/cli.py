"""``guard check`` (one answer, full result as JSON) and ``guard eval`` (labelled files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from guard.checks.base import CheckInput
from guard.knowledge.cli import backend_option


def _quiet_logs() -> None:
    """Logs to stderr, warnings only: stdout carries the JSON these commands print."""
    from guard.logging import configure

    configure(level="warning")


def _policy(path: Path | None):
    from guard.checks.evaluate import default_policy
    from guard.policy.loader import load_policy

    return load_policy(path) if path else default_policy()


@click.command("check")
@click.option("--question", "-q", default="", help="The question that was asked.")
@click.option("--answer", "-a", required=True, help="The answer to check.")
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A built knowledge index (guard index build).")
@click.option("--context", "context_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A text file to check against instead of an index.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Policy YAML (default: grounding only, default bands).")
@click.option("--embedder", default=None, help="Embedding model name or path [default: the index's, else all-MiniLM-L6-v2].")
@backend_option
@click.option("--tenant", default="default", show_default=True,
              help="Check as this tenant: reviewed corrections folded into the index count for their own tenant only.")
def check(question: str, answer: str, index_dir: Path | None, context_file: Path | None,
          policy_file: Path | None, embedder: str | None, backend: str | None, tenant: str) -> None:
    """Check one answer and print the report, decision and client annotation as JSON."""
    from guard.checks.runner import build_checks, run_checks
    from guard.decision import annotation, decide
    from guard.knowledge.embedder import DEFAULT_BACKEND, DEFAULT_MODEL, Embedder
    from guard.knowledge.index import KnowledgeIndex

    if (index_dir is None) == (context_file is None):
        raise click.UsageError("give exactly one of --index or --context")
    _quiet_logs()
    policy = _policy(policy_file)
    override = Embedder(embedder or DEFAULT_MODEL, backend=backend or DEFAULT_BACKEND) if embedder or backend else None
    if index_dir is not None:
        index = KnowledgeIndex.load(index_dir, override)  # without an override, the index's own embedder
    else:
        index = KnowledgeIndex.from_texts([context_file.read_text(encoding="utf-8")], override or Embedder())
    from guard.corrections import tenant_view

    retriever = tenant_view(index, tenant)
    report = run_checks(build_checks(policy, retriever, index.embedder), CheckInput(question=question, answer=answer, retriever=retriever))
    decision = decide(report, policy)
    out = {
        "policy": policy.name,
        "answer": report.answer,
        "decision": decision.as_dict(),
        "guard": annotation(report, decision),
        "outcomes": [
            {"name": o.name, "passed": o.passed, "confidence": o.confidence, "violations": o.violations,
             "details": o.details}
            for o in report.outcomes
        ],
    }
    click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))


@click.command("eval")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Policy YAML (default: grounding only, default bands).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N rows of each file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line.")
@click.option("--target-caught", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Print the band edge below which this share of the hallucinations falls.")
@click.option("--max-grounded", default=0.25, show_default=True, type=click.FloatRange(0, 1),
              help="With several files: the share of grounded answers one common hold edge may hold.")
@click.option("--passages", type=click.Choice(["sentences", "index"]), default="sentences", show_default=True,
              help="Cut each context into sentence-sized passages, or as `guard index build` cuts knowledge"
                   " files (to measure a shipped policy with its own top_k).")
@click.option("--embedder", default="all-MiniLM-L6-v2", show_default=True, help="Embedding model name or path.")
@backend_option
def eval_cmd(files: tuple[Path, ...], policy_file: Path | None, limit: int | None, as_json: bool,
             target_caught: float, max_grounded: float, passages: str, embedder: str, backend: str | None) -> None:
    """Score labelled rows (context, question, answer, label) and report AUROC, F1, latency."""
    from guard.checks.evaluate import check_row, format_common_edge, format_table, json_line, read_rows, summarize
    from guard.checks.metrics import common_edge
    from guard.knowledge.embedder import DEFAULT_BACKEND, Embedder

    _quiet_logs()
    policy = _policy(policy_file)
    emb = Embedder(embedder, backend=backend or DEFAULT_BACKEND)
    summaries = []
    curves = {}
    for path in files:
        rows = read_rows(path, limit)
        results = [check_row(row, policy, emb, passages=passages) for row in rows]
        summary = summarize(path.stem, results, policy, target_caught)
        curves[path.stem] = ([r.confidence for r in results], [r.label for r in results])
        summaries.append(summary)
        if as_json:
            click.echo(json_line(summary))
        else:
            click.echo(f"{path.name}: {len(rows)} rows checked", err=True)
    if not as_json:
        click.echo(format_table(summaries))
        if len(curves) > 1:
            click.echo(format_common_edge(common_edge(curves, target_caught, max_grounded)))
    if any(s["errors"] for s in summaries):
        click.echo("some rows failed to check; see the errors column", err=True)
        sys.exit(1)
