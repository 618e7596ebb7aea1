"""Chinese personal names normalised for record linkage, and their pinyin keys.

Two systems write one person's name differently: traditional characters (張偉), full-width
letters, spaces inside (王 小 明), or the separator of a minority or foreign name typed as
any of a dozen dots (阿依古丽·买买提, 阿依古丽.买买提). `normalise_names` makes these one
string; `pinyin_keys` then lets homophones typed by mistake (张三/章三) meet in blocking
and comparison, and `pinyin_variants` lists the other readings of polyphonic characters.

Names repeat heavily (a city has far fewer distinct names than people), and pypinyin and
zhconv work on one string at a time, so every function computes on the distinct values
of the array and maps the results back with ``take``; the per-name work is also kept in a
bounded LRU cache shared between calls. A name's pinyin is joined from its characters'
own (cached) readings, and pypinyin reads the whole name only when part of it is a word of
its phrase dictionary (长乐 chang le): a million rows hold ~350,000 distinct names.

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
from pypinyin.constants import PHRASES_DICT

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


def pinyin_columns(normalised: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """`pinyin_keys` and `pinyin_variants` of names `normalise_names` already made, in one
    pass over the distinct names (what `zhili.apps.verify.prepare` needs: a million rows
    hold a few hundred thousand distinct names, damaged spellings included)."""
    encoded = pc.dictionary_encode(_as_string(normalised))
    keys, variants = [], []
    for name in encoded.dictionary.to_pylist():
        key = _plain_key(name) or "".join(_syllables(name))
        keys.append(key)
        variants.append(_combinations(key, name))
    indices = encoded.indices
    return (
        pa.array(keys, pa.string()).take(indices),
        pa.array(variants, pa.list_(pa.string())).take(indices),
    )


def _as_string(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return values


def _per_distinct(
    values: pa.Array | pa.ChunkedArray, compute: Callable[[str], Any], out_type: pa.DataType
) -> pa.Array:
    """``compute`` applied once per distinct non-NULL value, mapped back over all rows."""
    encoded = pc.dictionary_encode(_as_string(values))
    results = pa.array([compute(v) for v in encoded.dictionary.to_pylist()], out_type)
    return results.take(encoded.indices)


@lru_cache(maxsize=_CACHE_SIZE)
def _normalise_one(name: str) -> str | None:
    text = zhconv.convert(unicodedata.normalize("NFKC", name), "zh-hans")
    text = _DOT.sub("", _SEPARATORS.sub("", text)).lower()
    return text or None


@lru_cache(maxsize=_CACHE_SIZE)
def _readings(char: str) -> tuple[str, ...]:
    """Every toneless reading of one character (a letter or digit: itself)."""
    return tuple(dict.fromkeys(pinyin(char, style=Style.NORMAL, heteronym=True)[0]))


@lru_cache(maxsize=_CACHE_SIZE)
def _reading(char: str) -> str:
    """The reading pypinyin gives one character on its own (the first of a polyphonic
    character's readings: 长 zhang, 乐 le)."""
    return "".join(_syllables(char))


def _plain_key(normal: str) -> str | None:
    """The key joined from the characters' own readings, when that is what pypinyin reads
    for the whole name: no part of it is a word of pypinyin's phrase dictionary (长乐 is
    read chang le, 长 alone zhang). None otherwise. Looking characters up one at a time
    is what makes hundreds of thousands of distinct names take seconds, not minutes."""
    size = len(normal)
    for start in range(size - 1):
        for end in range(start + 2, size + 1):
            if normal[start:end] in PHRASES_DICT:
                return None
    return "".join(_reading(char) for char in normal)


@lru_cache(maxsize=_CACHE_SIZE)
def _key_one(name: str) -> str | None:
    normal = _normalise_one(name)
    if normal is None:
        return None
    return _plain_key(normal) or "".join(_syllables(normal))


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
    return _combinations(key, _normalise_one(name) or "")


def _combinations(key: str, normal: str) -> tuple[str, ...]:
    """``key``, then the readings of every character combined, at most `MAX_VARIANTS`."""
    readings = [_readings(char) for char in normal]
    variants = {key: None}
    for parts in itertools.product(*reversed(readings)):  # lazily
        if len(variants) == MAX_VARIANTS:
            break
        variants["".join(reversed(parts))] = None
    return tuple(variants)


def _syllables(normal: str) -> list[str]:
    return lazy_pinyin(normal, style=Style.NORMAL, errors="default")
