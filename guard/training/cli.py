"""``guard calibrate`` (the combiner's weights) and ``guard train verifier`` (the cross-encoder)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import click

from guard.knowledge.cli import backend_option

PRIOR_STRENGTH = 0.0
_FILES = click.Path(exists=True, dir_okay=False, path_type=Path)


def _grade(named_rows: list[tuple[str, list[Any]]], policy: Any, embedder: Any, index: Any = None) -> list[Any]:
    from tqdm import tqdm

    from guard.checks.calibrate import grade_row

    graded = []
    for name, rows in named_rows:
        quiet = not sys.stderr.isatty()  # a log file gets a line per file, not a redrawn bar
        for row in tqdm(rows, desc=f"grading {name}", unit="row", file=sys.stderr, disable=quiet):
            graded.append(grade_row(name, row, policy, embedder, index))
        if quiet:
            click.echo(f"graded {len(rows)} rows of {name}", err=True)
    return graded


def _read(files: tuple[Path, ...], limit: int | None, seed: int, forms: bool = False) -> list[tuple[str, list[Any]]]:
    from guard.checks.calibrate import subsample
    from guard.checks.evaluate import read_rows
    from guard.training.forms import sentence_forms

    named = []
    for p in files:
        rows = read_rows(p)
        if forms:
            made = sentence_forms(rows)
            click.echo(f"{p.stem}: {len(made)} rows in the other answer form", err=True)
            rows += made
        named.append((p.stem, subsample(rows, limit, seed)))
    return named


def _setup(policy_file: Path | None, embedder: str, backend: str | None) -> tuple[Any, Any]:
    from guard.checks.cli import _policy, _quiet_logs
    from guard.knowledge.embedder import DEFAULT_BACKEND, Embedder

    _quiet_logs()
    return _policy(policy_file), Embedder(embedder, backend=backend or DEFAULT_BACKEND)


@click.command("calibrate")
@click.argument("files", nargs=-1, type=_FILES)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The weights JSON to write.")
@click.option("--from-reviews", is_flag=True, help="Rows from the review store's decided items (approved = grounded; edited or rejected = not).")
@click.option("--store", "store_url", default=None, help="Review store URL [default: review.store_url of --config].")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None, help="guard.yaml, for --from-reviews.")
@click.option("--tenant", default=None, help="Only this tenant's reviews.")
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Regrade review rows against this knowledge index instead of the evidence they cited.")
@click.option("--policy", "policy_file", type=_FILES, help="Policy YAML whose grounding settings grade the rows.")
@click.option("--limit-per-file", type=click.IntRange(min=2), default=None, help="A random, label-balanced sample of N rows per file.")
@click.option("--seed", default=0, show_default=True)
@click.option("--save-graded", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the graded rows (features per claim) to this JSONL file.")
@click.option("--graded", "graded_files", multiple=True, type=_FILES,
              help="Graded rows written by --save-graded, used as they are (refit without regrading).")
@click.option("--exclude", multiple=True, default=("units", "alignment", "unstated"), show_default=True,  # calibrate.EXCLUDED
              help="Features not to fit (repeatable); --exclude '' fits every numeric feature.")
@click.option("--free", is_flag=True, help="Fit every weight freely instead of anchoring on the current weights.")
@click.option("--prior-strength", default=PRIOR_STRENGTH, show_default=True, type=click.FloatRange(min=0),
              help="Pull the weights towards the policy's current ones (0: towards zero only).")
@click.option("--no-caps", is_flag=True, help="Do not try the hard caps (missing number/year/name).")
@click.option("--embedder", default="all-MiniLM-L6-v2", show_default=True)
@backend_option
def calibrate(files: tuple[Path, ...], out: Path, from_reviews: bool, store_url: str | None, config_path: str | None,
              tenant: str | None, index_dir: Path | None, policy_file: Path | None, limit_per_file: int | None,
              seed: int, save_graded: Path | None, graded_files: tuple[Path, ...], exclude: tuple[str, ...], free: bool, prior_strength: float, no_caps: bool, embedder: str,
              backend: str | None) -> None:
    """Fit the grounding combiner on labelled rows; print leave-one-file-out AUROC; write weights."""
    from guard.checks.calibrate import calibrate as fit_all
    from guard.checks.calibrate import dump_rows, format_calibration, load_graded
    from guard.checks.runner import build_checks
    from guard.checks.grounding.combiner import hand_model

    if not files and not from_reviews and not graded_files:
        raise click.UsageError("give labelled FILES, --from-reviews, --graded, or some of them")
    policy, emb = _setup(policy_file, embedder, backend)
    named = _read(files, limit_per_file, seed)
    graded = _grade(named, policy, emb)
    if from_reviews:
        graded += _review_rows(store_url, config_path, tenant, index_dir, policy, emb)
    if save_graded:
        dump_rows(graded, save_graded)
    for g in graded_files:
        graded += load_graded(g)
    started = build_checks(policy, None, emb)
    grounding = next((c for c in started if getattr(c, "name", "") == "grounding"), None)
    # the policy's weights, or the hand-set model the check runs without them (not the package's
    # weights.json, which the check does not use by default: "as run" would compare another model)
    current = None if grounding is None else (grounding.combiner or hand_model())
    if current is None:
        raise click.UsageError("the policy has no grounding check to calibrate")
    try:
        result = fit_all(graded, {} if no_caps else current.caps, start=current,
                        exclude=[e for e in exclude if e], prior_strength=prior_strength,
                        anchored=not free)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    model = type(result.model)(result.model.bias, result.model.features, result.model.caps, {
        "command": "guard " + " ".join(sys.argv[1:]),
        "rows": len(graded),
        "per_file": result.per_file,
        "date": time.strftime("%Y-%m-%d"),
    })
    model.save(out)
    click.echo(format_calibration(result))
    click.echo(f"wrote {out}")


def _review_rows(store_url: str | None, config_path: str | None, tenant: str | None, index_dir: Path | None,
                 policy: Any, emb: Any) -> list[Any]:
    from guard.checks.review_rows import rows_from_store

    if not store_url:
        if not config_path:
            raise click.UsageError("--from-reviews needs --store URL or --config guard.yaml")
        from guard.settings import load_settings

        store_url = load_settings(config_path).review.store_url
    rows = rows_from_store(store_url, tenant)
    index = None
    if index_dir is not None:
        from guard.knowledge.index import KnowledgeIndex

        index = KnowledgeIndex.load(index_dir, emb)
    else:
        rows = [r for r in rows if r.context.strip()]  # nothing cited: nothing to regrade against
    click.echo(f"{len(rows)} decided review items", err=True)
    return _grade([("reviews", rows)], policy, emb, index)


@click.group("train")
def train() -> None:
    """Train the grounding check's models."""


