"""Shared fixtures: one fake OpenAI-compatible backend per session, reset for every test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def _fake_backend_session():
    from guard.testing import run_fake_backend

    with run_fake_backend() as fb:
        yield fb


@pytest.fixture
def fake_backend(_fake_backend_session):
    """The shared fake backend with default behaviour and no recorded requests."""
    _fake_backend_session.reset()
    _fake_backend_session.clear()
    return _fake_backend_session


@pytest.fixture(scope="session")
def knowledge_index(tmp_path_factory):
    """The sample knowledge base in knowledge/, indexed once per session with the real MiniLM."""
    from pathlib import Path

    from guard.knowledge.build import build_index
    from guard.knowledge.embedder import shared_embedder

    out = tmp_path_factory.mktemp("index")
    build_index(Path(__file__).resolve().parent.parent / "knowledge", out, shared_embedder("all-MiniLM-L6-v2"), progress=False)
    return out


@pytest.fixture
def store(tmp_path):
    """A review store on a fresh SQLite file (tests that need both databases define their own)."""
    from guard.review import open_store

    s = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    yield s
    s.close()
