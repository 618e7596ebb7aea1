"""Chinese personal names normalised for record linkage, and their pinyin keys.

Two systems write one person's name differently: traditional characters (張偉), full-width
letters, spaces inside (王 小 明), or the separator of a minority or foreign name typed as
any of a dozen dots (阿依古丽·买买提, 阿依古丽.买买提). `normalise_names` makes these one
string; `pinyin_keys` then lets homophones typed by mistake (张三/章三) meet in blocking
and comparison, and `pinyin_variants` lists the other readings of polyphonic characters.

Names repeat heavily (a city has far fewer distinct names than people), and pypinyin and
zhconv work on one string at a time, so every function computes on the distinct values
of the array and maps the results back with ``take``; the per-name work is also kept in a
bounded LRU cache shared between calls.

Example:
    >>> import pyarrow as pa
    >>> normalise_names(pa.array(["張 偉", "阿依古丽·买买提", None])).to_pylist()
    ['张伟', '阿依古丽买买提', None]
    >>> pinyin_keys(pa.array(["章三", "Ｌｉ Lei"])).to_pylist()
    ['zhangsan', 'lilei']
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import zhconv
from pypinyin import Style, lazy_pinyin, pinyin

#: At most this many readings per name in `pinyin_variants` (4 polyphonic characters of 3
#: readings each would otherwise give 81).
MAX_VARIANTS = 8
_CACHE_SIZE = 1 << 16
#: Whitespace (also U+3000) and zero-width characters, and the separators written inside
#: minority and foreign names: middle dots, katakana and half-width middle dots, bullets,
#: hyphenation point, dot operators, the sinological dot and ideographic full stops. NFKC
#: has already turned ． (U+FF0E) into "." and ｡ (U+FF61) into 。.
_SEPARATORS = re.compile(r"[\s\u200b-\u200d\u2060\ufeff·・･•‧∙⋅ꞏ⸱。]+")
#: A plain "." between two letters (Han characters are letters too): 阿依古丽.买买提, J.Smith.
_DOT = re.compile(r"(?<=[^\W\d_])\.(?=[^\W\d_])")


def normalise_names(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Names as one canonical string each: NFKC (full-width → half-width), traditional →
    simplified, no whitespace or name separators, letters lower-cased; NULL when nothing
    is left.

    The conversion is character-level (zhconv's ``zh-hans``), not ``zh-cn``, which also
    swaps mainland vocabulary and would turn 陳公升 into 陈升 or 李天份 into 李天分.
    """
    return _per_distinct(values, _normalise_one, pa.string())


def pinyin_keys(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Toneless pinyin of each normalised name, syllables joined: 张三 and 章三 → zhangsan.

    Polyphonic characters get pypinyin's default (phrase-aware) reading, also for
    surnames: 单 is read dan and 曾 ceng, though as surnames they are shan and zeng; the
    other readings are in `pinyin_variants`. ü is written v (吕 → lv); letters and digits
    are kept as they are.
    """
    return _per_distinct(values, _key_one, pa.string())


def pinyin_variants(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every toneless reading of each normalised name (polyphonic characters: 单 dan, shan,
    chan; 曾 ceng, zeng; 解 jie, xie), at most `MAX_VARIANTS`; the first is the
    `pinyin_keys` value. NULL for a NULL name."""
    return _per_distinct(values, _variants_one, pa.list_(pa.string()))


def _per_distinct(
    values: pa.Array | pa.ChunkedArray, compute: Callable[[str], Any], out_type: pa.DataType
) -> pa.Array:
    """``compute`` applied once per distinct non-NULL value, mapped back over all rows."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    encoded = pc.dictionary_encode(values)
    results = pa.array([compute(v) for v in encoded.dictionary.to_pylist()], out_type)
    return results.take(encoded.indices)


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise_one(name: str) -> str | None:
    text = zhconv.convert(unicodedata.normalize("NFKC", name), "zh-hans")
    text = _DOT.sub("", _SEPARATORS.sub("", text)).lower()
    return text or None


@lru_cache(maxsize=_CACHE_SIZE)
def _key_one(name: str) -> str | None:
    normal = _normalise_one(name)
    return None if normal is None else "".join(_syllables(normal))


@lru_cache(maxsize=_CACHE_SIZE)
def _variants_one(name: str) -> tuple[str, ...] | None:
    """The key, then the combinations of every character's own readings.

    Each character is read alone, not as part of a word (which would fix one reading),
    since a name is no word. The first character varies fastest, so that the surname's
    readings (单 dan/shan/chan) come before those of rarer given-name readings.
    """
    key = _key_one(name)
    if key is None:
        return None
    readings = pinyin(list(_normalise_one(name) or ""), style=Style.NORMAL, heteronym=True)
    variants = {key: None}
    for parts in itertools.product(*(dict.fromkeys(r) for r in reversed(readings))):  # lazily
        if len(variants) == MAX_VARIANTS:
            break
        variants["".join(reversed(parts))] = None
    return tuple(variants)


def _syllables(normal: str) -> list[str]:
    return lazy_pinyin(normal, style=Style.NORMAL, errors="default")
