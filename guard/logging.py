"""structlog set-up: JSON lines in production, readable colours in a terminal.

JSON lines are rendered with orjson straight to bytes: one event per request is on the hot
path, and the standard library's json costs several times more per event.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog


def configure(fmt: str = "auto", level: str = "info") -> None:
    json_out = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
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
