"""Plausible names for streets, towns, communities and villages.

Real division names follow a few patterns: streets and towns are two auspicious or
geographic characters (新华街道, 杨柳镇), urban communities are named after housing
estates (幸福里社区, 锦绣花园社区), and northern villages after a founding family or a
landmark (王庄村, 李家营村, 大辛庄村). Drawing from those patterns gives thousands of
distinct, natural-sounding names without a gazetteer.
"""

from __future__ import annotations

from itertools import product

import numpy as np

_STREET_FIRST = "新兴永长泰安宁和华光明朝向东西南北中红金银丰盛康福文建胜友万龙凤青白柳杨桃梅双天"
_STREET_SECOND = "华安平兴宁阳光明丰和康泰河湖桥山林园港营庄口门城源泉沽苑"

_ESTATE_WORDS = """
幸福 阳光 和谐 春华 秋实 锦绣 翠竹 金桥 银杏 丽景 嘉和 怡安 雅居 欣苑 康乐 福安 瑞景 祥和
和平 新华 胜利 建设 朝阳 向阳 红旗 光明 东风 友谊 团结 民主 长江 黄河 泰山 华山 珠江 松江
兰亭 桂园 梅江 竹林 柳林 桃园 杏林 芳草 绿荫 青年 学府 文苑 体育 花港 水岸 滨河 临湖 望海
观澜 碧水 蓝天 彩虹 星光 月坛 云景 海棠 紫薇 丁香 玉兰 金色 银河 鑫苑 富力 万科 华府 龙湖
凤凰 天鹅 白鹭 明珠 宝翠 美域 盛世 新城 中环 南门 北站 东湖 西营 老城 工农 铁路 电厂 纺织
机床 钢厂 化工 邮电 航运 港湾
"""
_ESTATE_SUFFIXES = """
里 园 苑 庭 湾 城 居 新村 花园 家园 东里 西里 南里 北里 小区 公寓 名邸 雅苑 嘉园 佳园
"""
_VILLAGE_PREFIXES = """
王 李 张 刘 陈 杨 赵 黄 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗 梁 宋 郑 谢 韩 唐 冯 于 董 萧 程 曹
袁 邓 许 傅 沈 曾 彭 吕 苏 卢 蒋 蔡 贾 丁 魏 薛 叶 阎 大 小 前 后 东 西 南 北 上 下 中 新 老 双
三 八 十里 五里 杨柳 芦 苇 蒲 柳 桑 枣 梨 杏
"""
_VILLAGE_SUFFIXES = """
庄 家庄 各庄 辛庄 营 家营 屯 店 庄子 口 坨 堡 寨 洼 台 桥 铺 家铺 沽 河 窝 坊 集 码头
"""


def _words(text: str) -> list[str]:
    return text.split()


def street_bases() -> list[str]:
    """All two-character street/town name bases (without 街道/镇/乡)."""
    return [a + b for a, b in product(_STREET_FIRST, _STREET_SECOND) if a != b]


def estate_bases() -> list[str]:
    """All community name bases (without 社区), e.g. ``幸福里``."""
    return [a + b for a, b in product(_words(_ESTATE_WORDS), _words(_ESTATE_SUFFIXES))]


def village_bases() -> list[str]:
    """All village name bases (without 村), e.g. ``王庄``, ``大辛庄``."""
    bases = [a + b for a, b in product(_words(_VILLAGE_PREFIXES), _words(_VILLAGE_SUFFIXES))]
    return [b for b in bases if len(b) <= 4]


def pick(rng: np.random.Generator, pool: list[str], n: int) -> list[str]:
    """``n`` distinct names from ``pool``, in random order."""
    if n > len(pool):
        raise ValueError(f"asked for {n} distinct names from a pool of {len(pool)}")
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]
