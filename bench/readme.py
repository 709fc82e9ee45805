"""Each benchmark script rewrites its own marked section of README.md, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def replace_section(name: str, section: str, title: str, path: Path = README) -> None:
    """Put ``section`` (which starts and ends with ``markers(name)``) where the markers are.

    When the README has no such markers, the section is appended at the end under ``title``.
    """
    start, end = markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + f"## {title}\n\n{section}\n"
    path.write_text(text, encoding="utf-8")
