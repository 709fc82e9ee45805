"""Regression table: chit-chat, hedges, questions, opinions and padding, graded by the real
GroundingCheck with the sample policy (policies/default.yaml) over the sample knowledge
(knowledge/), English and Chinese.

Each row: the question, the answer, the verdict it must get, and the kinds of its pieces.
Verdicts: ``pass`` (passes the policy's pass band), ``flag`` (annotated or worse), ``hold`` (held or
worse: below the annotate band). The first rows are the failures quoted in issue 11.
"""

from pathlib import Path

import pytest

from guard.checks.base import CheckInput
from guard.checks.runner import build_checks, run_checks
from guard.decision import SEVERITY, annotation, decide
from guard.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent

# question, answer, verdict, kinds of the pieces ("" = not asserted)
TABLE = [
    # quoted in the issue: harmless sentences scored as unsupported claims
    ("", "That is right.", "pass", "chitchat"),
    ("", "I am sorry for your loss", "pass", "chitchat"),
    # quoted: a hedge exempts only itself; the claim after it is graded (and is not in the knowledge)
    ("", "I don't know about the history, but it is one of the major forms of throwing sports.", "hold", "hedge+claim"),
    # quoted: padding dilutes a wrong figure (was annotate at 0.5)
    ("How big is DeepSeek-V3?", "DeepSeek-V3 has 670B total parameters. DeepSeek-V3 is a Mixture-of-Experts model.", "hold", "claim+claim"),
    ("How big is DeepSeek-V3?", "DeepSeek-V3 has 670B total parameters. I hope this helps!", "hold", "claim+chitchat"),
    # chit-chat around a grounded claim no longer lowers it (was annotate at 0.48-0.53)
    ("How big is DeepSeek-V3?", "DeepSeek-V3 has 671B total parameters. I hope this helps!", "pass", "claim+chitchat"),
    ("How big is DeepSeek-V3?", "Hello! Thanks for asking. DeepSeek-V3 has 671B total parameters, of which 37B are activated for each token.", "pass", "chitchat+chitchat+claim"),
    ("", "Good question! Llama 3.1 was released in July 2024. Let me know if you have any other questions.", "pass", "chitchat+claim+chitchat"),
    ("", "Sure, Qwen2.5 supports a context of up to 128K tokens.", "pass", "chitchat+claim"),
    ("", "Thank you!", "pass", "chitchat"),
    ("", "You're welcome. Have a nice day!", "pass", "chitchat+chitchat"),
    ("", "Hi there! How are you doing today?", "pass", "chitchat+chitchat"),
    ("", "I'm so sorry to hear that.", "pass", "chitchat"),
    ("", "Exactly.", "pass", "chitchat"),
    # questions back and opinions are not graded
    ("", "Which model do you want to deploy?", "pass", "question"),
    ("", "Llama 3.1 comes in three sizes: 8B, 70B and 405B parameters. Which one do you need?", "pass", "claim+question"),
    ("", "I love that model!", "pass", "opinion"),
    # ... unless the opinion goes on to state a fact, with an irregular verb too ("made" was not
    # read as a verb, so the fabricated maker went unchecked)
    ("", "I like Llama because Google made it.", "flag", "claim"),
    # talk with a fact in its tail is graded: these passed unchecked
    ("", "Feel free to use Qwen2.5, which Google released.", "hold", "claim"),
    ("", "Hope this helps: Qwen2.5 was released by Google.", "hold", "claim"),
    ("", "Enjoy Llama 3.1, released by Google in July 2024!", "hold", "claim"),
    ("", "Do you know why Google made Llama?", "flag", "claim"),
    ("", "希望对你有帮助，Qwen2.5是谷歌发布的。", "hold", "claim"),
    ("", "Enjoy Llama 3.1, released by Meta in July 2024!", "pass", "claim"),
    ("", "Let me know if you need anything else.", "pass", "chitchat"),
    ("", "I enjoy Qwen, which Meta built.", "flag", "claim"),
    ("", "That sounds like fun.", "pass", "opinion"),
    ("", "I think it's a great idea.", "pass", "opinion"),
    # hedges exempt only themselves: a wrong figure after a hedge is still caught
    ("", "I'm not sure, but DeepSeek-V3 has 670B total parameters.", "hold", "hedge+claim"),
    ("", "I think Llama 3.1 was released in July 2024.", "pass", "hedge+claim"),
    ("", "I think Llama 3.1 was trained on 9 trillion tokens.", "hold", "hedge+claim"),
    ("", "As far as I know, Qwen2.5 was released in September 2024.", "pass", "hedge+claim"),
    ("", "Maybe SmolLM2 comes in sizes of 135M, 360M and 1.7B parameters.", "pass", "hedge+claim"),
    ("", "Well, I know DeepSeek-V3 has 37B activated parameters per token.", "pass", "chitchat+claim"),
    # talk cannot hide a wrong figure, and the weakest claim decides
    ("", "Thanks for asking! SmolLM2 was trained on 99 trillion tokens.", "hold", "chitchat+claim"),
    ("", "Llama 3.1 was released in July 2024. It was trained on 45 trillion tokens. I hope this helps!", "hold", "claim+claim+chitchat"),
    ("", "Qwen2.5 supports more than 29 languages, and it was pre-trained on 3 trillion tokens.", "hold", "claim"),
    ("", "Did you know that SmolLM2 has 9B parameters?", "hold", "question+claim"),
    # a question tagged on after a comma, what a hedge concedes, a fact recalled inside an opinion:
    # the statement is graded (dialogue replies; each was graded as talk before)
    ("", "SmolLM2 was trained on 99 trillion tokens, have you tried it?", "hold", "claim+question"),
    ("", "Llama 3.1 was released in July 2024, did you know?", "pass", "claim+question"),
    ("", "Llama 3.1 comes in three sizes, which one do you need?", "pass", "claim+question"),
    ("", "I don't know much about SmolLM2 other than it was trained on 99 trillion tokens.", "hold", "hedge+chitchat+claim"),
    ("", "I love that model and remember that it was pre-trained on 99 trillion tokens.", "hold", "opinion+chitchat+claim"),
    # a piece too short to grade alone joins the next claim with the talk between (no overlap)
    ("", "I love Qwen2.5 and remember that it was pre-trained on 99 trillion tokens.", "hold", "claim"),
    # a bare "yes" to a yes/no question asserts the question's statement
    ("Was DeepSeek-V3 pre-trained on 99 trillion tokens?", "Yes.", "hold", "claim"),
    ("Is SmolLM2 from Hugging Face?", "Yes.", "pass", "claim"),
    # a hedge or an opinion that goes on to state something: the statement is graded
    ("", "I'm not sure about the exact year but I believe Llama 3.1 was trained on 99 trillion tokens.", "hold", "hedge+claim"),
    ("", "I like the Llama models because they were trained on 99 trillion tokens.", "hold", "claim"),
    ("", "I like the Llama models, and also I know that Llama 3.1 was trained on 99 trillion tokens.", "hold", "opinion+chitchat+claim"),
    # refusals stay safe
    ("", "I don't know.", "pass", "refusal"),
    # Chinese
    ("", "好的。", "pass", "chitchat"),
    ("", "没错。", "pass", "chitchat"),
    ("", "谢谢！希望对你有帮助。", "pass", "chitchat+chitchat"),
    ("", "很抱歉给您带来不便。", "pass", "chitchat"),
    ("", "你还想了解哪个模型？", "pass", "question"),
    ("", "太棒了！", "pass", "opinion"),
    ("", "我很喜欢这个模型。", "pass", "opinion"),
    ("", "好的，Llama 3.1 有 8B、70B 和 405B 三种规模。", "pass", "chitchat+claim"),
    ("", "DeepSeek-V3 的总参数量为 671B。希望对你有帮助！", "pass", "claim+chitchat"),
    ("", "DeepSeek-V3 的总参数量为 670B。希望对你有帮助！", "hold", "claim+chitchat"),
    ("", "DeepSeek-V3 的总参数量为 670B。DeepSeek-V3 是混合专家（MoE）语言模型。", "hold", "claim+claim"),
    ("", "我不太确定，但 SmolLM2 是 Hugging Face 于 2024 年 11 月发布的小模型家族。", "pass", "hedge+claim"),
    ("", "我不太确定，但 SmolLM2 在 99 万亿个 token 上训练。", "hold", "hedge+claim"),
    ("", "我觉得 Qwen2.5 的预训练数据量最多达 18 万亿个 token。", "pass", "hedge+claim"),
    ("", "谢谢提问！Llama 3.1 的训练数据超过 45 万亿个 token。", "hold", "chitchat+claim"),
    ("", "我不知道。", "pass", "refusal"),
    # a hedge that goes on to state a fact: the fact was exempted
    ("", "I'm not sure, but DeepSeek-V3 was released by Alibaba Cloud.", "flag", "hedge+claim"),
    ("", "I'm not sure, DeepSeek-V3 was released by Alibaba Cloud.", "flag", "claim"),
    ("", "我不太确定，Qwen2.5 是谷歌发布的模型。", "flag", "claim"),
    # quoted in issue 11, wrapped in an opinion: it was an unchecked opinion before
    ("", "我很喜欢Qwen，它是谷歌发布的模型。", "flag", "claim"),
    ("", "In my opinion, DeepSeek-V3 was released by Alibaba Cloud.", "flag", "claim"),
    # RAG answers in markdown: the lead-in, the source frame and the list numbers are layout and
    # framing, not claims ("2." was a missing number 2; "Based on the provided passages" unsupported words)
    ("What are the models?", "Based on the provided passages, here are the key points:\n\n1. DeepSeek-V3 has 671B total parameters.\n"
     "2. It activates 37B parameters per token.\n- Qwen2.5 supports 29 languages", "pass", "chitchat+claim+claim+claim"),
    ("What are the models?", "Here are the key points:\n1. DeepSeek-V3 has 671B total parameters.\n2. It activates 73B parameters per token.",
     "hold", "chitchat+claim+claim"),
    ("", "According to passage 2, Llama 3.1 was released in July 2024.", "pass", "chitchat+claim"),
    ("", "The passages do not mention the price of Llama 3.1.", "pass", "refusal"),
    ("", "根据提供的资料，Qwen2.5由阿里云发布。", "pass", "chitchat+claim"),
    ("", "以下是要点：\n1、Qwen2.5由阿里云发布。", "pass", "chitchat+claim"),
    # citation marks are not figures of the claim ("[1]" was a missing number 1)
    ("", "Llama 3.1 was released in July 2024 [1]. DeepSeek-V3 has 671B total parameters [2][3].", "pass", "claim+claim"),
    ("", "Qwen2.5 supports 29 languages (Source: passage 2).", "pass", "claim"),
    ("", "Qwen2.5由阿里云发布【1】。", "pass", "claim"),
    ("", "DeepSeek-V3 has 670B total parameters [1].", "hold", "claim"),
    # a markdown table: header and rule are layout, each row is a claim (the whole table was one)
    ("Compare the models", "| Model | Total parameters | Context |\n|---|---|---|\n| DeepSeek-V3 | 671B | 128K |\n"
     "| Qwen2.5 | 72B | 128K |", "pass", "chitchat+chitchat+claim+claim"),
    ("Compare the models", "| Model | Total parameters |\n|:---|---:|\n| DeepSeek-V3 | 670B |\n| Qwen2.5 | 72B |",
     "hold", "chitchat+chitchat+claim+claim"),
    ("", "| Qwen2.5 was made by Google |\n|---|\n| yes, since 2024 |", "flag", "claim+chitchat+claim"),
    # what an answer adds to the question must be in the evidence: the echoed words are not
    # support (they passed at 0.7-0.9 on coverage of the question's own words)
    ("What kind of model is DeepSeek-R1?", "DeepSeek-R1 is a speech recognition model.", "hold", "claim"),
    ("What kind of model is DeepSeek-R1?", "DeepSeek-R1 is a reasoning model.", "pass", "claim"),
    ("What does TTFT measure?", "TTFT measures the fine-tuning cost.", "hold", "claim"),
    ("Who released DeepSeek-V3?", "DeepSeek-V3 was released by a university lab.", "hold", "claim"),
    # true answers about the sample knowledge that were held: "instead of" and "skipped" negate
    # like "not" and "without"; a sentence-start preposition or imperative is not a name or subject
    ("What is PagedAttention?", "It is vLLM's core idea: instead of reserving memory for the longest possible "
     "sequence, the KV cache is split into blocks.", "pass", "claim"),
    ("How was DeepSeek-R1-Zero trained?", "DeepSeek-R1-Zero was trained with large-scale reinforcement learning "
     "and skipped supervised fine-tuning.", "pass", "claim"),
    ("What backends does llama.cpp support?", "Besides CPUs, llama.cpp runs on GPUs through CUDA, Metal and Vulkan backends.",
     "pass", "claim"),
    ("How do I start SGLang?", "Run python -m sglang.launch_server to start it.", "pass", "claim"),
    # a wh-question takes its premise for granted: denying it needs evidence that denies (was 0.80-0.94)
    # a true correction of a false premise denies what the evidence does not state: it was held
    # as contradicting "serves an HTTP API", "released in September", "needs a multi-GPU node",
    # and the denied name ("Google", "Python") as missing
    ("Which port does Ollama use for gRPC?", "Ollama does not serve gRPC; its HTTP API is on port 11434.", "pass", "claim"),
    ("When was Qwen2.5 released by Google?", "Qwen2.5 was not released by Google; it comes from Alibaba Cloud.", "pass", "claim"),
    ("Why does a MoE model need less memory?", "It doesn't need less memory, because every expert has to stay in memory.",
     "pass", "claim"),
    ("Which engine of LMDeploy is written in Python?", "TurboMind is not written in Python; it is written in C++ and CUDA.",
     "pass", "claim"),
    ("Qwen2.5 是谷歌什么时候发布的？", "Qwen2.5 不是谷歌发布的，而是阿里云的 Qwen 团队发布的。", "pass", "claim"),
    ("Qwen2.5 是谁发布的？", "Qwen2.5 是谷歌发布的。", "hold", "claim"),
    ("Which languages does Llama 3.1 support?", "Llama 3.1 does not support any languages officially.", "hold", "claim"),
    ("Which port does Ollama use?", "Ollama does not serve an HTTP API.", "hold", "claim"),
    # true figures in a list item and a formula were held as misbound ("three" sizes, "8" heads)
    ("Compare the models.", "- **Llama 3.1**: a dense model family from Meta, released in July 2024 in 8B, 70B and 405B sizes.",
     "pass", "claim"),
    ("How big is the KV cache?", "Its size per token is 2 x layers x key-value heads x head dimension x bytes per value.",
     "pass", "claim"),
    ("TTFT 和 TPOT 有什么区别？", "TTFT 是从发出请求到收到第一个输出 token 的时间。TPOT 主要由预填充阶段决定，与解码无关。",
     "hold", "claim+claim"),
    ("How does SGLang reuse work?", "SGLang's RadixAttention keeps the KV cache of earlier requests in a radix tree. "
     "It also deletes the cache after every request.", "hold", "claim+claim"),
    # "only" one item of a list the evidence gives (passed at 0.97)
    ("What languages does Llama 3.1 support?", "Llama 3.1 officially supports only English.", "hold", "claim"),
    ("What languages does Llama 3.1 support?", "Llama 3.1 officially supports eight languages, including English, "
     "German and Hindi.", "pass", "claim"),
    ("What quantization does vLLM support?", "vLLM supports only AWQ.", "hold", "claim"),
    ("In which month did Meta ship Llama 3.1?", "Meta did not ship Llama 3.1.", "hold", "claim"),
    ("Which sizes of SmolLM2 did Hugging Face publish?", "Hugging Face did not publish SmolLM2.", "hold", "claim"),
    ("What did the Qwen team pre-train Qwen2.5 on?", "The Qwen team did not pre-train Qwen2.5.", "hold", "claim"),
    ("What supervised fine-tuning did DeepSeek-R1-Zero use?", "DeepSeek-R1-Zero did not use supervised fine-tuning; "
     "it was trained with reinforcement learning.", "pass", "claim"),
    # ... and most of it must be: a restated question with a few true words among invented ones
    # (passed at 0.76), while a paraphrase with one new word in two passes
    ("What does TTFT include?", "TTFT includes the network handshake, disk loading and tokenizer warm-up.", "hold", "claim"),
    ("What does TTFT include?", "TTFT includes queueing time and the prefill phase.", "pass", "claim"),
    ("What is TPOT dominated by?", "TPOT is dominated by the tokenizer, the sampler and network jitter.", "hold", "claim"),
    ("What is TPOT dominated by?", "TPOT is dominated by the decode phase, which is limited by memory bandwidth.", "pass", "claim"),
    ("What context length does DeepSeek-V3 support?", "DeepSeek-V3 handles a context window of up to 128K tokens.", "pass", "claim"),
    ("Who released DeepSeek-V3?", "DeepSeek-V3 was released by DeepSeek in December 2024.", "pass", "claim"),
    ("Is DeepSeek-V3 a Mixture-of-Experts model?", "Yes.", "pass", "claim"),
    # a wrong pick between two options has every word in the evidence: the dates decide (choice.py)
    ("Which was released first, DeepSeek-V3 or DeepSeek-R1?", "DeepSeek-R1 was released first.", "hold", "claim"),
    ("Which was released first, DeepSeek-V3 or DeepSeek-R1?", "DeepSeek-R1.", "hold", "claim"),
    ("Which was released first, DeepSeek-V3 or DeepSeek-R1?", "DeepSeek-V3 was released first.", "pass", "claim"),
    ("Which was released first, DeepSeek-V3 or DeepSeek-R1?", "DeepSeek-R1 came out after DeepSeek-V3.", "pass", "claim"),
    ("Was Llama 3.1 or Qwen2.5 released later?", "Llama 3.1 was released later.", "hold", "claim"),
    ("Was Llama 3.1 or Qwen2.5 released later?", "Qwen2.5 was released later, in September 2024.", "pass", "claim"),
]


