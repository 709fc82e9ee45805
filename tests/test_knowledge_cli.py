"""``guard index build|search|info`` through click, with the real model."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.knowledge.cli import index
from guard.knowledge.index import KnowledgeIndex


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "zh").mkdir(parents=True)
    (root / "tools.md").write_text(
        "# Tools\n\n## vLLM\n\nvLLM serves models with PagedAttention on port 8000.\n\n"
        "## Ollama\n\nOllama runs models locally and listens on port 11434.\n",
        encoding="utf-8",
    )
    (root / "zh" / "metrics.md").write_text("# 指标\n\n首 token 延迟（TTFT）是收到第一个输出 token 的时间。\n", encoding="utf-8")
    return root


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(index, args, catch_exceptions=False)
    return result.exit_code, result.output


def test_build_search_and_info(kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    code, output = run(["build", str(kb), "--out", str(out), "--quiet"])
    assert code == 0, output
    assert "3 passages" in output and "3 passages embedded" in output

    code, output = run(["search", "Which port does Ollama listen on?", "--index", str(out), "-k", "2"])
    assert code == 0, output
    first = output.splitlines()[0].split()
    assert float(first[0]) > 0.3 and float(first[1]) > 0.3 and first[2:4] == ["tools.md#2", "[tools.md]"]
    assert "listens on port 11434" in output.splitlines()[1]
    assert len([line for line in output.splitlines() if line and not line.startswith(" ")]) == 2

    code, output = run(["info", "--index", str(out)])
    assert code == 0
    assert f"version: {KnowledgeIndex.load(out).version}" in output and "count: 3" in output

    code, output = run(["build", str(kb), "--out", str(out), "--quiet"])
    assert "0 passages embedded" in output and "2 unchanged" in output


def test_default_index_dir_is_var_index_in_cwd(kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GUARD_CONFIG", raising=False)
    code, output = run(["build", str(kb), "--quiet"])
    assert code == 0, output
    assert (tmp_path / "var" / "index" / "meta.json").exists()
    code, output = run(["search", "TTFT 是什么", "-k", "1"])
    assert code == 0 and "zh/metrics.md#1" in output


def test_index_dir_from_guard_yaml(kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "guard.yaml").write_text("knowledge:\n  index_dir: data/index\n", encoding="utf-8")
    code, output = run(["build", str(kb), "--config", str(conf / "guard.yaml"), "--quiet"])
    assert code == 0, output
    assert (conf / "data" / "index" / "meta.json").exists()  # relative to the config file
    monkeypatch.setenv("GUARD_CONFIG", str(conf / "guard.yaml"))
    code, output = run(["info"])
    assert code == 0 and "count: 3" in output


def test_errors_are_reported_not_raised(kb: Path, tmp_path: Path) -> None:
    code, output = run(["search", "anything", "--index", str(tmp_path / "missing")])
    assert code == 1 and "no index" in output
    (kb / "bad.jsonl").write_text("{oops\n", encoding="utf-8")
    code, output = run(["build", str(kb), "--out", str(tmp_path / "idx"), "--quiet"])
    assert code == 1 and "bad.jsonl:1" in output
    code, output = run(["build", str(kb), "--out", str(tmp_path / "idx"), "--quiet", "--skip-errors"])
    assert code == 0 and "skipped bad.jsonl" in output
