"""Policy files: the shipped ones are valid; every problem is reported with file, line and key."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from guard.cli import main
from guard.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_policies_and_config_are_valid():
    r = CliRunner().invoke(main, ["policy", "check", str(ROOT / "policies")])
    assert r.exit_code == 0, r.output
    assert "ok  default" in r.output
    settings = load_settings(ROOT / "guard.yaml")
    assert settings.models[0].name == "smollm2"


def test_every_problem_is_reported_with_file_line_and_key(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "name: a\n"
        "sampling:\n"
        "  temperature: {min: 2, max: 1}\n"
        "  top_p: {mode: wat}\n"
        "input:\n"
        "  deny_patterns: ['(unclosed']\n"
        "  bogus: 1\n"
        "decision:\n"
        "  bands:\n"
        "    - {min: 0.5, action: pass}\n"
    )
    (tmp_path / "b.yaml").write_text("name: b\nsampling: [\n")
    (tmp_path / "c.yaml").write_text("name: dup\n")
    (tmp_path / "d.yaml").write_text("name: dup\n")  # the same name twice
    r = CliRunner().invoke(main, ["policy", "check", str(tmp_path)])
    assert r.exit_code == 1
    out = r.output
    a = tmp_path / "a.yaml"
    assert f"{a}:3: sampling.temperature: min is greater than max" in out
    assert f"{a}:4: sampling.top_p.mode:" in out
    assert f"{a}:6: input.deny_patterns: invalid regular expression" in out
    assert f"{a}:7: input.bogus: Extra inputs are not permitted" in out
    assert f"{a}:9: decision.bands: the lowest band must start at 0" in out
    assert f"{tmp_path / 'b.yaml'}:3: invalid YAML" in out
    assert "is also defined in" in out


def test_settings_errors_point_at_the_line(tmp_path):
    from guard.errors import ConfigError

    f = tmp_path / "guard.yaml"
    f.write_text("models:\n  - name: m\n    backend:\n      kind: openai\n      model: x\n")
    try:
        load_settings(f)
    except ConfigError as e:
        assert any(p.startswith(f"{f}:3: models.0.backend: kind openai needs api_base") for p in e.problems), e.problems
    else:
        raise AssertionError("expected a ConfigError")


def test_keys_command_makes_a_key_whose_hash_authenticates():
    from guard.settings import hash_key

    r = CliRunner().invoke(main, ["keys", "new", "--tenant", "acme"])
    key = r.output.split()[1]
    assert f"hash: {hash_key(key)}" in r.output and "tenant: acme" in r.output