@pytest.fixture(scope="module")
def grade(knowledge_index):
    from guard.knowledge.index import KnowledgeIndex

    policy = load_policy(ROOT / "policies" / "default.yaml")
    index = KnowledgeIndex.load(knowledge_index)
    checks = build_checks(policy, index, index.embedder)

    def run(question: str, answer: str):
        report = run_checks(checks, CheckInput(question=question, answer=answer, retriever=index))
        return report, decide(report, policy)

    return run


def test_the_table_is_big_enough():
    assert len(TABLE) >= 34 and len({(q, a) for q, a, _, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize("question,answer,verdict,kinds", TABLE)
def test_verdict(grade, question, answer, verdict, kinds):
    report, decision = grade(question, answer)
    got = [(s.kind, round(s.support, 2), s.text) for s in report.sentences]
    assert "+".join(s.kind for s in report.sentences) == kinds, got
    severity = SEVERITY[decision.action]
    if verdict == "pass":
        assert decision.action == "pass", (decision.confidence, got)
    elif verdict == "flag":
        assert severity >= SEVERITY["annotate"], (decision.confidence, got)
    else:
        assert severity >= SEVERITY["hold"], (decision.confidence, got)
    # talk is reported with its kind and a reason, never as unsupported
    for s in report.sentences:
        if s.kind != "claim":
            assert s.support == 1.0 and not s.unsupported and s.codes


def test_the_annotation_carries_each_pieces_kind(grade):
    report, decision = grade("", "Hello! DeepSeek-V3 has 671B total parameters.")
    sentences = annotation(report, decision)["sentences"]
    assert [s["kind"] for s in sentences] == ["chitchat", "claim"]
    assert sentences[0]["codes"] == [{"code": "greeting", "params": {}}]


def _with(policy, **grounding):
    g = policy.checks.grounding.model_copy(update=grounding)
    return policy.model_copy(update={"checks": policy.checks.model_copy(update={"grounding": g})})


def test_separate_clauses_grades_each_clause_and_still_catches_the_wrong_one(knowledge_index):
    from guard.knowledge.index import KnowledgeIndex

    policy = _with(load_policy(ROOT / "policies" / "default.yaml"), separate_clauses=True)
    index = KnowledgeIndex.load(knowledge_index)
    checks = build_checks(policy, index, index.embedder)
    answer = "Qwen2.5 supports more than 29 languages, but it was pre-trained on 3 trillion tokens."
    report = run_checks(checks, CheckInput(question="", answer=answer, retriever=index))
    assert [s.kind for s in report.sentences] == ["claim", "claim"]
    assert not report.sentences[0].unsupported and report.sentences[1].unsupported
    assert SEVERITY[decide(report, policy).action] >= SEVERITY["hold"]


def test_an_answer_with_nothing_to_check_is_graded_when_chitchat_safe_is_off(knowledge_index):
    from guard.knowledge.index import KnowledgeIndex

    policy = load_policy(ROOT / "policies" / "default.yaml")
    strict = _with(policy, chitchat_safe=False)
    index = KnowledgeIndex.load(knowledge_index)
    for p, expect_safe in [(policy, True), (strict, False)]:
        report = run_checks(build_checks(p, index, index.embedder), CheckInput(question="", answer="I love that song!", retriever=index))
        assert (report.confidence == 1.0) is expect_safe
        assert report.outcomes[-1].details["no_claim"] is expect_safe
