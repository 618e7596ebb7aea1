"""How one person's record goes wrong when another department copies it: the damage done
to the reference copies of `zhili.synth.verification`, each kind named and counted.

Every kind is one a verification engine must survive, and each is hard rather than
cosmetic: a homophone typed by a pinyin input method (张/章, 王/汪, 琳/林), a look-alike
character misread from a handwritten form (己/已, 玉/王, 郑/邓), a name written in
traditional characters (張偉), a minority name's middle dot written another way or left
out (阿依古丽·买买提 / 阿依古丽买买提), an ID number written in full-width digits, with
spaces, as a first-generation 15-digit number, with a wrong digit or check character, or
not at all; birth-date digits swapped (19541203 → 19541230), a sex or a district missing,
or a district that is no longer the person's. Within a field the kinds exclude each
other; across fields they are independent, so a record can lose its ID number *and* have
a homophone in its name — the cases only the probabilistic pass can find.

Rates are per record, scaled by a source's ``quality`` (the 公安 register is cleaner than
handwritten cremation records). Work is vectorised; only the few damaged names go
through Python, one string at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import zhconv
from numpy.typing import NDArray

from zhili.synth.idcard import CHECK_CHARS
from zhili.synth.names import SURNAMES

#: Every kind of damage, grouped by field (a record gets at most one kind per field).
NAME_KINDS = (
    "name_homophone",
    "name_lookalike",
    "name_traditional",
    "name_spaces",
    "name_minority_dot",
)
ID_KINDS = (
    "id_missing",
    "id_15_digit",
    "id_fullwidth",
    "id_spaces",
    "id_lowercase_x",
    "id_check_digit",
    "id_typo",
)
BIRTH_KINDS = ("birth_missing", "birth_swapped", "birth_typo")
SEX_KINDS = ("sex_missing",)
DISTRICT_KINDS = ("district_missing", "district_other")
#: Owners' contact details in an asset register: an old address, another phone number.
CONTACT_KINDS = ("address_other", "phone_other")
KINDS = (*NAME_KINDS, *ID_KINDS, *BIRTH_KINDS, *SEX_KINDS, *DISTRICT_KINDS, *CONTACT_KINDS)

#: Share of records damaged each way at quality 1.0. ``id_lowercase_x`` and
#: ``name_minority_dot`` are conditional: on numbers ending in X, on dotted names.
RATES: Mapping[str, float] = {
    "name_homophone": 0.025,
    "name_lookalike": 0.01,
    "name_traditional": 0.02,
    "name_spaces": 0.01,
    "name_minority_dot": 0.6,
    "id_missing": 0.06,
    "id_15_digit": 0.03,
    "id_fullwidth": 0.02,
    "id_spaces": 0.02,
    "id_lowercase_x": 0.3,
    "id_check_digit": 0.015,
    "id_typo": 0.01,
    "birth_missing": 0.02,
    "birth_swapped": 0.02,
    "birth_typo": 0.01,
    "sex_missing": 0.02,
    "district_missing": 0.02,
    "district_other": 0.03,
    "address_other": 0.1,
    "phone_other": 0.15,
}
_CONDITIONAL = ("name_minority_dot", "id_lowercase_x")
_CODES = {kind: k + 1 for k, kind in enumerate(KINDS)}

#: Characters read alike (same toneless pinyin), as a pinyin input method offers them.
#: Every group was checked against pypinyin's default reading.
_HOMOPHONE_GROUPS = """
张章彰璋 王汪 李黎理丽莉力立 刘柳留浏 陈晨辰臣沉 杨阳扬洋 黄皇煌凰 赵照兆昭 吴武伍午 周舟洲州
徐许旭 孙荪 马玛 朱珠诸竹 胡湖虎 郭国帼 何和河禾 林琳霖淋临 高皋 罗洛 郑正政铮 梁良 宋送颂
唐堂棠 韩涵寒含晗 邓登灯 冯峰锋丰枫风凤 曹草 彭鹏朋蓬 肖萧晓小 田甜 董东冬栋 潘盼攀
袁元源园圆远媛 蔡才材财 蒋江姜疆 于余鱼俞宇雨语玉钰裕煜 杜度渡 叶业烨晔 程成诚城承
魏卫伟玮炜维薇微 苏素 吕旅律 任仁 卢鲁露路璐 姚瑶遥尧 沈申深 钟忠中仲 崔翠 谭坛 陆鹿 范凡帆
石时实诗 金晋锦今 贾佳家嘉 夏霞侠 付傅富福 方芳 熊雄 孟梦萌 秦琴勤芹 邱秋丘 侯厚 尹银 薛雪学
闫严颜言岩燕艳彦研妍 段端 雷蕾磊 龙隆 史世士 毛茂 顾固 戴代 建健剑坚 华桦 明铭鸣 军君俊峻骏
强蔷 平萍 辉晖慧惠 红虹宏鸿洪泓 英瑛莹鹰颖影 兰岚澜蓝 秀绣 梅玫媚美 娟鹃 静婧晶菁敬 敏闵民
芬纷 云芸 涛滔 斌彬 杰洁 婷亭庭 鑫欣馨心新 怡宜仪依 琪琦棋齐奇 轩萱宣 浩皓昊豪 子紫梓 睿瑞
泽择 博波 宁凝 玲铃伶龄 思斯丝 文雯 彤桐童 凯楷 飞菲 志智 贵桂 庆青清晴 荣蓉容 春纯 生升声
祥翔 树淑 兴星 全泉 友有佑 保宝 珍真贞 香湘 爱艾 月悦玥 楠南 亚雅 然冉 航杭 哲喆 奕逸亦
恒衡 硕朔 墨默 婉琬 汐希熙 沐木
"""
#: Characters that look alike but read differently (形近字): misread from handwriting or
#: picked by a shape-based (五笔) input method. Directional: the key is the right one.
_LOOKALIKE_PAIRS = """
己已 已己 未末 末未 戊戌 王玉 玉王 李季 季李 赵越 马乌 郑邓 邓郑 吴昊 徐涂 杨汤 唐庸 田由
由田 于干 国固 华毕 伟传 强弹 明朋 晶品 晓晚 洁沽 梅海 海梅 军车 东车 敏敢 秀季 芳芬 芬芳
红江 江红 宇字 泽译 丹舟 子孑 轩轨 斌赋 平乎 金全 全金 永水 清倩 晴睛 佳住 春舂 成戌 天夭
"""
#: Given names and fathers' names of Uyghur-style minority names, written "given·father".
_MINORITY_GIVEN = """
阿依古丽 古丽娜尔 热依拉 米娜 帕提古丽 阿娜尔 努尔古丽 迪丽努尔 古再丽 阿曼古丽 热娜 祖丽皮耶
艾力 买买提 阿不都 吐尔逊 艾合买提 热合曼 依明 阿里木 塔依尔 卡德尔 玉素甫 阿卜杜拉 努尔兰 伊力哈木
"""
_MINORITY_FATHER = """
买买提 吐尔逊 艾力 阿不都热依木 卡德尔 玉素甫 热合曼 阿布都拉 肉孜 托合提 司马义 克里木 亚森 吾守尔
"""
#: How another system writes a dotted name's separator (NFKC keeps these apart).
_SEPARATORS = ("", "", "．", "・", "•", ".", " ")
_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_TWO_CHAR_SURNAMES = frozenset(s for s, _ in SURNAMES if len(s) == 2)


def _homophones() -> dict[str, str]:
    out: dict[str, str] = {}
    for group in _HOMOPHONE_GROUPS.split():
        for c in group:
            out.setdefault(c, group.replace(c, ""))
    return out


HOMOPHONES: dict[str, str] = _homophones()
LOOKALIKES: dict[str, str] = {p[0]: p[1] for p in _LOOKALIKE_PAIRS.split()}
MINORITY_GIVEN: tuple[str, ...] = tuple(_MINORITY_GIVEN.split())
MINORITY_FATHER: tuple[str, ...] = tuple(_MINORITY_FATHER.split())


def surname_length(name: str) -> int:
    """1, or 2 for a two-character surname (欧阳, 司马)."""
    return 2 if name[:2] in _TWO_CHAR_SURNAMES else 1


@dataclass
class People:
    """Columns of person records as arrays, damaged in place by `damage`.

    ``name`` holds str objects, ``id_bytes`` the 18 ASCII bytes of each valid ID number,
    ``birth`` datetime64[D], ``sex`` 1/2, ``district`` indices into the district names.
    After `damage`: ``id_number`` holds the written numbers (str or None), missing births
    are NaT, a missing sex is 0 and a missing district -1.
    """

    name: NDArray[np.object_]
    id_bytes: NDArray[np.uint8]
    birth: NDArray[np.datetime64]
    sex: NDArray[np.int8]
    district: NDArray[np.int64]
    id_number: NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.name)


def damage(
    people: People,
    rng: np.random.Generator,
    *,
    quality: float = 1.0,
    districts: int,
    fields: Sequence[str] = ("name", "id", "birth", "sex", "district"),
    as_of: np.datetime64 | None = None,
) -> NDArray[np.int16]:
    """Damage ``people`` in place, ``quality`` × `RATES`; the kinds done to each record as
    codes, one column per field (see `kinds_array`).

    ``fields`` leaves out what a source does not record (a vehicle register has no birth
    date); ``districts`` is how many district names there are (for ``district_other``).
    """
    n = len(people)
    codes = np.zeros((n, 5), np.int16)  # per field: 0 = intact, else the kind's code
    if "name" in fields:
        codes[:, 0] = _damage_names(people.name, rng, quality)
    if "id" in fields:
        people.id_number, codes[:, 1] = _damage_ids(people, rng, quality)
    else:
        people.id_number = id_strings(people.id_bytes)
    if "birth" in fields:
        codes[:, 2] = _damage_births(people.birth, rng, quality, as_of)
    if "sex" in fields:
        kind = _pick(rng, n, SEX_KINDS, quality)
        people.sex[kind > 0] = 0
        codes[:, 3] = kind
    if "district" in fields:
        kind = _pick(rng, n, DISTRICT_KINDS, quality)
        people.district[kind == code("district_missing")] = -1
        other = np.flatnonzero(kind == code("district_other"))
        shift = rng.integers(1, max(districts, 2), len(other))
        people.district[other] = (people.district[other] + shift) % districts
        codes[:, 4] = kind
    return codes


def code(kind: str) -> int:
    """The code of a kind in `damage`'s output."""
    return _CODES[kind]


