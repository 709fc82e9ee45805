"""``guard keys``: make API keys and the hashes that go into guard.yaml (keys are never stored)."""

from __future__ import annotations

import secrets

import click

from guard.settings import hash_key


@click.group()
def keys() -> None:
    """Make API keys."""


@keys.command("new")
@click.option("--tenant", required=True)
def new(tenant: str) -> None:
    """Print a new key (give it to the client) and the guard.yaml entry (keep it)."""
    key = "gk-" + secrets.token_urlsafe(32)
    click.echo(f"key:  {key}\n\nauth:\n  keys:\n    - hash: {hash_key(key)}\n      tenant: {tenant}")


@keys.command("hash")
@click.argument("key")
def hash_(key: str) -> None:
    """Print the stored form of KEY."""
    click.echo(hash_key(key))
