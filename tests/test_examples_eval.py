"""The evaluation sample shipped in examples/eval: well formed, and `guard eval` runs on it from a clone."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.checks.evaluate import EvalRow
from guard.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "eval"
FILES = {"sample_en.jsonl": "en", "sample_zh.jsonl": "zh"}


@pytest.mark.parametrize("name,lang", sorted(FILES.items()))
def test_sample_rows_are_paired_and_labelled(name, lang):
    lines = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()
    rows = [EvalRow.model_validate_json(line) for line in lines]
    assert len(rows) >= 50
    assert {json.loads(line)["lang"] for line in lines} == {lang}
    assert sum(r.label for r in rows) * 2 == len(rows), "one right and one wrong answer per question"
    assert len({r.id for r in rows}) == len(rows)
    assert all(r.context.strip() and r.answer.strip() for r in rows)


def test_guard_eval_runs_on_the_sample():
    result = CliRunner().invoke(main, ["eval", *(str(EXAMPLES / n) for n in sorted(FILES)), "--json"])
    assert result.exit_code == 0, result.output
    out = {o["file"]: o for o in map(json.loads, filter(lambda l: l.startswith("{"), result.stdout.splitlines()))}
    assert set(out) == {"sample_en", "sample_zh"}
    for o in out.values():
        # the wrong answers change a figure, a name or a polarity: a checker that cannot rank
        # most of them below the right ones has regressed
        assert o["auroc"] >= 0.85, o
