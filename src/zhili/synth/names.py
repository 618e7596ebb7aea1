"""Chinese personal names with realistic surname frequencies and generation-typical given names.

Surnames follow the national ranking (王, 李, 张 and 刘 alone cover over a quarter of
people) including rare two-character ones (欧阳, 司马). Given names depend on sex and on
the decade of birth — 建国 and 秀英 are grandparents, 子轩 and 梓涵 are children — which
makes duplicate names about as common as in a real register, as verification demos need.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from zhili.synth.sampling import GroupedTable, choice, cumulative

_SURNAME_TABLE = """
王 7.12 李 7.00 张 6.74 刘 5.10 陈 4.61 杨 3.22 黄 2.45 赵 2.19 吴 2.00 周 1.91 徐 1.67 孙 1.54
马 1.44 朱 1.37 胡 1.31 郭 1.16 何 1.13 林 1.11 高 1.10 罗 0.98 郑 0.96 梁 0.89 谢 0.80 宋 0.77
唐 0.76 许 0.70 韩 0.69 邓 0.68 冯 0.68 曹 0.67 彭 0.65 曾 0.62 肖 0.61 田 0.60 董 0.58 潘 0.57
袁 0.56 蔡 0.54 蒋 0.53 余 0.52 于 0.52 杜 0.51 叶 0.49 程 0.48 魏 0.47 苏 0.47 吕 0.46 丁 0.45
任 0.44 卢 0.43 姚 0.42 沈 0.41 钟 0.40 姜 0.39 崔 0.38 谭 0.37 陆 0.36 范 0.35 汪 0.35 廖 0.34
石 0.33 金 0.33 韦 0.32 贾 0.31 夏 0.30 付 0.30 方 0.29 邹 0.28 熊 0.28 白 0.27 孟 0.27 秦 0.26
邱 0.26 侯 0.25 江 0.25 尹 0.24 薛 0.24 闫 0.23 段 0.23 雷 0.22 龙 0.22 黎 0.21 史 0.21 陶 0.20
贺 0.20 毛 0.19 郝 0.19 顾 0.18 龚 0.18 邵 0.17 万 0.17 覃 0.16 武 0.16 钱 0.15 戴 0.15 严 0.14
莫 0.14 孔 0.13 向 0.13 常 0.12 欧阳 0.030 司马 0.005 上官 0.004 诸葛 0.004 东方 0.003
皇甫 0.002 令狐 0.001 慕容 0.001
"""


def _pairs(text: str) -> tuple[tuple[str, float], ...]:
    words = text.split()
    return tuple((name, float(share)) for name, share in zip(words[::2], words[1::2], strict=True))


#: Surnames and their approximate share of the population (%), national ranking 2020.
SURNAMES: tuple[tuple[str, float], ...] = _pairs(_SURNAME_TABLE)

#: Given-name characters by (sex, era), commonest first. Eras: born before 1960,
#: 1960–1989, from 1990.
GIVEN_CHARS: dict[tuple[int, int], str] = {
    (1, 0): "国建军华明志德文福贵忠诚庆富林海玉成春永宝山荣生祥民树金兴全强东清广学英仁家友章保",
    (1, 1): "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁亮建峰新志龙林东海俊凯健晓宏文博彬浩立永国",
    (
        1,
        2,
    ): "浩宇子轩泽睿博俊杰一辰逸晨然豪天佑铭昊明航宸煜皓哲嘉梓锦瑞奕彦思远翔恒硕楷诚鑫泓墨言霖",
    (2, 0): "秀英兰玉桂芳珍淑凤华荣梅琴云素莲翠香萍金霞爱春月娥菊美丽惠敏",
    (2, 1): "丽静敏燕艳娟霞芳娜丹玲萍红晶洁琳婷雪慧莉颖倩楠晓琴云梅蕾薇佳欣媛亚春秀璐爽宁君文",
    (
        2,
        2,
    ): "梓涵欣怡雨萱诗琪一诺子佳可馨思悦彤瑶妍若依晨语嘉乐安然雅婉心颖钰静琳婷菲萌雯宁晗玥沐汐清",
}
#: Chance of a one-character given name by era (it peaked with the 1980s–90s births).
_SINGLE = (0.25, 0.35, 0.12)
#: Chance of a doubled character (婷婷, 丹丹) for women of the two later eras.
_DOUBLED = 0.03

_SURNAME_CDF = cumulative([share for _, share in SURNAMES])
_SURNAME_ARRAY = pa.array([name for name, _ in SURNAMES], pa.string())
_GROUPS = sorted(GIVEN_CHARS)
_GIVEN_TABLE = GroupedTable([1.0 / (np.arange(len(GIVEN_CHARS[g])) + 6.0) for g in _GROUPS])
_GIVEN_ARRAY = pa.array(["", *(c for g in _GROUPS for c in GIVEN_CHARS[g])], pa.string())


def era_of(birth_year: NDArray[np.integer]) -> NDArray[np.int64]:
    """0 before 1960, 1 for 1960–1989, 2 from 1990."""
    return np.searchsorted(np.array([1960, 1990]), birth_year, side="right").astype(np.int64)


def draw_names(
    rng: np.random.Generator, sex: NDArray[np.integer], birth_year: NDArray[np.integer]
) -> pa.StringArray:
    """One full name per row, from the row's sex code (1/2) and birth year."""
    n = len(sex)
    era = era_of(birth_year)
    group = (np.asarray(sex, dtype=np.int64) - 1) * 3 + era
    base = 1 + _GIVEN_TABLE.offsets[group]  # +1: index 0 of the array is ""
    one, two = _GIVEN_TABLE.draw(rng, group), _GIVEN_TABLE.draw(rng, group)
    two = np.where(two == one, (two + 1) % _GIVEN_TABLE.sizes[group], two)  # no 军军 by chance
    first, second = base + one, base + two
    single = rng.random(n) < np.asarray(_SINGLE)[era]
    doubled = (sex == 2) & (era > 0) & (rng.random(n) < _DOUBLED)
    second = np.where(doubled, first, second)
    second = np.where(single & ~doubled, 0, second)
    surname = _SURNAME_ARRAY.take(pa.array(choice(rng, _SURNAME_CDF, n)))
    return pc.binary_join_element_wise(
        surname, _GIVEN_ARRAY.take(pa.array(first)), _GIVEN_ARRAY.take(pa.array(second)), ""
    )
