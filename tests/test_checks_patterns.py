import json

from guard.checks.base import CheckInput
from guard.checks.patterns import PatternCheck, keyword_hit
from guard.checks.structure import JsonSchemaCheck, LengthCheck


def run(check, answer, response_format=None):
    return check.run(CheckInput(question="q", answer=answer, response_format=response_format))


def test_deny_and_require_regex():
    check = PatternCheck(deny=[r"\bguarantee(d)?\b", r"保证收益"], require=[r"(?i)not financial advice|仅供参考"])
    ok = run(check, "Returns vary. This is not financial advice.")
    assert ok.passed and ok.violations == []
    bad = run(check, "我们保证收益。")
    assert not bad.passed
    assert bad.violations == [r"denied pattern matched: 保证收益",
                              r"required pattern missing: (?i)not financial advice|仅供参考"]


def test_keywords_fuzzy_but_word_bounded():
    assert keyword_hit("password", "the pasword is hunter2", 85)  # typo still hits
    assert keyword_hit("internal only", "This is Internal-Only material", 90)
    assert not keyword_hit("kill", "a useful skill", 90)
    assert keyword_hit("内部资料", "这是内部资料，请勿外传", 90)
    assert keyword_hit("内部资料", "这是内部材料", 70)
    assert not keyword_hit("内部资料", "这是公开文件", 90)


def test_keyword_check_outcome():
    out = run(PatternCheck(deny_keywords=["confidential", "机密"]), "这份文件是机密的")
    assert out.violations == ["denied keyword: 机密"]


def test_json_schema_validation():
    rf = {"type": "json_schema", "json_schema": {"name": "p", "schema": {
        "type": "object", "required": ["name", "age"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}}}
    check = JsonSchemaCheck()
    assert run(check, json.dumps({"name": "Ann", "age": 3}), rf).passed
    bad = run(check, json.dumps({"name": "Ann", "age": -1}), rf)
    assert not bad.passed and bad.violations[0].startswith("schema: age:")
    assert run(check, "{not json", rf).violations[0].startswith("answer is not valid JSON")


def test_json_object_and_skip():
    check = JsonSchemaCheck()
    assert run(check, "[1, 2]", {"type": "json_object"}).violations == ["answer is JSON but not an object"]
    assert run(check, '{"a": 1}', {"type": "json_object"}).passed
    skipped = run(check, "plain text", None)
    assert skipped.passed and "skipped" in skipped.details
    assert run(check, "plain text", {"type": "text"}).passed


def test_length_limit():
    assert run(LengthCheck(10), "short").passed
    out = run(LengthCheck(10), "x" * 11)
    assert out.violations == ["answer has 11 characters, the limit is 10"]
