"""``guard policy check DIR``: every problem in every file, with file, line and key path."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from guard.errors import ConfigError
from guard.policy.loader import load_policies


@click.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("check")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def check(directory: str) -> None:
    """Validate every policy in DIRECTORY; exit 1 if any is invalid."""
    try:
        policies = load_policies(Path(directory))
    except ConfigError as e:
        for p in e.problems:
            click.echo(p, err=True)
        click.echo(f"{len(e.problems)} problem(s)", err=True)
        sys.exit(1)
    for name, p in sorted(policies.items()):
        click.echo(f"ok  {name}: input={p.input.mode} checks={'on' if p.checks_enabled else 'off'} streaming={p.streaming.mode}")