def kinds_array(codes: NDArray[np.int16]) -> pa.ListArray:
    """Rows of kind codes (0 = none, else `code`) as lists of kind names."""
    present = codes > 0
    offsets = np.zeros(len(codes) + 1, np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    values = pa.array(np.array(KINDS, dtype=object)[codes[present] - 1], pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _pick(
    rng: np.random.Generator, n: int, kinds: Sequence[str], quality: float
) -> NDArray[np.int16]:
    """One kind (or none) per record, as codes (0 = intact)."""
    rates = np.array([0.0 if k in _CONDITIONAL else RATES[k] * quality for k in kinds])
    if rates.sum() >= 1:
        raise ValueError(f"quality {quality} makes the rates of {kinds} exceed 1")
    edges = np.cumsum(rates)
    slot = np.searchsorted(edges, rng.random(n), side="right")
    lookup = np.array([code(k) for k in kinds] + [0], np.int16)
    return lookup[slot]


# --- names ----------------------------------------------------------------------------


def _damage_names(names: NDArray[np.object_], rng: np.random.Generator, quality: float):
    kind = _pick(rng, len(names), NAME_KINDS, quality)
    dotted = np.flatnonzero(np.array(["·" in s for s in names], dtype=bool))
    redo = dotted[rng.random(len(dotted)) < RATES["name_minority_dot"]]
    kind[dotted] = 0  # a dotted name is damaged through its dot, or not at all
    kind[redo] = code("name_minority_dot")
    for i in np.flatnonzero(kind):
        changed = _damage_name(names[i], KINDS[kind[i] - 1], rng)
        if changed is None or changed == names[i]:
            kind[i] = 0
        else:
            names[i] = changed
    return kind


def _damage_name(name: str, kind: str, rng: np.random.Generator) -> str | None:
    if kind == "name_minority_dot":
        sep = _SEPARATORS[rng.integers(len(_SEPARATORS))]
        return name.replace("·", sep)
    if kind == "name_traditional":
        return zhconv.convert(name, "zh-hant")
    if kind == "name_spaces":
        cut = surname_length(name)
        return name[:cut] + (" ", "　", "  ")[rng.integers(3)] + name[cut:]
    table = HOMOPHONES if kind == "name_homophone" else LOOKALIKES
    spots = [k for k, c in enumerate(name) if c in table]
    if not spots:
        return None
    k = spots[rng.integers(len(spots))]
    options = table[name[k]]
    return name[:k] + options[rng.integers(len(options))] + name[k + 1 :]


# --- ID numbers -----------------------------------------------------------------------


def id_strings(chars: NDArray[np.uint8]) -> NDArray[np.object_]:
    return np.ascontiguousarray(chars).view("S18").ravel().astype("U18").astype(object)


def _damage_ids(people: People, rng: np.random.Generator, quality: float):
    chars = people.id_bytes.copy()
    n = len(chars)
    kind = _pick(rng, n, ID_KINDS, quality)

    def rows(k: str) -> NDArray[np.intp]:
        return np.flatnonzero(kind == code(k))

    # A 15-digit number exists only for people born in the 1900s.
    century = (chars[:, 6] == ord("1")) & (chars[:, 7] == ord("9"))
    kind[rows("id_15_digit")[~century[rows("id_15_digit")]]] = 0
    typo = rows("id_typo")
    _typo_digits(chars, typo, rng)
    check = rows("id_check_digit")
    codes = np.frombuffer(CHECK_CHARS.encode(), np.uint8)
    now = np.searchsorted(np.sort(codes), chars[check, 17])
    other = (now + rng.integers(1, len(codes), len(check))) % len(codes)
    chars[check, 17] = np.sort(codes)[other]
    x_end = np.flatnonzero((kind == 0) & (chars[:, 17] == ord("X")))
    lower = x_end[rng.random(len(x_end)) < RATES["id_lowercase_x"]]
    chars[lower, 17] = ord("x")
    kind[lower] = code("id_lowercase_x")

    text = id_strings(chars)
    for i in rows("id_15_digit"):
        text[i] = text[i][:6] + text[i][8:17]
    for i in rows("id_fullwidth"):
        text[i] = text[i].translate(_FULLWIDTH)
    for i in rows("id_spaces"):
        s = text[i]
        text[i] = (
            f"{s[:6]} {s[6:14]} {s[14:]}",
            f" {s} ",
            f"{s}　",
            f"{s[:6]}  {s[6:]}",
        )[rng.integers(4)]
    text[rows("id_missing")] = None
    return text, kind


def _typo_digits(chars: NDArray[np.uint8], rows: NDArray[np.intp], rng: np.random.Generator):
    """One of the first 17 digits wrong, or two neighbours swapped (the check character
    then no longer fits: GB 11643 catches both)."""
    swap = rng.random(len(rows)) < 0.3
    for i, do_swap in zip(rows, swap, strict=True):
        if do_swap:
            spots = [k for k in range(16) if chars[i, k] != chars[i, k + 1]]
            k = spots[rng.integers(len(spots))]
            chars[i, k], chars[i, k + 1] = chars[i, k + 1], chars[i, k]
        else:
            k = rng.integers(17)
            chars[i, k] = ord("0") + (chars[i, k] - ord("0") + rng.integers(1, 10)) % 10


# --- birth dates ----------------------------------------------------------------------


def _ymd(days: NDArray[np.datetime64]) -> NDArray[np.int64]:
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y).astype(np.int64) + 1
    day = (d - m).astype(np.int64) + 1
    return year * 10_000 + month * 100 + day


def _from_ymd(ymd: NDArray[np.int64]) -> tuple[NDArray[np.datetime64], NDArray[np.bool_]]:
    """Dates of YYYYMMDD integers and whether each is a real date."""
    year, month, day = ymd // 10_000, ymd // 100 % 100, ymd % 100
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (year >= 1900) & (year <= 2100)
    start = ((np.where(ok, year, 1970) - 1970) * 12 + np.where(ok, month, 1) - 1).astype(
        "datetime64[M]"
    )
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(int)
    ok &= day <= length
    return start.astype("datetime64[D]") + np.where(ok, day - 1, 0), ok


def _damage_births(
    birth: NDArray[np.datetime64],
    rng: np.random.Generator,
    quality: float,
    as_of: np.datetime64 | None,
):
    """Swapped neighbouring digits (19541203 → 19541230, 1945 → 1954) or one wrong digit,
    always giving another real date no later than ``as_of``; else missing (NaT)."""
    kind = _pick(rng, len(birth), BIRTH_KINDS, quality)
    limit = as_of if as_of is not None else np.datetime64("today")
    for name in ("birth_swapped", "birth_typo"):
        todo = np.flatnonzero(kind == code(name))
        digits = (_ymd(birth[todo])[:, None] // 10 ** np.arange(7, -1, -1)) % 10
        for _ in range(12):  # redraw where the result is no date, or the same one
            if not len(todo):
                break
            new = digits.copy()
            at = np.arange(len(todo))
            if name == "birth_swapped":
                k = rng.integers(2, 7, len(todo))  # not the century: 19 → 91 is no year
                new[at, k], new[at, k + 1] = digits[at, k + 1], digits[at, k]
            else:
                k = rng.integers(2, 8, len(todo))
                new[at, k] = (digits[at, k] + rng.integers(1, 10, len(todo))) % 10
            value = new @ (10 ** np.arange(7, -1, -1))
            day, ok = _from_ymd(value)
            ok &= (day != birth[todo]) & (day <= limit)
            birth[todo[ok]] = day[ok]
            todo, digits = todo[~ok], digits[~ok]
        kind[todo] = 0  # no real date within reach: left intact
    birth[kind == code("birth_missing")] = np.datetime64("NaT")
    return kind
