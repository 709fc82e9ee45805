"""Issue 12, Low: what guard shows to anyone who can reach it.

The attacks: /docs pulling Swagger UI's script from a CDN onto the origin the reviewer pages
live on; the shipped container config listening everywhere without keys; the sample reviewer
password ``change-me`` working, silently, on a server others can reach.
"""

from __future__ import annotations

from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from guard.settings import Settings
from tests.security.sec_support import serve_guard, settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE_HASH = bcrypt.hashpw(b"change-me", bcrypt.gensalt(rounds=4)).decode()


def test_docs_are_off_by_default(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        assert httpx.get(f"{base}/docs").status_code == 404


def test_docs_when_on_load_nothing_from_elsewhere(fake_backend, tmp_path):
    pytest.importorskip("swagger_ui_bundle")
    with serve_guard(settings(fake_backend.base_url, tmp_path, server={"docs": True})) as (base, _):
        page = httpx.get(f"{base}/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        assert httpx.get(f"{base}/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_the_shipped_container_config_needs_keys():
    data = yaml.safe_load((REPO / "deploy" / "guard.yaml").read_text())
    host = data.get("server", {}).get("host", "127.0.0.1")
    mode = data.get("auth", {}).get("mode", "none")
    assert not (host == "0.0.0.0" and mode == "none")


def _sample(tmp_path, host: str, **review) -> Settings:
    s = settings("http://127.0.0.1:9/v1", tmp_path, reviewers=[{"username": "admin", "password_hash": SAMPLE_HASH, "role": "admin"}],
                 review=review)
    s.server.host = host
    return s


def test_the_sample_password_is_refused_beyond_loopback(tmp_path):
    from guard.commands.serve import sample_password_problem

    assert "change-me" in (sample_password_problem(_sample(tmp_path, "0.0.0.0")) or "")
    assert sample_password_problem(_sample(tmp_path, "127.0.0.1")) is None
    assert sample_password_problem(_sample(tmp_path, "0.0.0.0", allow_sample_password=True)) is None


def test_the_sample_password_is_warned_about_at_start_and_on_the_log_in_page(fake_backend, tmp_path, capfd, monkeypatch):
    s = settings(fake_backend.base_url, tmp_path, reviewers=[{"username": "admin", "password_hash": SAMPLE_HASH, "role": "admin"}])
    with serve_guard(s) as (base, app):
        assert "SAMPLE PASSWORD" in capfd.readouterr().out
        from tests.security.sec_support import review_web

        web = review_web(app)
        assert "change-me" not in httpx.get(f"{base}/review/login").text  # loopback: the log line is enough
        web.exposed = True  # as if listening on 0.0.0.0
        assert "change-me" in httpx.get(f"{base}/review/login").text


def test_the_shipped_sample_config_is_refused_beyond_loopback():
    from guard.commands.serve import sample_password_problem
    from guard.settings import load_settings

    s = load_settings(REPO / "guard.yaml")
    assert sample_password_problem(s) is None  # 127.0.0.1: the start-up warning only
    s.server.host = "0.0.0.0"
    assert "admin" in (sample_password_problem(s) or "")
