"""``guard review``: run the reviewer web app on its own, and make password hashes for guard.yaml."""

from __future__ import annotations

import sys

import click


@click.group()
def review() -> None:
    """The human review queue."""


@review.command("hash-password")
@click.option("--password", envvar="GUARD_REVIEW_PASSWORD", default=None,
              help="The password (default: asked for, twice, without echo).")
@click.option("--rounds", default=12, show_default=True, type=click.IntRange(4, 16), help="bcrypt cost.")
def hash_password_cmd(password: str | None, rounds: int) -> None:
    """Print a bcrypt hash for a reviewer's password_hash in guard.yaml."""
    from review_queue.auth import hash_password

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        click.echo("error: use at least 8 characters", err=True)
        sys.exit(2)
    click.echo(hash_password(password, rounds))


@review.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="guard.yaml (its review: section is used).")
@click.option("--host", default=None, help="Default: server.host from the config.")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535))
@click.option("--sweep-s", default=5.0, show_default=True, help="How often to expire overdue items.")
def serve(config_path: str, host: str | None, port: int, sweep_s: float) -> None:
    """Serve the reviewer web page alone, against the proxy's review store."""
    import uvicorn

    from guard.errors import ConfigError
    from guard.review.store import open_store
    from guard.review.webhook import WebhookSender
    from guard.settings import load_settings
    from review_queue.app import create_review_app

    try:
        settings = load_settings(config_path)
    except ConfigError as e:
        click.echo("\n".join(e.problems), err=True)
        sys.exit(2)
    if not settings.review.reviewers:
        click.echo("warning: review.reviewers is empty, nobody can log in", err=True)
    from guard.commands.serve import sample_password_problem, uvicorn_options
    from guard.settings import is_loopback

    settings.server.host, settings.server.port = host or settings.server.host, port
    problem = sample_password_problem(settings)
    if problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    store = open_store(settings.review.store_url)
    # "Add to knowledge" only records the event here: the store is the record of corrections,
    # and every proxy replica replays it within one sync (guard.corrections).
    app = create_review_app(store, settings.review, lambda text, provenance: None, webhooks=WebhookSender(),
                            housekeeping_s=sweep_s, exposed=not is_loopback(settings.server.host))
    options = {**uvicorn_options(settings), "log_level": settings.server.log_level}
    try:
        uvicorn.run(app, **options)  # the same header deadline and forwarded-header trust as guard serve
    finally:
        store.close()
