"""Regression table for facts bound to their subjects, contradictions and normalisation.

Every row runs the real grounding check (``build_checks`` of the sample policy
policies/default.yaml) and the real decision: against the sample knowledge base in
knowledge/ (``KB``), or against a few inline passages with section headings, indexed like a
knowledge file (``INLINE``). ``pass`` means the answer is released unflagged; ``flag`` means
any other action (annotate, hold, block). The first rows are the failures quoted in issue 11.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.checks.base import CheckInput
from guard.checks.runner import build_checks, run_checks
from guard.decision import decide
from guard.knowledge.index import KnowledgeIndex
from guard.knowledge.types import Passage
from guard.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
KB = "kb"

# Inline evidence: heading -> text. Each heading becomes a passage's section, as in a built index.
INLINE = {
    "Aurora X1": "The Aurora X1 chip weighs 9 kg and has a clock speed of 3 GHz. Its battery holds 5000 mAh.",
    "Alaska": "Alaska is the largest state in the United States by area.",
    "Texas": "Texas is the second-largest state in the United States by area and by population.",
    "Elvis Presley": "Elvis Aaron Presley (January 8, 1935 – August 16, 1977) was an American singer and actor.",
    "埃尔维斯·普雷斯利": "埃尔维斯·普雷斯利（1935年1月8日－1977年8月16日）是美国歌手和演员。",
    "德克萨斯州": "德克萨斯州是美国面积第二大的州。",
    "Acme Corp": "In 2019 Acme Corp acquired Beta Systems for 2 billion dollars.",
    "Thriller": "Thriller is an album by Michael Jackson, released in November 1982.",
    "City Museum": "The City Museum is open on Mondays from 9 am.",
    "Old Bridge": "The Old Bridge was built after the war, in 1950.",
    "Northwind sales": "Northwind sales decreased by 5% in 2020.",
    "Alice and Bob": "Alice Chen is younger than Bob Chen.",
    "Orion Labs": "Orion Labs moved its headquarters to the U.S. in 2015.",
    "Zephyr laptop": "The Zephyr laptop weighs 1200 g and has a 14-inch screen.",
    "远航公司": "2023年，远航公司的营收增长了20%。",
    "新药": "研究表明，这种新药能够治愈早期肺癌。",
    "Mira app": "The Mira app does not support offline mode.",
    "Lisbon final": "Maria Sousa beat Ana Lima 6-4, 3-6, 7-5 in the Lisbon final.",
    "黄金行情": "上海黄金交易所黄金Au99.99收盘于每克229.13元，下跌4.76元。",
    "网球决赛": "纳达尔以7-6、6-1战胜贝尔迪赫，晋级决赛。",
    "台湾研究": "中国社科院台湾研究所副所长张冠华表示，台湾工商业界应积极把握大陆市场。",
    "黄鹤楼": "黄鹤楼位于湖北省武汉市，与岳阳楼、滕王阁并称为“江南三大名楼”。",
    "Brown v. Board": "Brown v. Board of Education of Topeka was a landmark 1954 Supreme Court case in the United States.",
    "Portola High": "The name change to Portola High will take place over the coming 2018-2019 academic year.",
    "Ambleston memorial": "James Jones of Ambleston enlisted at Woodstock early in the Great War.",
    "Busby Babes": "Manchester United played their last English league match before Munich at Arsenal in 1958.",
    "Chung essays": "Chung never actually took a nonfiction class in college.",
    "Maiden Heaven": "Kerrang! magazine's latest collection \"Maiden Heaven\" features bands covering tracks from Iron Maiden.",
    "Oklahoma Sooners": "The 2000 team was led by two-time coach of the year Bob Stoops, in his second season as head coach.",
    "Harbour report": "By Dana Levi 31.12.2009 01:22 The harbour reopened after the storm.",
    "UK prime ministers": "Theresa May was Prime Minister of the United Kingdom from 2016 to 2019.",
    "Iron Man": "Iron Man is a 2008 superhero film starring Robert Downey Jr. and produced by Marvel Studios.",
    "Secret City": "Season 2 of Secret City is due out on Netflix around the world (excluding Australia) on March 6th, 2019. Foxtel airs it in Australia from March 4th.",
}

TABLE: list[tuple[str, str, str]] = [
    # --- quoted in issue 11 -----------------------------------------------------------------
    (KB, "DeepSeek-V3 was released by Alibaba Cloud.", "flag"),
    (KB, "Llama 3.1 does not use grouped-query attention.", "flag"),
    (KB, "A MoE model needs less memory because only the active experts are loaded.", "flag"),
    (KB, "TTFT is the total time the model spends fine-tuning.", "flag"),
    (KB, "Qwen2.5 是谷歌发布的模型。", "flag"),
    (KB, "TTFT 是模型训练所需的总时间。", "flag"),
    (KB, "DeepSeek-V3 activates 671B of its 37B parameters.", "flag"),
    ("Aurora X1", "The Aurora X1 chip has a clock speed of 9 GHz.", "flag"),
    ("Alaska", "Well, I know it's the largest state in the US.", "pass"),
    ("Alaska", "It is the largest state in the US.", "pass"),
    ("Texas", "Texas is the 2nd largest state in the US by area.", "pass"),
    # true figures about the sample knowledge that were held: "7B" claimed for "precision"
    # (the words between two figures went to both), "7 GB" looked up only in an FAQ record
    # because "Roughly" was taken for the subject
    (KB, "In 16-bit precision a 7B model needs roughly 14 GB just for its weights.", "pass"),
    (KB, "Roughly 7 GB for the weights when stored in 8-bit precision.", "pass"),
    ("Elvis Presley", "He died in 1977.", "pass"),
    # --- subject binding: names and figures of another passage ----------------------------------
    (KB, "DeepSeek-V3 was released by DeepSeek in December 2024.", "pass"),
    (KB, "Qwen2.5 was released by Meta.", "flag"),
    (KB, "Llama 3.1 was released by Meta in July 2024.", "pass"),
    (KB, "Llama 3.1 supports 29 languages.", "flag"),
    (KB, "Qwen2.5 supports more than 29 languages.", "pass"),
    (KB, "Qwen2.5 was pre-trained on up to 18 trillion tokens.", "pass"),
    (KB, "Qwen2.5 was pre-trained on up to 15 trillion tokens.", "flag"),
    (KB, "Llama 3.1 是阿里云发布的模型。", "flag"),
    (KB, "Qwen2.5 是阿里云发布的模型。", "pass"),
    (KB, "Llama 3.1 支持 29 种以上语言。", "flag"),
    (KB, "Qwen2.5 支持 29 种以上语言。", "pass"),
    # --- phrase binding: a figure stated for other words --------------------------------------
    (KB, "DeepSeek-V3 activates 37B of its 671B parameters.", "pass"),
    (KB, "DeepSeek-V3 has 671B total parameters.", "pass"),
    (KB, "DeepSeek-V3 has 37B total parameters.", "flag"),
    (KB, "DeepSeek-V3 activates 671B parameters per token.", "flag"),
    (KB, "DeepSeek-V3 的总参数量为 671B。", "pass"),
    (KB, "DeepSeek-V3 每个 token 激活 37B 参数。", "pass"),
    ("Elvis Presley", "Elvis Presley was born in 1935.", "pass"),
    ("Elvis Presley", "Elvis Presley was born in 1977.", "flag"),
    ("Elvis Presley", "Elvis Presley died in 1935.", "flag"),
    # --- polarity -------------------------------------------------------------------------
    (KB, "Llama 3.1 uses grouped-query attention.", "pass"),
    (KB, "All three Llama 3.1 sizes use grouped-query attention.", "pass"),
    (KB, "A Mixture-of-Experts model does not need less memory, because all parameters must be loaded.", "pass"),
    (KB, "Serving the full DeepSeek-V3 model does not need a multi-GPU node.", "flag"),
    (KB, "Llama 3.1 没有使用分组查询注意力（GQA）。", "flag"),
    (KB, "Llama 3.1 的三种规模都使用分组查询注意力（GQA）。", "pass"),
    ("City Museum", "The City Museum is not open on Mondays.", "flag"),
    ("City Museum", "The City Museum is open on Mondays.", "pass"),
    ("Mira app", "The Mira app supports offline mode.", "flag"),
    ("Mira app", "The Mira app does not support offline mode.", "pass"),
    ("新药", "研究表明，这种新药不能治愈早期肺癌。", "flag"),
    ("新药", "研究表明，这种新药能够治愈早期肺癌。", "pass"),
    # --- antonyms, comparatives, direction ------------------------------------------------------
    (KB, "The 405B model is the smallest in the Llama 3.1 family.", "flag"),
    (KB, "The 405B model is the largest in the Llama 3.1 family.", "pass"),
    (KB, "Long prompts and a busy server lower TTFT.", "flag"),
    (KB, "Long prompts and a busy server raise TTFT.", "pass"),
    ("City Museum", "The City Museum is closed on Mondays.", "flag"),
    ("Old Bridge", "The Old Bridge was built before the war, in 1950.", "flag"),
    ("Old Bridge", "The Old Bridge was built after the war, in 1950.", "pass"),
    ("Northwind sales", "Northwind sales increased by 5% in 2020.", "flag"),
    ("Northwind sales", "Northwind sales decreased by 5% in 2020.", "pass"),
    ("Alice and Bob", "Alice Chen is older than Bob Chen.", "flag"),
    ("远航公司", "2023年，远航公司的营收下降了20%。", "flag"),
    ("远航公司", "2023年，远航公司的营收增长了20%。", "pass"),
    # --- score lines, product codes, relations that are no relation ---------------------------
    ("Lisbon final", "Maria Sousa beat Ana Lima 6-4, 3-6, 7-5.", "pass"),
    ("Lisbon final", "Maria Sousa beat Ana Lima 6-4, 6-3, 7-5.", "flag"),
    ("网球决赛", "纳达尔以7-6、6-1战胜贝尔迪赫。", "pass"),
    ("网球决赛", "纳达尔以6-3、6-1战胜贝尔迪赫。", "flag"),
    ("黄金行情", "上海黄金交易所的黄金99.99收盘于每克229.13元。", "pass"),
    ("黄金行情", "上海黄金交易所的黄金99.99收盘于每克236.24元。", "flag"),
    ("Secret City", "Season 2 of Secret City aired in Australia from March 4 and launched worldwide on Netflix on March 6, 2019.", "pass"),
    # --- roles and categories --------------------------------------------------------------
    ("Acme Corp", "Acme Corp acquired Beta Systems in 2019.", "pass"),
    ("Acme Corp", "Beta Systems acquired Acme Corp in 2019.", "flag"),
    ("Acme Corp", "Beta Systems was acquired by Acme Corp in 2019.", "pass"),
    ("Acme Corp", "Acme Corp was acquired by Beta Systems in 2019.", "flag"),
    ("Thriller", "Thriller is an album by Michael Jackson.", "pass"),
    ("Thriller", "Thriller is a song by Michael Jackson.", "flag"),
    # --- normalisation: ordinals, dates, units, abbreviations, aliases ---------------------------
    ("Texas", "Texas is the second largest state in the United States.", "pass"),
    ("Texas", "Texas is the third-largest state in the United States.", "flag"),
    ("德克萨斯州", "德克萨斯州是美国面积第2大的州。", "pass"),
    ("德克萨斯州", "德克萨斯州是美国面积第三大的州。", "flag"),
    ("Elvis Presley", "Elvis Presley died on August 16, 1977.", "pass"),
    ("Elvis Presley", "Elvis Presley died on 16 August 1977.", "pass"),
    ("Elvis Presley", "Elvis Presley died on 1977-08-16.", "pass"),
    ("Elvis Presley", "Elvis Presley died on September 16, 1977.", "flag"),
    ("埃尔维斯·普雷斯利", "埃尔维斯·普雷斯利于1977年去世。", "pass"),
    ("埃尔维斯·普雷斯利", "埃尔维斯·普雷斯利于1977年8月16日去世。", "pass"),
    ("埃尔维斯·普雷斯利", "埃尔维斯·普雷斯利于1977年9月16日去世。", "flag"),
    ("Aurora X1", "The Aurora X1 chip has a clock speed of 3000 MHz.", "pass"),
    ("Aurora X1", "The Aurora X1 chip weighs 9 kg.", "pass"),
    ("Aurora X1", "The Aurora X1 chip weighs 9 lb.", "flag"),
    ("Zephyr laptop", "The Zephyr laptop weighs 1.2 kg.", "pass"),
    ("Orion Labs", "Orion Labs moved its headquarters to the US in 2015.", "pass"),
    ("Orion Labs", "Orion Labs moved its headquarters to the United States in 2015.", "pass"),
    ("Orion Labs", "Orion Labs moved its headquarters to the UK in 2015.", "flag"),
    # --- Chinese person names (after a title, before a verb of saying) and counted numerals ---
    ("台湾研究", "台湾研究所副所长魏晓文表示，台湾工商业界应积极把握大陆市场。", "flag"),
    ("台湾研究", "台湾研究所副所长张冠华表示，台湾工商业界应积极把握大陆市场。", "pass"),
    ("台湾研究", "魏晓文表示，台湾工商业界应积极把握大陆市场。", "flag"),
    ("黄鹤楼", "黄鹤楼位于湖北省武汉市，有“江南四大名楼”之称。", "flag"),
    ("黄鹤楼", "黄鹤楼位于湖北省武汉市，有“江南三大名楼”之称。", "pass"),
    (KB, "SmolLM2 comes in 3 sizes.", "pass"),
    # --- names and years in the forms Wikipedia claims use -----------------------------------
    ("Brown v. Board", "In 1954 the United States Supreme Court ruled on Brown v. Board of Education.", "pass"),
    ("Brown v. Board", "In 1954 the Canadian Supreme Court ruled on Brown v. Board of Education.", "flag"),
    ("Portola High", "The name change to Portola High takes place during the 2018–19 academic year.", "pass"),
    ("Portola High", "The name change to Portola High takes place during the 2017–18 academic year.", "flag"),
    ("Ambleston memorial", "James Jones of Ambleston enlisted at Woodstock early in World War I.", "pass"),
    ("Ambleston memorial", "James Jones of Ambleston enlisted at Woodstock early in World War II.", "flag"),
    ("Busby Babes", "Manchester United played their last league match in England before Munich at Arsenal in 1958.", "pass"),
    ("Chung essays", "Chung took a nonfiction class in college.", "flag"),  # "never actually took"
    ("Chung essays", "Chung never took a nonfiction class in college.", "pass"),
    ("Busby Babes", "Manchester United played their last league match in France before Munich at Arsenal in 1958.", "flag"),
    # a subtitle's capitals are title case: the evidence may cite the work by its main title
    ("Maiden Heaven", 'Kerrang! released the collection "Maiden Heaven: A Tribute to Iron Maiden".', "pass"),
    ("Maiden Heaven", 'Kerrang! released the collection "Heaven Sent: A Tribute to Iron Maiden".', "flag"),
    ("Maiden Heaven", 'Kerrang! released the collection "Maiden Heaven" with a foreword by Bruce Dickinson.', "flag"),
    (KB, "SmolLM2 有 3 种规模。", "pass"),
    # numeric dates: a dotted byline date states its year, day and month
    ("Harbour report", "The harbour reopened in 2009.", "pass"),
    ("Harbour report", "The harbour reopened on 31 December 2009.", "pass"),
    ("Harbour report", "The harbour reopened on 30 December 2009.", "flag"),
    ("Harbour report", "The harbour reopened on 12/31/2009.", "pass"),
    # a given name that is also a stopword ("Don", "Will") is part of the name, not dropped from it
    ("Oklahoma Sooners", "Bob Stoops led the 2000 team.", "pass"),
    ("Oklahoma Sooners", "Don Stoops led the 2000 team.", "flag"),
    ("Oklahoma Sooners", "Will Stoops led the 2000 team.", "flag"),
    ("UK prime ministers", "Theresa May was Prime Minister of the United Kingdom from 2016 to 2019.", "pass"),
    # an initialism of a name the evidence spells out, and the reverse
    ("Iron Man", "RDJ starred in Iron Man.", "pass"),
    ("Iron Man", "RDM starred in Iron Man.", "flag"),
    ("UK prime ministers", "Brian May was Prime Minister of the United Kingdom from 2016 to 2019.", "flag"),
]


@pytest.fixture(scope="module")
def policy():
    return load_policy(ROOT / "policies" / "default.yaml")


@pytest.fixture(scope="module")
def kb(knowledge_index):
    return KnowledgeIndex.load(knowledge_index)


@pytest.fixture(scope="module")
def inline(kb):
    passages = [
        Passage(f"inline-{i}", text, "inline.md", {"heading": f"Inline facts > {heading}"})
        for i, (heading, text) in enumerate(INLINE.items())
    ]
    return KnowledgeIndex.from_passages(passages, kb.embedder, lazy=True)


def verdict(answer: str, index: KnowledgeIndex, policy) -> tuple[str, list[str]]:
    report = run_checks(build_checks(policy, index, index.embedder), CheckInput(question="", answer=answer, retriever=index))
    action = decide(report, policy).action
    reasons = [r for o in report.outcomes for s in o.sentences for r in s.reasons]
    return ("pass" if action == "pass" else "flag"), reasons


@pytest.mark.parametrize("where, answer, expected", TABLE, ids=[a[:60] for _, a, _ in TABLE])
def test_table(where, answer, expected, kb, inline, policy):
    got, reasons = verdict(answer, kb if where == KB else inline, policy)
    assert got == expected, reasons


def test_table_size_and_languages():
    assert len(TABLE) >= 51
    assert sum(1 for _, a, _ in TABLE if any("\u4e00" <= ch <= "\u9fff" for ch in a)) >= 15