@train.command("verifier")
@click.option("--knowledge", "knowledge_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A knowledge folder: its sentences give synthetic pairs (FactCC).")
@click.option("--rows", "row_files", multiple=True, type=_FILES, help="Labelled rows (guard eval format); repeatable.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--pairs", "n_pairs", default=8000, show_default=True, type=click.IntRange(min=2), help="Training pairs in all.")
@click.option("--synthetic-share", default=0.4, show_default=True, type=click.FloatRange(0, 1),
              help="Share of pairs made from the knowledge (and the rows' contexts) rather than labelled rows.")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=3e-5, show_default=True)
@click.option("--max-length", default=256, show_default=True, type=click.IntRange(min=16))
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads [default: torch's].")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also append progress lines (pairs/s, time left) to this file.")
@click.option("--max-minutes", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Stop training after this long and export what was learnt (a busy machine).")
@click.option("--with-question/--claim-only", default=False, show_default=True,
              help="Train on the question and claim together (the check then gives the verifier the question too).")
@click.option("--match-lengths", is_flag=True,
              help="From the rows, keep as many supported as unsupported claims of each length per file.")
@click.option("--sentence-forms", is_flag=True,
              help="Add each record's other answer form: its hallucinated sentence with the right answer in it, "
                   "and the wrong span alone (guard.training.forms).")
@click.option("--seed", default=0, show_default=True)
@click.option("--base", default=None, help="Model to fine-tune [default: the shipped all-MiniLM-L6-v2].")
@click.option("--embedder", default="all-MiniLM-L6-v2", show_default=True)
@backend_option
def train_verifier(knowledge_dir: Path, row_files: tuple[Path, ...], out_dir: Path, n_pairs: int, synthetic_share: float,
                   epochs: int, batch_size: int, lr: float, max_length: int, threads: int | None, log_file: Path | None,
                   max_minutes: float | None, with_question: bool, match_lengths: bool, sentence_forms: bool, seed: int,
                   base: str | None, embedder: str, backend: str | None) -> None:
    """Fine-tune MiniLM as a cross-encoder verifier and export it to ONNX int8 in OUT."""
    from guard.training.pairs import knowledge_passages, synthetic_pairs
    from guard.training.verifier import graded_pairs, train as fit

    rng = random.Random(seed)
    n_rows = 0 if not row_files else round(n_pairs * (1 - synthetic_share))
    labelled, contexts = [], []
    if n_rows:
        policy, emb = _setup(None, embedder, backend)
        per_file = max(2, n_rows * 2 // (3 * len(row_files)) + 1)  # a row gives about 1.5 pairs
        if match_lengths:
            per_file *= 3  # matching drops most of a file whose classes differ in length (HaluEval QA: 85%)
        named = _read(row_files, per_file, seed, sentence_forms)
        labelled = graded_pairs(_grade(named, policy, emb), with_question=with_question, match_lengths=match_lengths)[:n_rows]
        contexts = [r.context for _, rows in named for r in rows]
    passages = knowledge_passages(knowledge_dir)
    # A small knowledge folder gives few sentences: take at most ~15 pairs per passage from
    # it, and the rest from the rows' contexts (other documents, the same recipe).
    wanted = n_pairs - len(labelled)
    synthetic = synthetic_pairs(passages, min(wanted if not contexts else wanted // 2, 15 * len(passages)), rng)
    synthetic += synthetic_pairs(_chunks(contexts), n_pairs - len(labelled) - len(synthetic), rng)
    pairs = labelled + synthetic
    click.echo(f"{len(pairs)} pairs: {len(labelled)} from rows, {len(synthetic)} synthetic "
               f"({len(passages)} knowledge passages)", err=True)

    def log(line: str) -> None:
        if log_file:
            with log_file.open("a", encoding="utf-8") as fh:
                fh.write(time.strftime("%H:%M:%S ") + line + "\n")

    report = fit(pairs, out_dir, base=base, epochs=epochs, batch_size=batch_size, lr=lr, max_length=max_length,
                 seed=seed, threads=threads, log=log,
                 max_seconds=max_minutes * 60 if max_minutes else None, reads_question=with_question)
    msg = f"trained on {report.pairs} pairs in {report.seconds / 60:.1f} min ({report.pairs_per_s:.2f} pairs/s); wrote {out_dir}"
    log(msg)
    click.echo(msg)


def _chunks(contexts: list[str]) -> list[str]:
    from guard.knowledge.chunking import chunk_text

    return [c for text in contexts for c in chunk_text(text)]
