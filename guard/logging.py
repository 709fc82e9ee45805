"""structlog set-up: JSON lines in production, readable colours in a terminal.

JSON lines are rendered with orjson straight to bytes: one event per request is on the hot
path, and the standard library's json costs several times more per event.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson
import structlog


class _UtcStamp:
    """structlog's ``TimeStamper(fmt="iso", utc=True)`` output (``2026-01-31T12:00:00.123456Z``)
    at a fraction of its cost: the date and time to the second are formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, logger: Any, name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event_dict["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return event_dict


def configure(fmt: str = "auto", level: str = "info") -> None:
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _UtcStamp(),
    ]
    if json_out:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=lambda obj, **kw: orjson.dumps(obj, default=str)),
        ]
        factory = structlog.BytesLoggerFactory(file=sys.stderr.buffer)
    else:
        # plain tracebacks: rich ones with local variables take about a second each to render
        processors += [structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)]
        factory = structlog.PrintLoggerFactory(file=sys.stderr)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
