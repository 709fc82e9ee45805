"""``guard knowledge corrections list|show|retract``: the reviewed corrections in the review store.

The store is the record (``guard.corrections``): a retraction written here reaches every
replica's checks within one sync (``knowledge.corrections_sync_s``), and the next
``guard index build`` drops it from the index files.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import time
from pathlib import Path
from typing import Any

import click

from guard.errors import ConfigError


def _store_url(store: str | None, config: str | None) -> str:
    if store:
        return store
    path = config or os.environ.get("GUARD_CONFIG") or ("guard.yaml" if Path("guard.yaml").exists() else None)
    if path is None:
        raise click.UsageError("give --store URL or --config guard.yaml (with review.store_url)")
    from guard.settings import load_settings

    try:
        url = load_settings(path).review.store_url
    except ConfigError as e:
        raise click.ClickException(f"{path}:\n" + "\n".join(e.problems)) from e
    if not url:
        raise click.ClickException(f"{path}: review.store_url is not set; corrections live in the review store")
    return url


def _with_store(url: str, work: Any) -> Any:
    from guard.review import open_store

    store = open_store(url)
    try:
        return asyncio.run(work(store))
    finally:
        store.close()


store_option = click.option("--store", default=None, help="Review store URL [default: review.store_url from guard.yaml].")
config_option = click.option("--config", type=click.Path(dir_okay=False), default=None, help="guard.yaml to read review.store_url from.")


@click.group()
def knowledge() -> None:
    """The knowledge guard checks answers against, beyond the built index."""


@knowledge.group()
def corrections() -> None:
    """Reviewed corrections: list them, show one, take one back."""


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t)) if t else "-"


@corrections.command("list")
@click.option("--tenant", default=None, help="Only this tenant's corrections (and the global ones).")
@click.option("--all", "show_all", is_flag=True, help="Include retracted corrections.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@config_option
def list_cmd(tenant: str | None, show_all: bool, as_json: bool, store: str | None, config: str | None) -> None:
    """Every correction: item id, status, scope, tenant, who added it and when, and its text."""
    from guard.corrections import list_corrections

    found = _with_store(_store_url(store, config), list_corrections)
    shown = [c for c in found if (show_all or c.status == "active") and (tenant is None or c.tenant == tenant or c.scope == "global")]
    if as_json:
        for c in shown:
            click.echo(json.dumps(c.as_dict(), ensure_ascii=False))
        return
    if not shown:
        click.echo("(no corrections)")
    for c in shown:
        scope = "global" if c.scope == "global" else f"tenant {c.tenant}"
        click.echo(f"{c.item_id}  {c.status:<9}  {scope:<20}  {c.added_by} {_when(c.added_at)}")
        click.echo("    " + " ".join(c.text.split())[:160])


@corrections.command("show")
@click.argument("item_id")
@store_option
@config_option
def show_cmd(item_id: str, store: str | None, config: str | None) -> None:
    """One correction as JSON: text, question, scope, provenance and retraction."""
    from guard.corrections import list_corrections

    found = {c.item_id: c for c in _with_store(_store_url(store, config), list_corrections)}
    if item_id not in found:
        raise click.ClickException(f"no correction for review item {item_id!r}")
    click.echo(json.dumps(found[item_id].as_dict(), ensure_ascii=False, indent=2))


@corrections.command("retract")
@click.argument("item_id")
@click.option("--reason", default=None, help="Why it no longer holds (kept in the audit trail).")
@click.option("--actor", default=None, help="Who retracts it [default: cli:<login name>].")
@store_option
@config_option
def retract_cmd(item_id: str, reason: str | None, actor: str | None, store: str | None, config: str | None) -> None:
    """Take a correction back: every replica stops using it within one sync."""
    from guard.corrections import retract

    who = actor or f"cli:{getpass.getuser()}"
    try:
        c = _with_store(_store_url(store, config), lambda s: retract(s, item_id, who, reason))
    except LookupError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"retracted {c.item_id} ({c.passage_id}); replicas drop it on their next sync, "
               "and the next guard index build removes it from the index files")
