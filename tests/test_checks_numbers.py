from guard.text.numbers import extract_quantities, parse_chinese_numeral, unmatched_quantities


def values(text: str) -> list[float]:
    return [q.value for q in extract_quantities(text)]


def missing(claim: str, evidence: str) -> list[str]:
    return [q.text for q in unmatched_quantities(extract_quantities(claim), extract_quantities(evidence))]


def test_scale_words_and_suffixes():
    assert values("671B parameters") == [671e9]
    assert values("14.8 trillion tokens") == [14.8e12]
    assert values("1,000 users and 1.5k stars and 3 million downloads") == [1000, 1500, 3e6]
    assert values("每吨1.65万元，总额2亿元") == [16500, 2e8]


def test_671b_is_not_670b():
    assert missing("It has 670B parameters.", "It has 671B parameters.") == ["670B"]
    assert missing("It has 671B parameters.", "It has 671B parameters.") == []


def test_14_8_trillion_is_not_18_trillion_but_equals_its_digits():
    assert missing("trained on 18 trillion tokens", "trained on 14.8 trillion tokens") == ["18 trillion"]
    assert missing("trained on 14.8 trillion tokens", "14,800,000,000,000 tokens") == []


def test_wan_and_yi_match_plain_digits():
    assert missing("收于每吨16500元", "收于每吨1.65万元") == []
    assert missing("总额3亿元", "总额300,000,000元") == []
    assert missing("总额3亿元", "总额3.5亿元") == ["3亿"]


def test_percentages_and_years():
    qs = extract_quantities("跌幅6.48%, 41.3 % in 2016, ten percent")
    assert [(q.value, q.percent) for q in qs][:3] == [(6.48, True), (41.3, True), (2016, False)]
    assert qs[2].is_year and not qs[0].is_year
    assert missing("跌幅0.56%", "跌幅6.48%") == ["0.56%"]


def test_a_season_gives_both_years():
    # "2018–19" is the 2018-2019 season or academic year, not the number 19
    assert values("the 2018–19 academic year") == [2018, 2019]
    assert values("the 1999-00 season") == [1999, 2000]
    assert missing("during the 2018–19 season", "over the 2018-2019 season") == []
    assert missing("during the 2017–18 season", "over the 2018-2019 season") == ["2017"]
    assert values("a 2018-20 plan") == [2018, 20]  # not consecutive: left as written


def test_chinese_numerals():
    assert parse_chinese_numeral("三十五") == 35
    assert parse_chinese_numeral("两万三千") == 23000
    assert parse_chinese_numeral("一九九八") == 1998
    assert values("最后两轮比赛，三十五岁") == [2, 35]
    assert missing("还剩最后两轮", "还剩2轮") == []


def test_chinese_counts_before_common_measure_words():
    # 四大名楼, 连进三球, 三国: a count the fabrication changes as often as a digit
    assert values("江南四大名楼，连进三球，三国部长") == [4, 3, 3]
    assert missing("有“江南四大名楼”之称", "并称为“江南三大名楼”") == ["四"]
    assert values("统一大市场，十分重要") == []  # a lone 一 or 十 inside a word stays a word


def test_words_that_only_look_numeric_are_ignored():
    assert values("十分重要，千万不要，统一行动") == []
    assert values("the 5th time, A380") == [5]
    assert values("five trades") == [5]


def test_chinese_scale_words_after_a_space():
    """Machine-written Chinese often puts a space between the number and 亿/万."""
    from guard.text.numbers import extract_quantities

    assert [q.value for q in extract_quantities("总参数量为 6710 亿，激活 370 亿")] == [671e9, 37e9]
    assert [q.value for q in extract_quantities("训练了 14.8 万亿 个 token")] == [14.8e12]


def test_score_lines_are_matched_as_runs():
    from guard.text.numbers import score_runs, unmatched_score_runs

    assert [run for _, run in score_runs("以7-5、4-6、4-6憾负; won 6-3, 6-1 at 13:00, 3:1")] == [
        ((7, 5), (4, 6), (4, 6)), ((6, 3), (6, 1)), ((3, 1),)]
    ev = "纳达尔以7-6、6-1战胜贝尔迪赫"
    assert unmatched_score_runs("以6-3、6-1的比分轻松战胜", ev) == ["6-3、6-1"]
    assert unmatched_score_runs("以7-6、6-1的比分", ev) == [] and unmatched_score_runs("1-6", ev) == []
    assert unmatched_score_runs("3-5 days", "three to five days") == []  # no pairs to compare with


def test_numbers_glued_to_letters_in_the_evidence():
    from guard.text.numbers import extract_quantities, glued_in

    (q,) = extract_quantities("黄金99.99报价")
    assert glued_in(q, "黄金Au99.99收盘") and not glued_in(q, "黄金Au99.95收盘")
    assert not glued_in(q, "Au99.995") and not glued_in(q, "Au99.991 Au99.9") and glued_in(q, "Au99.99.")
    assert not glued_in(extract_quantities("1 GPU")[0], "an A1 GPU")
