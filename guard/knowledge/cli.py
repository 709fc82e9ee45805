"""``guard index build|search|info``.

The index directory is, in order: the ``--out``/``--index`` option, ``knowledge.index_dir`` in
guard.yaml (``--config``, ``$GUARD_CONFIG`` or ./guard.yaml if present), then ``var/index``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from guard.errors import ConfigError

DEFAULT_INDEX_DIR = Path("var/index")


def _knowledge_settings(config: str | None) -> tuple[Path | None, str | None]:
    """(index_dir, embedder) from guard.yaml, or (None, None) when there is no config file."""
    path = config or os.environ.get("GUARD_CONFIG") or ("guard.yaml" if Path("guard.yaml").exists() else None)
    if path is None:
        return None, None
    from guard.settings import load_settings

    try:
        settings = load_settings(path)
    except ConfigError as e:
        raise click.ClickException(f"{path}:\n" + "\n".join(e.problems)) from e
    return settings.knowledge.index_dir, settings.knowledge.embedder


def _embedder(name: str | None, threads: int = 1):
    from guard.knowledge.embedder import DEFAULT_MODEL, shared_embedder

    return shared_embedder(name or DEFAULT_MODEL, threads=threads)


config_option = click.option(
    "--config", type=click.Path(dir_okay=False), default=None, help="guard.yaml to read knowledge settings from."
)


@click.group()
def index() -> None:
    """Build and inspect the knowledge index that answers are grounded against."""


@index.command("build")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Index directory (default: knowledge.index_dir from guard.yaml, else var/index).")
@click.option("--embedder", default=None, help="Sentence-transformers model name or path.")
@click.option("--full", is_flag=True, help="Re-embed everything instead of only changed files.")
@click.option("--skip-errors", is_flag=True, help="Leave unreadable files out instead of failing.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads for embedding [default: all cores; a build is a batch job: on 2 cores, "
                   "44 passages/s against 25 with one thread].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@config_option
def build_cmd(source: Path, out: Path | None, embedder: str | None, full: bool, skip_errors: bool,
              threads: int | None, quiet: bool, config: str | None) -> None:
    """Index the Markdown, text, HTML, PDF and JSONL files under SOURCE."""
    from guard.knowledge.build import build_index
    from guard.knowledge.loaders import LoaderError

    cfg_dir, cfg_embedder = _knowledge_settings(config)
    out_dir = out or cfg_dir or DEFAULT_INDEX_DIR
    try:
        report = build_index(source, out_dir, _embedder(embedder or cfg_embedder, threads or os.cpu_count() or 1),
                             full=full, progress=not quiet, skip_errors=skip_errors)
    except LoaderError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{out_dir}: {report.summary()}")


def _open(index_dir: Path | None, embedder: str | None, config: str | None):
    from guard.knowledge.index import KnowledgeIndex
    from guard.knowledge.storage import IndexFormatError

    cfg_dir, _ = _knowledge_settings(config)
    directory = index_dir or cfg_dir or DEFAULT_INDEX_DIR
    try:
        # The embedder recorded at build time, unless overridden: other vectors would not compare.
        return KnowledgeIndex.load(directory, _embedder(embedder) if embedder else None)
    except IndexFormatError as e:
        raise click.ClickException(str(e)) from e


@index.command("search")
@click.argument("query")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Index directory (default: knowledge.index_dir from guard.yaml, else var/index).")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--embedder", default=None, help="Override the model recorded in the index.")
@click.option("--mode", type=click.Choice(["hybrid", "lexical", "semantic"]), default="hybrid", show_default=True,
              help="Keywords (BM25), embeddings, or both fused by rank.")
@config_option
def search_cmd(query: str, index_dir: Path | None, k: int, embedder: str | None, mode: str, config: str | None) -> None:
    """Print the K passages nearest to QUERY: score, cosine, id, source and text."""
    idx = _open(index_dir, embedder, config)
    hits = idx.search(query, k, mode)  # type: ignore[arg-type]
    if not hits:
        click.echo("(nothing found)" if len(idx) else "(the index is empty)")
    for hit in hits:
        p = hit.passage
        cosine = "  -  " if hit.similarity is None else f"{hit.similarity:.3f}"
        click.echo(f"{hit.score:.3f}  {cosine}  {p.id}  [{p.source}]")
        click.echo("       " + " ".join(p.text.split())[:400])


@index.command("info")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@config_option
def info_cmd(index_dir: Path | None, config: str | None) -> None:
    """Print the index version, model and passage count."""
    from guard.knowledge.storage import IndexFormatError, read_meta

    cfg_dir, _ = _knowledge_settings(config)
    directory = index_dir or cfg_dir or DEFAULT_INDEX_DIR
    try:
        meta = read_meta(directory)
    except IndexFormatError as e:
        raise click.ClickException(str(e)) from e
    for key in ("version", "count", "embedder", "dim", "kind", "saved_at", "source_dir"):
        if key in meta:
            click.echo(f"{key}: {meta[key]}")
