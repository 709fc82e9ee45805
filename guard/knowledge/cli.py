"""``guard index build|search|info``.

The index directory is, in order: the ``--out``/``--index`` option, ``knowledge.index_dir`` in
guard.yaml (``--config``, ``$GUARD_CONFIG`` or ./guard.yaml if present), then ``var/index``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from guard.errors import ConfigError
from guard.knowledge.embedder import BACKENDS  # numpy and structlog only: the model loads later

DEFAULT_INDEX_DIR = Path("var/index")


def _knowledge_settings(config: str | None) -> tuple[Path | None, str | None, str | None]:
    """(index_dir, embedder, embedder_backend) from guard.yaml, or Nones without a config file."""
    path = config or os.environ.get("GUARD_CONFIG") or ("guard.yaml" if Path("guard.yaml").exists() else None)
    if path is None:
        return None, None, None
    from guard.settings import load_settings

    try:
        settings = load_settings(path)
    except ConfigError as e:
        raise click.ClickException(f"{path}:\n" + "\n".join(e.problems)) from e
    k = settings.knowledge
    return k.index_dir, k.embedder, k.embedder_backend


def _store_url(config: str | None) -> str | None:
    """review.store_url from guard.yaml, when there is a config file."""
    path = config or os.environ.get("GUARD_CONFIG") or ("guard.yaml" if Path("guard.yaml").exists() else None)
    if path is None:
        return None
    from guard.settings import load_settings

    try:
        return load_settings(path).review.store_url
    except ConfigError as e:
        raise click.ClickException(f"{path}:\n" + "\n".join(e.problems)) from e


def active_corrections(store_url: str) -> list:
    """The passages of every active reviewed correction in the review store.

    Read only: the store is opened without migrating it (a build must not change a schema the
    proxies are using), and a store that does not exist yet holds no corrections."""
    import asyncio

    from guard.corrections import active_passages
    from guard.review.db import Database, parse_url
    from guard.review.store import ReviewStore

    target = parse_url(store_url)
    if target.dialect == "sqlite" and not Path(target.dsn).exists():
        return []
    store = ReviewStore(Database(target))
    try:
        return asyncio.run(active_passages(store))
    except Exception as e:  # noqa: BLE001 - no review tables yet: nothing to fold
        if "review_events" in str(e) or "no such table" in str(e):
            return []
        raise click.ClickException(f"cannot read corrections from the review store: {e}") from e
    finally:
        store.close()


def _embedder(name: str | None, backend: str | None, threads: int = 1):
    from guard.knowledge.embedder import DEFAULT_BACKEND, DEFAULT_MODEL, shared_embedder

    return shared_embedder(name or DEFAULT_MODEL, threads=threads, backend=backend or DEFAULT_BACKEND)


backend_option = click.option(
    "--embedder-backend", "backend", type=click.Choice(BACKENDS), default=None,
    help="Run the model on torch, or exported once to ONNX Runtime in fp32 or with int8 weights "
         "[default: knowledge.embedder_backend, else onnx-int8; search: the index's].",
)


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
@backend_option
@click.option("--full", is_flag=True, help="Re-embed everything instead of only changed files.")
@click.option("--skip-errors", is_flag=True, help="Leave unreadable files out instead of failing.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for embedding [default: all cores; a build is a batch job: on 2 cores, "
                   "55 passages/s against about 28 with one thread (onnx-int8)].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--store", "store_url", default=None,
              help="Review store to fold active corrections from [default: review.store_url from guard.yaml].")
@click.option("--no-corrections", is_flag=True, help="Do not fold reviewed corrections in; keep those the index has.")
@config_option
def build_cmd(source: Path, out: Path | None, embedder: str | None, backend: str | None, full: bool,
              skip_errors: bool, threads: int | None, quiet: bool, store_url: str | None, no_corrections: bool,
              config: str | None) -> None:
    """Index the Markdown, text, HTML, PDF and JSONL files under SOURCE.

    With a review store (``--store``, or review.store_url in guard.yaml) the active reviewed
    corrections are folded in and retracted ones removed, so ``guard index search`` and
    ``guard check --index`` see what the proxy sees.
    """
    from guard.knowledge.build import build_index
    from guard.knowledge.loaders import LoaderError
    from guard.knowledge.onnx import EmbedderExportError

    cfg_dir, cfg_embedder, cfg_backend = _knowledge_settings(config)
    out_dir = out or cfg_dir or DEFAULT_INDEX_DIR
    model = _embedder(embedder or cfg_embedder, backend or cfg_backend, threads or os.cpu_count() or 1)
    url = None if no_corrections else (store_url or _store_url(config))
    corrections = active_corrections(url) if url else None
    try:
        report = build_index(source, out_dir, model, full=full, progress=not quiet, skip_errors=skip_errors,
                             corrections=corrections)
    except (LoaderError, EmbedderExportError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{out_dir}: {report.summary()}")


def _open(index_dir: Path | None, embedder: str | None, backend: str | None, config: str | None):
    from guard.knowledge.index import KnowledgeIndex
    from guard.knowledge.storage import IndexFormatError, read_meta

    cfg_dir, _, _ = _knowledge_settings(config)
    directory = index_dir or cfg_dir or DEFAULT_INDEX_DIR
    try:
        # The embedder recorded at build time, unless overridden: other vectors would not compare.
        override = None
        if embedder or backend:
            meta = read_meta(directory)
            override = _embedder(embedder or meta["embedder"], backend or meta.get("embedder_backend"))
        return KnowledgeIndex.load(directory, override)
    except IndexFormatError as e:
        raise click.ClickException(str(e)) from e


@index.command("search")
@click.argument("query")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Index directory (default: knowledge.index_dir from guard.yaml, else var/index).")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--embedder", default=None, help="Override the model recorded in the index.")
@backend_option
@click.option("--mode", type=click.Choice(["hybrid", "lexical", "semantic"]), default="hybrid", show_default=True,
              help="Keywords (BM25), embeddings, or both fused by rank.")
@click.option("--tenant", default="default", show_default=True,
              help="Search as this tenant: folded corrections count for their own tenant only (global ones for all).")
@config_option
def search_cmd(query: str, index_dir: Path | None, k: int, embedder: str | None, backend: str | None, mode: str,
               tenant: str, config: str | None) -> None:
    """Print the K passages nearest to QUERY: score, cosine, id, source and text."""
    from guard.corrections import tenant_view

    idx = _open(index_dir, embedder, backend, config)
    hits = tenant_view(idx, tenant).search(query, k, mode)  # type: ignore[arg-type]
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

    cfg_dir, _, _ = _knowledge_settings(config)
    directory = index_dir or cfg_dir or DEFAULT_INDEX_DIR
    try:
        meta = read_meta(directory)
    except IndexFormatError as e:
        raise click.ClickException(str(e)) from e
    for key in ("version", "count", "embedder", "embedder_backend", "dim", "kind", "saved_at", "source_dir"):
        if key in meta:
            click.echo(f"{key}: {meta[key]}")
