"""``guard probe``: generate probes from the knowledge index and run them through the proxy."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

DEFAULT_INDEX_DIR = Path("var/index")


def load_passages(index_dir: Path) -> list:
    """The passages of a built index (the embedding model is not loaded: probes need only text)."""
    from guard.knowledge.index import KnowledgeIndex

    return KnowledgeIndex.load(index_dir).passages


@click.command()
@click.option("--model", "models", multiple=True, required=True, help="Model name to probe; repeat for several.")
@click.option("--base-url", default="http://127.0.0.1:8000/v1", show_default=True, help="guard's OpenAI-compatible URL.")
@click.option("--api-key", default=None, help="API key (default: $GUARD_API_KEY).")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_INDEX_DIR,
              show_default=True, help="Knowledge index to draw questions from.")
@click.option("--n", "n", type=click.IntRange(min=1), default=10, show_default=True, help="Probes of each kind.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full report (with every answer) as JSON to this file.")
def probe(models: tuple[str, ...], base_url: str, api_key: str | None, index_dir: Path, n: int, seed: int,
          concurrency: int, max_tokens: int, as_json: bool, out: Path | None) -> None:
    """Ask adversarial questions from the knowledge base and report what guard let through.

    Fact questions (a blanked number or name), the same facts with a false premise, and
    questions about models the knowledge base never mentions.
    """
    from guard.knowledge.storage import IndexFormatError
    from guard.probe.generate import generate
    from guard.probe.report import summarize, table
    from guard.probe.run import run_probes

    try:
        passages = load_passages(index_dir)
    except (IndexFormatError, FileNotFoundError) as e:
        raise click.ClickException(f"cannot read the index at {index_dir}: {e} (build it: guard index build knowledge/)")
    probes = generate(passages, n=n, seed=seed)
    if not probes:
        raise click.ClickException(f"the index at {index_dir} gave no probe questions")
    outcomes = asyncio.run(run_probes(
        base_url, models, probes, api_key=api_key or os.environ.get("GUARD_API_KEY"),
        concurrency=concurrency, max_tokens=max_tokens, progress=not as_json,
    ))
    report = summarize(outcomes)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        full = {"report": report, "outcomes": [o.to_dict() for o in outcomes]}
        out.write_text(json.dumps(full, ensure_ascii=False, indent=1), encoding="utf-8")
    click.echo(json.dumps(report, ensure_ascii=False, indent=1) if as_json else table(report))
