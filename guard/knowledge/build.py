"""``guard index build``: turn a folder of knowledge into an index, re-embedding only what changed.

The manifest maps each file to its content hash and passage ids. A file whose hash is unchanged
keeps its passages and vectors from the previous build; a changed or new file is loaded, chunked
and embedded; a file that disappeared leaves the index. Passages that no file owns were added
through ``KnowledgeIndex.add_passages`` (approved corrections) and are carried over.
A different embedder or chunk budget invalidates everything, since old vectors would not compare.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from tqdm import tqdm

from guard.knowledge import storage
from guard.knowledge.chunking import MAX_TOKENS, MIN_TOKENS, embed_text, make_passages
from guard.knowledge.embedder import Embedder
from guard.knowledge.index import KnowledgeIndex, all_vectors, content_hash, faiss_from_vectors
from guard.knowledge.loaders import LoaderError, find_files, load_file
from guard.knowledge.types import Passage

log = structlog.get_logger()


@dataclass(slots=True)
class BuildReport:
    version: str
    passages: int
    embedded: int  # passages embedded in this run
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unreadable files, with skip_errors
    kept_extra: int = 0  # passages added outside the build (approved corrections)
    corrections: int = 0  # reviewed corrections in the built index (folded from the store, or kept)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.passages} passages, version {self.version}: {len(self.added)} new, "
            f"{len(self.changed)} changed, {len(self.unchanged)} unchanged, {len(self.removed)} removed "
            f"files; {self.embedded} passages embedded in {self.seconds:.1f}s"
            + (f"; {self.kept_extra} added passages kept" if self.kept_extra else "")
            + (f"; {self.corrections} reviewed corrections" if self.corrections else "")
            + (f"; skipped {', '.join(self.skipped)}" if self.skipped else "")
        )


@dataclass(slots=True)
class _Previous:
    """What the last build left in the output directory, if it can be reused."""

    files: dict[str, dict[str, Any]]
    passages: dict[str, tuple[Passage, np.ndarray]]
    content_hash: str | None
    version: str | None


ALIASES_FILE = "aliases.yaml"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _chunking(max_tokens: int, min_tokens: int) -> dict[str, int]:
    return {"max_tokens": max_tokens, "min_tokens": min_tokens}


def _previous(out_dir: Path, embedder: Embedder, chunking: dict[str, int]) -> _Previous | None:
    manifest = storage.read_json(out_dir / storage.MANIFEST_FILE)
    if manifest is None or manifest.get("embedder") != embedder.identity or manifest.get("chunking") != chunking:
        return None
    try:
        passages, index, meta = storage.read_index(out_dir)
    except (storage.IndexFormatError, OSError, RuntimeError) as e:
        log.warning("index.build.previous_unusable", error=str(e))
        return None
    vectors = all_vectors(index)
    by_id = {p.id: (p, vectors[i]) for i, p in enumerate(passages)}
    return _Previous(manifest.get("files", {}), by_id, meta.get("content_hash"), meta.get("version"))


def build_index(
    source_dir: str | Path,
    out_dir: str | Path,
    embedder: Embedder,
    *,
    full: bool = False,
    progress: bool = True,
    skip_errors: bool = False,
    max_tokens: int = MAX_TOKENS,
    min_tokens: int = MIN_TOKENS,
    corrections: list[Passage] | None = None,
) -> BuildReport:
    """Build or update the index in ``out_dir`` from the files under ``source_dir``.

    ``full`` ignores the previous build. ``skip_errors`` leaves unreadable files out (and
    reports them) instead of failing the whole build. ``corrections`` (the active reviewed
    corrections, from the review store) replace every correction the previous build held, so
    a retracted one leaves the files and the CLI sees what the proxy sees; None keeps them.
    """
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not source_dir.is_dir():
        raise LoaderError(f"{source_dir}: not a directory")
    with storage.locked(out_dir):
        return _build(source_dir, out_dir, embedder, full, progress, skip_errors, max_tokens, min_tokens, corrections)


def _build(
    source_dir: Path,
    out_dir: Path,
    embedder: Embedder,
    full: bool,
    progress: bool,
    skip_errors: bool,
    max_tokens: int,
    min_tokens: int,
    corrections: list[Passage] | None = None,
) -> BuildReport:
    started = time.perf_counter()
    chunking = _chunking(max_tokens, min_tokens)
    prev = None if full else _previous(out_dir, embedder, chunking)
    prev_files = prev.files if prev else {}
    report = BuildReport(version="", passages=0, embedded=0)

    files: dict[str, dict[str, Any]] = {}
    kept: dict[str, list[Passage]] = {}  # rel path -> passages reused with their vectors
    fresh: dict[str, list[Passage]] = {}  # rel path -> passages to embed
    for path in tqdm(find_files(source_dir), desc="reading", unit="file", disable=not progress):
        rel = path.relative_to(source_dir).as_posix()
        sha = file_sha256(path)
        old = prev_files.get(rel)
        if prev and old and old["sha256"] == sha and all(i in prev.passages for i in old["ids"]):
            kept[rel] = [prev.passages[i][0] for i in old["ids"]]
            report.unchanged.append(rel)
        else:
            try:
                fresh[rel] = make_passages(load_file(path), rel, max_tokens, min_tokens)
            except LoaderError as e:
                if not skip_errors:
                    raise
                log.warning("index.build.skipped", file=rel, error=str(e))
                report.skipped.append(rel)
                continue
            (report.changed if old else report.added).append(rel)
        files[rel] = {"sha256": sha, "ids": [p.id for p in (kept[rel] if rel in kept else fresh[rel])]}
    report.removed = sorted(set(prev_files) - set(files))

    owned = {i for f in prev_files.values() for i in f["ids"]}
    extra = [pv for pid, pv in (prev.passages.items() if prev else []) if pid not in owned]
    folded: list[Passage] = []
    if corrections is not None:
        extra, folded = _fold(extra, corrections)
    _check_unique_ids(files, [p for p, _ in extra] + folded)

    to_embed = [p for rel in files for p in fresh.get(rel, [])] + folded
    new_vectors = _embed(embedder, to_embed, progress)
    report.embedded = len(to_embed)

    passages: list[Passage] = []
    vector_rows: list[np.ndarray] = []
    new_by_id = dict(zip((p.id for p in to_embed), new_vectors))
    for rel in files:
        reused = rel in kept
        for p in kept[rel] if reused else fresh[rel]:
            passages.append(p)
            vector_rows.append(prev.passages[p.id][1] if reused and prev else new_by_id[p.id])
    for p, v in extra:
        passages.append(p)
        vector_rows.append(v)
    for p in folded:
        passages.append(p)
        vector_rows.append(new_by_id[p.id])
    report.kept_extra = len(extra)
    report.corrections = sum(1 for p in passages if p.source.startswith("review:"))

    vectors = np.stack(vector_rows) if vector_rows else np.zeros((0, embedder.dim), dtype=np.float32)
    digest = content_hash(passages, embedder.identity)
    same = prev is not None and prev.content_hash == digest
    index = KnowledgeIndex(
        embedder, passages, faiss_from_vectors(vectors), version=prev.version if same and prev else None
    )
    index.save(out_dir, {"source_dir": str(source_dir.resolve()), "aliases": _aliases(source_dir)})
    manifest = {"embedder": embedder.identity, "chunking": chunking, "files": files}
    storage.write_json(out_dir / storage.MANIFEST_FILE, manifest)

    report.version, report.passages = index.version, len(passages)
    report.seconds = time.perf_counter() - started
    log.info("index.built", out=str(out_dir), **{k: v for k, v in _counts(report).items()})
    return report


def _aliases(source_dir: Path) -> list[list[str]]:
    """The knowledge base's own alias table (``aliases.yaml`` in its folder), kept in the index
    meta so the grounding check matches "US" to "United States" the way this corpus spells it."""
    from guard.text.normalize import AliasFileError, read_alias_groups

    path = source_dir / ALIASES_FILE
    if not path.is_file():
        return []
    try:
        return read_alias_groups(path)
    except AliasFileError as e:
        raise LoaderError(str(e)) from e


def _counts(report: BuildReport) -> dict[str, Any]:
    return {
        "version": report.version,
        "passages": report.passages,
        "embedded": report.embedded,
        "added": len(report.added),
        "changed": len(report.changed),
        "unchanged": len(report.unchanged),
        "removed": len(report.removed),
    }


def _fold(extra: list[tuple[Passage, np.ndarray]], corrections: list[Passage]) -> tuple[list[tuple[Passage, np.ndarray]], list[Passage]]:
    """(the extra passages to keep with their vectors, the corrections to embed): previous
    corrections drop out unless still active; an active one unchanged keeps its vector."""
    wanted = {p.id: p for p in corrections}
    kept: list[tuple[Passage, np.ndarray]] = []
    for p, v in extra:
        if not p.source.startswith("review:"):
            kept.append((p, v))
        elif p.id in wanted and wanted[p.id] == p:
            kept.append((p, v))
            del wanted[p.id]
    return kept, list(wanted.values())


def _check_unique_ids(files: dict[str, dict[str, Any]], extra: list[Passage]) -> None:
    owner: dict[str, str] = {}
    for rel, info in files.items():
        for pid in info["ids"]:
            if pid in owner:
                raise LoaderError(f"passage id {pid!r} appears in both {owner[pid]} and {rel}")
            owner[pid] = rel
    for p in extra:
        if p.id in owner:
            raise LoaderError(
                f"passage id {p.id!r} from {owner[p.id]} clashes with a passage added by review;"
                " rename one of them"
            )


def _embed(embedder: Embedder, passages: list[Passage], progress: bool) -> np.ndarray:
    if not passages:
        return np.zeros((0, 0), dtype=np.float32)
    with tqdm(total=len(passages), desc="embedding", unit="passage", disable=not progress) as bar:
        return embedder.encode([embed_text(p) for p in passages], on_batch=bar.update)
