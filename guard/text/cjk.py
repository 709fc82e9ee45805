"""Chinese (CJK) text without a word segmenter.

Chinese has no spaces and the embedding model is English-only, so Chinese claims are
compared to evidence through character n-grams: a bigram or trigram of the claim that never
occurs in the evidence marks new content, and a long run of such characters is usually a
name, place or term the evidence does not contain (吉姆·哈丁 where the article says
布鲁斯·马拉默德). No dictionary is needed, which keeps this fast and domain-neutral.
"""

from __future__ import annotations

import re

# CJK Unified Ideographs (+ extension A and compatibility ideographs).
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN_RE = re.compile(f"[{_CJK_RANGES}]+")
_CJK_CHAR_RE = re.compile(f"[{_CJK_RANGES}]")
# The middle dot joins transliterated foreign names: 布鲁斯·马拉默德.
_NAME_DOT = "·•‧・"
_CJK_NAME_RE = re.compile(f"[{_CJK_RANGES}]+(?:[{_NAME_DOT}][{_CJK_RANGES}]+)+")

# Function characters that carry little content on their own; n-grams made only of them
# are ignored when measuring coverage.
_FUNCTION_CHARS = set("的了是在和与及或也就都而并但又被把将对于为以之其这那此有个着过中上下")


def is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR_RE.fullmatch(ch))


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR_RE.search(text))


def cjk_runs(text: str) -> list[str]:
    return _CJK_RUN_RE.findall(text)


def char_ngrams(text: str, n: int) -> list[str]:
    """Character n-grams inside CJK runs (never across punctuation or Latin text).

    A run shorter than ``n`` is kept whole, so short words still count.
    """
    grams: list[str] = []
    for run in cjk_runs(text):
        grams.extend(run[i : i + n] for i in range(max(1, len(run) - n + 1)))
    return grams


def content_ngrams(text: str, n: int) -> list[str]:
    """Like ``char_ngrams`` but without n-grams made only of function characters (的了是...)."""
    return [g for g in char_ngrams(text, n) if not all(c in _FUNCTION_CHARS for c in g)]


def novel_runs(claim: str, evidence_bigrams: set[str] | frozenset[str], min_len: int = 2) -> list[str]:
    """Stretches of the claim's CJK text not covered by any bigram found in the evidence.

    A character counts as covered when a bigram containing it occurs in the evidence, so a
    changed single character inside a known word leaves a short run and a made-up name
    leaves a long one.
    """
    runs: list[str] = []
    for run in cjk_runs(claim):
        covered = [False] * len(run)
        for i in range(len(run) - 1):
            if run[i : i + 2] in evidence_bigrams:
                covered[i] = covered[i + 1] = True
        current = ""
        for ch, ok in zip(run, covered):
            if ok:
                if len(current) >= min_len:
                    runs.append(current)
                current = ""
            else:
                current += ch
        if len(current) >= min_len:
            runs.append(current)
    return [r for r in runs if not all(c in _FUNCTION_CHARS for c in r)]


def normalise_name_dots(text: str) -> str:
    return re.sub(f"[{_NAME_DOT}]", "·", text)


def foreign_names(text: str) -> list[str]:
    """Transliterated names written with a middle dot (乔恩·卡什兰).

    Without word boundaries the characters around a name run on (教授布鲁斯·马拉默德表示), so
    at most four characters are kept on each side of each dot.
    """
    names = []
    for m in _CJK_NAME_RE.finditer(text):
        parts = re.split(f"[{_NAME_DOT}]", m.group(0))
        names.append("·".join([parts[0][-4:], *parts[1:-1], parts[-1][:4]]))
    return names


# Chinese person names have no mark of their own; news names people in two fixed frames: after
# a title or role (局长张华, 研究员魏晓文) or before a verb of saying (张华表示), and anonymises
# them with 某 (刘某). Surnames: the most common hundred or so, which cover most of the
# population; a rarer surname is simply not recognised (its novel bigrams still count).
_SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房"
    "滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应"
    "臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝赖洪"
)
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|令狐|长孙|宇文|司徒|夏侯|轩辕|端木|独孤|南宫|西门"
_TITLES = (
    "主席|副主席|总统|总理|首相|部长|副部长|局长|副局长|厅长|处长|科长|所长|院长|校长|主任|副主任|书记|"
    "市长|省长|县长|区长|镇长|村长|州长|议长|大使|发言人|负责人|董事长|总裁|总经理|经理|总监|创始人|"
    "研究员|教授|副教授|讲师|博士|专家|学者|医生|医师|护士|律师|法官|检察官|警官|民警|记者|编辑|作家|"
    "导演|演员|歌手|教练|主教练|队长|球员|选手|运动员|老师|教师|工程师|技术员|会长|秘书长|理事长|"
    "委员|代表|司令|司令员|将军|船长|机长|站长|行长|社长|台长|馆长|团长|老板|店主|村民|居民|市民|"
    "网友|志愿者|游客|司机|农民|工人|学生|患者|被告人|嫌疑人|名叫|名为|叫做|名字叫|儿子|女儿|妻子|丈夫|母亲|"
    "父亲|儿媳|女婿|孙子|孙女"
)
_SAYING = (
    "表示|说|指出|称|认为|介绍|强调|透露|告诉|坦言|回忆|解释|建议|呼吁|提醒|提到|证实|宣布|承认|"
    "补充|分析|谈到|感慨|直言|笑称|说道|发表|主持|出席|会见|率领|带领"
)
_SURNAME = f"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])"
_NAME_END = f"(?:也|还|则|又|就|曾|均|等|同志|先生|女士)?(?:{_SAYING})|[，。、；：！？“”‘’,.;:（）()《》\\s]|$"
_AFTER = f"(?={_NAME_END})"
# After a title the name may also be followed by a preposition (局长张云龙向记者介绍, 在会上说).
_TITLED_AFTER = f"(?={_NAME_END}|向|对|在|接受|和|与)"
_TITLED_NAME_RE = re.compile(f"(?:{_TITLES})(?P<name>{_SURNAME}[{_CJK_RANGES}]{{1,2}}?){_TITLED_AFTER}")
_SAYING_NAME_RE = re.compile(
    f"(?:^|(?<=[，。、；：“”,（(\\s]))(?P<name>{_SURNAME}[{_CJK_RANGES}]{{1,2}}?)(?=(?:也|还|则|又|就|曾|均)?(?:{_SAYING}))"
)
# 刘某, and a surname with a form of address (林小姐, 王先生): the whole form names the person.
_ANONYMOUS_RE = re.compile(f"(?P<name>{_SURNAME}(?:某+|先生|女士|小姐|师傅|阿姨|大爷))")


def person_names(text: str) -> list[str]:
    """Chinese person names in the frames news writes them in: a title before (局长张华), a
    verb of saying after (张华表示), or 某 (刘某). A swapped name (魏晓文 where the article says
    张冠华) is the commonest fabrication in Chinese news, and to character n-grams it is just
    two or three new bigrams among many."""
    if not has_cjk(text):
        return []
    found: list[str] = []
    for pattern in (_TITLED_NAME_RE, _SAYING_NAME_RE, _ANONYMOUS_RE):
        found += [m.group("name") for m in pattern.finditer(text)]
    return list(dict.fromkeys(found))


def name_core(name: str) -> str:
    """Two characters either side of the first dot: enough to identify a transliterated name
    while ignoring the run-on characters ``foreign_names`` could not cut off."""
    left, dot, right = normalise_name_dots(name).partition("·")
    if not dot:
        return name
    return f"{left[-2:]}·{right[:2]}"
