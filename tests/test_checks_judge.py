from guard.checks.base import CheckInput
from guard.checks.grounding import GroundingCheck
from guard.checks.grounding.judge import JudgeVerifier, build_prompt, parse_verdicts
from checks_helpers import MemoryRetriever


def test_prompt_numbers_every_statement_with_its_evidence():
    prompt = build_prompt([("A is 1.", "A is one."), ("B is 2.", "")])
    assert "[1] Statement: A is 1." in prompt and "[1] Evidence:\nA is one." in prompt
    assert "[2] Statement: B is 2." in prompt and "[2] Evidence:\n(none)" in prompt


def test_parse_verdicts_tolerates_formatting_and_gaps():
    reply = "1: SUPPORTED\n[2]: **unsupported**\nnoise\n4) yes"
    assert parse_verdicts(reply, 4) == [1.0, 0.0, None, 1.0]
    assert parse_verdicts("I cannot tell.", 2) == [None, None]
    assert parse_verdicts("1: NOT SUPPORTED", 1) == [0.0]


def test_judge_one_call_per_answer_and_combined_support():
    prompts = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "1: SUPPORTED\n2: UNSUPPORTED"

    retriever = MemoryRetriever(["Paris is the capital of France.", "The Seine flows through Paris."])
    answer = "Paris is the capital of France. The Seine flows through Paris."
    inp = CheckInput(question="", answer=answer, retriever=retriever)
    plain = GroundingCheck(retriever).run(inp)
    judged = GroundingCheck(retriever, verifiers=[JudgeVerifier(ask)]).run(inp)
    assert len(prompts) == 1
    lex = [s.support for s in plain.sentences]
    assert [round(s.support, 6) for s in judged.sentences] == [round((lex[0] + 1) / 2, 6), round(lex[1] / 2, 6)]
    assert judged.sentences[1].unsupported
    assert "judge: not supported (0.00)" in judged.sentences[1].reasons


def test_unreadable_judge_leaves_lexical_support():
    retriever = MemoryRetriever(["Paris is the capital of France."])
    inp = CheckInput(question="", answer="Paris is the capital of France.", retriever=retriever)
    plain = GroundingCheck(retriever).run(inp).sentences[0].support
    judged = GroundingCheck(retriever, verifiers=[JudgeVerifier(lambda p: "no idea")]).run(inp)
    assert judged.sentences[0].support == plain
