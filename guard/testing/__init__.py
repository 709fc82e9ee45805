"""Test helpers that ship with guard: a fake OpenAI-compatible backend (see fake_backend).

Names are imported lazily so `python -m guard.testing.fake_backend` does not import its own
module twice (runpy warns when a package's __init__ already imported the module it runs).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FakeBackend": "guard.testing.fake_backend",
    "RecordedRequest": "guard.testing.fake_backend",
    "FakeConfig": "guard.testing.fake_config",
    "FakeBackendHandle": "guard.testing.fake_runner",
    "ThreadedFakeBackend": "guard.testing.fake_runner",
    "run_fake_backend": "guard.testing.fake_runner",
    "serve_fake_backend": "guard.testing.fake_runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'guard.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
