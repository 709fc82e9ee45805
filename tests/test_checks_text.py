from guard.text.cjk import char_ngrams, content_ngrams, foreign_names, name_core, novel_runs, person_names
from guard.text.sentences import split_claims, split_sentences
from guard.text.tokens import capitalised_terms, content_stems


def test_char_ngrams_stay_inside_cjk_runs():
    assert char_ngrams("专用权，ABC 质权", 2) == ["专用", "用权", "质权"]
    assert char_ngrams("专用权", 3) == ["专用权"]
    assert char_ngrams("权。", 2) == ["权"]
    assert content_ngrams("的了是专用", 2) == ["是专", "专用"]  # 的了 and 了是 are function characters only


def test_novel_runs_find_made_up_names():
    evidence = set(char_ngrams("伦敦大学国王学院教授布鲁斯·马拉默德表示，余震将带来困难。", 2))
    assert novel_runs("伦敦大学教授吉姆·哈丁表示", evidence) == ["吉姆", "哈丁"]
    assert novel_runs("伦敦大学国王学院教授表示", evidence) == []


def test_foreign_names_trimmed_around_the_dot():
    names = foreign_names("伦敦大学国王学院教授布鲁斯·马拉默德表示")
    assert names == ["授布鲁斯·马拉默德"]
    assert name_core(names[0]) == "鲁斯·马拉"
    assert name_core("乔恩•卡什兰") == "乔恩·卡什"


def test_person_names_in_the_frames_news_uses():
    assert person_names("中国社科院台湾研究所研究员魏晓文也表示，台湾") == ["魏晓文"]
    assert person_names("隆尧县农业局局长张华表示：") == ["张华"]
    assert person_names("郑老师”名叫郑丽娟，是大泽村") == ["郑丽娟"]
    assert person_names("付某与其儿媳刘某因家庭琐事发生纠纷") == ["付某", "刘某"]
    assert person_names("王欣表示，目前") == ["王欣"]
    assert person_names("（记者王俊禄）7月21日") == ["王俊禄"]
    assert person_names("欧阳娜娜说") == ["欧阳娜娜"]
    assert person_names("林业局局长张云龙向记者介绍") == ["张云龙"]  # a preposition after a titled name
    assert person_names("财务负责人林小姐对记者说") == ["林小姐"]
    assert person_names("南宁游客赖勇强说。") == ["赖勇强"]


def test_person_names_leave_ordinary_words_alone():
    # a surname character that starts a word (高度, 金融) or a pronoun before a verb of saying
    for text in ("局长高度评价了这项工作", "他说，这是", "市民说", "据他介绍", "主任委员会", "金融市场表示关注"):
        assert person_names(text) == [], text


def test_name_core_of_a_name_without_dots_is_the_name():
    assert name_core("张冠华") == "张冠华"


def test_capitalised_terms_skip_sentence_starts_and_calendar_words():
    text = "Contact us in May. Paterson met Dave Filoni, the Order of the British Empire and NASA on Monday."
    assert capitalised_terms(text) == ["Dave Filoni", "Order of the British Empire", "NASA"]


def test_capitalised_terms_keep_a_closing_numeral_and_skip_lowercase_compounds():
    # "World War" alone missed the alias table (World War I = Great War); "neo-Nazism" is no name
    assert capitalised_terms("He enlisted early in World War I.") == ["World War I"]
    assert capitalised_terms("Queen Elizabeth I died, and then Bob and I left.") == ["Queen Elizabeth I", "Bob"]
    assert capitalised_terms("a backlash against neo-Nazism and anti-American groups") == []
    # ... but after a sentence-start capital it is the pronoun ("Sure I" was a name in a dialogue reply)
    assert capitalised_terms("Sure I would recommend The Queen's Fool.") == ["Queen's Fool"]
    assert capitalised_terms("Yes. Today I met Anna Lee.") == ["Anna Lee"]


