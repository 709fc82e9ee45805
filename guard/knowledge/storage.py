"""The on-disk layout of an index directory.

    index.faiss     FAISS index; row i holds the vector of passage i
    passages.jsonl  one passage per line, in row order
    meta.json       version, embedder, dimension and count (written last)
    manifest.json   per-file hashes and passage ids, read only by ``guard index build``

Each file is written to a temporary name and renamed into place, and ``meta.json`` goes last,
so a reader never sees half a file; ``read_index`` checks the counts agree so it never serves
passages that don't match their vectors.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss

from guard.knowledge.types import Passage

INDEX_FILE = "index.faiss"
PASSAGES_FILE = "passages.jsonl"
META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
FORMAT = 1


class IndexFormatError(RuntimeError):
    """The index directory is missing, incomplete or from an incompatible version."""


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Exclusive lock for read-modify-write of an index directory, across processes: a build
    and the review app adding a correction must not overwrite each other's result."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def meta_mtime(directory: Path) -> int | None:
    try:
        return (directory / META_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")

    _write_atomic(path, write)


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def passage_to_dict(p: Passage) -> dict[str, Any]:
    return {"id": p.id, "text": p.text, "source": p.source, "metadata": p.metadata}


def passage_from_dict(d: dict[str, Any]) -> Passage:
    return Passage(d["id"], d["text"], d["source"], d.get("metadata") or {})


def write_index(directory: Path, passages: list[Passage], index: faiss.Index, meta: dict[str, Any]) -> None:
    if index.ntotal != len(passages):
        raise ValueError(f"{index.ntotal} vectors for {len(passages)} passages")

    def write_passages(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for p in passages:
                f.write(json.dumps(passage_to_dict(p), ensure_ascii=False) + "\n")

    _write_atomic(directory / INDEX_FILE, lambda tmp: faiss.write_index(index, tmp))
    _write_atomic(directory / PASSAGES_FILE, write_passages)
    write_json(directory / META_FILE, dict(meta, format=FORMAT, count=len(passages)))


def read_meta(directory: Path) -> dict[str, Any]:
    meta = read_json(directory / META_FILE)
    if meta is None:
        raise IndexFormatError(f"no index in {directory} (run `guard index build`)")
    if meta.get("format") != FORMAT:
        raise IndexFormatError(f"{directory}: index format {meta.get('format')} is not {FORMAT}; rebuild it")
    return meta


def read_index(directory: Path) -> tuple[list[Passage], faiss.Index, dict[str, Any]]:
    meta = read_meta(directory)
    index = faiss.read_index(str(directory / INDEX_FILE))
    with (directory / PASSAGES_FILE).open(encoding="utf-8") as f:
        passages = [passage_from_dict(json.loads(line)) for line in f if line.strip()]
    if not (index.ntotal == len(passages) == meta["count"]):
        raise IndexFormatError(
            f"{directory}: {index.ntotal} vectors, {len(passages)} passages, meta says {meta['count']};"
            " the index was written by two builds at once, rebuild it"
        )
    return passages, index, meta