def test_a_given_name_that_is_a_stopword_starts_the_name():
    # "Don" and "Will" were dropped as stopwords: "Don Stoops" became the evidence's "Stoops"
    assert capitalised_terms("Don Stoops was the two-time coach.") == ["Don Stoops"]
    assert capitalised_terms("In 2018 Will Power won the race.") == ["Will Power"]
    # ... but not a question's "Will", a "Don" before a function word, or the month "May"
    assert capitalised_terms("Will DeepSeek release it?") == ["DeepSeek"]
    assert capitalised_terms("Don The Beatles") == ["Beatles"]
    assert capitalised_terms("On 5 May Smith resigned.") == ["Smith"]


def test_a_stopword_that_ends_a_name_stays_in_it():
    # dropping "May" left a sentence-start "Theresa": no name was checked at all
    assert capitalised_terms("Theresa May resigned in 2019.") == ["Theresa May"]
    assert capitalised_terms("Air Force One landed.") == ["Air Force One"]
    assert capitalised_terms("In May the team won.") == []


def test_content_stems():
    assert content_stems("The couple married in New York's harbour") == ["coupl", "marri", "new", "york", "harbo"]


def test_split_claims_merges_short_fragments():
    text = "Yes. He was born in 1959. OK."
    claims = split_claims(text, 8)
    assert [c.text for c in claims] == ["Yes. He was born in 1959. OK."]
    assert [c.text for c in split_claims("First claim here. Second one here.", 8)] == [
        "First claim here.", "Second one here."]
    assert split_claims("1959", 8)[0].text == "1959"
    assert split_claims("", 8) == []
    for c in split_claims("第一句话在这里。第二句。", 5):
        assert "第一句话在这里。第二句。"[c.start:c.end] == c.text



def test_list_items_headings_and_lead_ins_are_sentences():
    """Markdown answers (RAG): list items without a final period ran into one sentence, and a
    list number ("2.") ended a sentence of its own."""
    text = (
        "Here are the points:\n1. **DeepSeek-V3** has 671B total parameters.\n2. It activates 37B\n"
        "- Qwen2.5 supports 29 languages\n- Llama 3.1 has 405B\n## Summary\nIt was released in 2024.\n"
        "以下是要点：\n1、第一点\n2、第二点\nwrapped prose line\ncontinues here."
    )
    assert [s.text for s in split_sentences(text)] == [
        "Here are the points:", "1. **DeepSeek-V3** has 671B total parameters.", "2. It activates 37B",
        "- Qwen2.5 supports 29 languages", "- Llama 3.1 has 405B", "## Summary", "It was released in 2024.",
        "以下是要点：", "1、第一点", "2、第二点\nwrapped prose line\ncontinues here.",
    ]
    assert [s.text for s in split_sentences("Version 1.5 is out. It has 2 modes.")] == ["Version 1.5 is out.", "It has 2 modes."]


def test_an_abbreviation_ends_a_sentence_before_a_word_sentences_start_with():
    """"U.S." kept "Orion Labs moved to the U.S. It is big." one claim, so a wrong second
    sentence hid behind a supported first one; before a name it is still no sentence end."""
    assert [s.text for s in split_sentences("Orion Labs moved to the U.S. It is big.")] == [
        "Orion Labs moved to the U.S.", "It is big."]
    assert [s.text for s in split_sentences("Acme Inc. The company has 40 staff.")] == [
        "Acme Inc.", "The company has 40 staff."]
    for kept in ("He joined the U.S. Army in 1950.", "She met Dr. Smith.", "Apples, pears etc. are fruit.",
                 "The U.S. Department of State said so.", "Anita Lane (born ca. 1959) is a singer."):
        assert [s.text for s in split_sentences(kept)] == [kept]
    assert [s.text for s in split_sentences("It is based in Los Angeles, CA. The company grew.")] == [
        "It is based in Los Angeles, CA.", "The company grew."]
