"""Masking (脱敏) rules of grants: data saying how each personal item is hidden, applied on Arrow.

A grant stores its rules as JSON, one rule per field::

    {"id_number": {"rule": "id_number"}, "phone": {"rule": "phone"},
     "x": {"rule": "pattern", "keep_start": 2, "keep_end": 2, "char": "*"},
     "id2": {"rule": "hash"}, "y": {"rule": "redact"}}

:meth:`MaskingRules.parse` checks them against the resource's Table Schema,
:func:`default_rules` proposes rules for its personal items, and :func:`apply_masking`
masks a record batch with vectorised Arrow kernels (a million rows in well under a second;
only ``hash`` runs a Python loop, about a microsecond a value).

Formats, following common government practice (GB/T 35273 de-identification examples).
Lengths count characters (code points), so ``欧阳娜娜`` has four:

=========  ==============================================  ===============================
rule       result                                          example
=========  ==============================================  ===============================
id_number  first 6 (region) and last 4 kept, one ``*``     ``110105********002X``
           per hidden character
phone      first 3 and last 4 kept                         ``138****1234``
name       first character kept (the surname's first)      ``张*``, ``欧***``
bank_card  first 6 (issuer, BIN) and last 4 kept           ``622202*********0123``
pattern    ``keep_start`` / ``keep_end`` kept, the rest    keep 2/2: ``AB****YZ``
           ``char`` (default ``*``)
address    kept up to the district or county, then a       ``北京市朝阳区****``
           fixed ``****`` (hides the length too)
hash       HMAC-SHA256 of the UTF-8 text, 64 hex digits    ``3f1c…`` (joinable, not
                                                           reversible without the key)
redact     NULL
=========  ==============================================  ===============================

Common to all: the result is text (other types are masked on their Arrow text form, so a
date is ``1950-01-01``); NULL stays NULL and the empty text stays empty (there is nothing
to hide). A value no longer than what a rule keeps is hidden entirely, one ``*`` per
character (``address``: ``****``), so a short value is never shown whole.

``address`` keeps the prefix ending at the first ``区`` or ``县`` (district, county), else at
the first ``市`` (a county-level city, or a city without districts), searching from the
third character, at most 16 characters, and only before the first mark of a smaller place
(镇 乡 街 路 道 村 巷 弄 号 楼 栋 幢 室) — so ``XX市XX镇XX小区`` keeps ``XX市``, not the
residential compound. With no such prefix the first 6 characters are kept.

``hash`` takes a key from the caller: the exchange derives one per consumer organization
(:func:`hash_key`), so two grants to the same consumer join on the hashed ID while another
consumer's hashes of the same IDs differ and cannot be matched against it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

import pyarrow as pa
import pyarrow.compute as pc

from zhili.catalog.tableschema import personal_fields
from zhili.errors import InvalidInput

__all__ = [
    "MAX_KEEP",
    "RULES",
    "MaskingRules",
    "Rule",
    "RuleKind",
    "apply_masking",
    "default_rules",
    "hash_key",
    "mask_array",
    "mask_rows",
]

RuleKind = Literal[
    "id_number", "phone", "name", "address", "bank_card", "pattern", "hash", "redact"
]
RULES: tuple[str, ...] = get_args(RuleKind)
#: Characters kept at the start and at the end by the fixed positional rules.
_KEEP: dict[str, tuple[int, int]] = {
    "id_number": (6, 4),
    "phone": (3, 4),
    "name": (1, 0),
    "bank_card": (6, 4),
}
#: Largest ``keep_start`` / ``keep_end`` of a pattern rule.
MAX_KEEP = 64
_PATTERN_PARAMS = ("keep_start", "keep_end", "char")
_ADDRESS_FILL = "****"
_SMALLER_PLACE = "镇乡街路道村巷弄号楼栋幢室"
_DISTRICT = rf"^(?P<p>[^{_SMALLER_PLACE}]{{2}}[^区县{_SMALLER_PLACE}]{{0,13}}[区县])"
_CITY = rf"^(?P<p>[^{_SMALLER_PLACE}]{{2}}[^市{_SMALLER_PLACE}]{{0,13}}市)"
_MIN_KEY_BYTES = 16
_BLOCK = 64  # SHA-256's block size, as HMAC pads the key
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))

Columnar = TypeVar("Columnar", pa.RecordBatch, pa.Table)


@dataclass(frozen=True)
class Rule:
    """One field's rule; ``keep_start``, ``keep_end`` and ``char`` belong to ``pattern``."""

    kind: RuleKind
    keep_start: int = 0
    keep_end: int = 0
    char: str = "*"

    def to_dict(self) -> dict[str, Any]:
        """The rule as a grant stores it (what :meth:`MaskingRules.parse` reads)."""
        if self.kind != "pattern":
            return {"rule": self.kind}
        return {
            "rule": "pattern",
            "keep_start": self.keep_start,
            "keep_end": self.keep_end,
            "char": self.char,
        }


@dataclass(frozen=True)
class MaskingRules:
    """The rules of one grant: field name → :class:`Rule`. Fields without a rule are clear."""

    rules: Mapping[str, Rule]

    @classmethod
    def parse(cls, data: Any, table_schema: Mapping[str, Any]) -> MaskingRules:
        """Read rules as a grant stores them, checked against the resource's Table Schema.

        Raises:
            InvalidInput: naming the field: ``masking.not_an_object``,
                ``masking.unknown_field``, ``masking.bad_rule``, ``masking.unknown_rule``,
                ``masking.unknown_param``, ``masking.bad_keep``, ``masking.bad_char``.
        """
        if not isinstance(data, Mapping):
            raise InvalidInput(
                "masking.not_an_object",
                "Masking rules must be an object mapping field names to rules",
            )
        names = {f["name"] for f in table_schema["fields"]}
        rules: dict[str, Rule] = {}
        for field, spec in data.items():
            if field not in names:
                raise InvalidInput(
                    "masking.unknown_field",
                    "A masking rule names field {field}, which the resource does not have",
                    field=str(field),
                )
            rules[field] = _parse_rule(field, spec)
        return cls(rules)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: rule.to_dict() for name, rule in self.rules.items()}


def _parse_rule(field: str, spec: Any) -> Rule:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("rule"), str):
        raise InvalidInput(
            "masking.bad_rule",
            "The masking rule of field {field} must be an object with a rule name",
            field=field,
        )
    kind = spec["rule"]
    if kind not in RULES:
        raise InvalidInput(
            "masking.unknown_rule",
            "Unknown masking rule {rule} for field {field}; use one of {allowed}",
            field=field,
            rule=kind,
            allowed=", ".join(RULES),
        )
    params = _PATTERN_PARAMS if kind == "pattern" else ()
    extra = sorted(str(k) for k in spec if k != "rule" and k not in params)
    if extra:
        raise InvalidInput(
            "masking.unknown_param",
            "Masking rule {rule} of field {field} takes no parameter {param}",
            field=field,
            rule=kind,
            param=extra[0],
        )
    if kind != "pattern":
        return Rule(kind)
    keep = [_keep(field, name, spec.get(name, 0)) for name in ("keep_start", "keep_end")]
    char = spec.get("char", "*")
    if not isinstance(char, str) or len(char) != 1 or not char.isprintable():
        raise InvalidInput(
            "masking.bad_char",
            "The fill character of field {field} must be one printable character, not {value}",
            field=field,
            value=repr(char),
        )
    return Rule("pattern", keep[0], keep[1], char)


def _keep(field: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_KEEP:
        raise InvalidInput(
            "masking.bad_keep",
            "{param} of field {field} must be a whole number from 0 to {max}, not {value}",
            field=field,
            param=name,
            value=repr(value),
            max=MAX_KEEP,
        )
    return value


def _default_rule(field: Mapping[str, Any]) -> Rule:
    name = str(field["name"]).lower()
    if field.get("format") == "cn-id":
        return Rule("id_number")
    if any(word in name for word in ("phone", "mobile", "tel")):
        return Rule("phone")
    if "name" in name:
        return Rule("name")
    if "addr" in name:
        return Rule("address")
    if "card" in name or "account" in name:
        return Rule("bank_card")
    return Rule("pattern", 1, 1)


def default_rules(table_schema: Mapping[str, Any]) -> MaskingRules:
    """Rules for every personal and sensitive personal item, chosen from its format and name.

    ``format: cn-id`` → id_number; a name containing phone/mobile/tel → phone, name → name,
    addr → address, card/account → bank_card; anything else keeps its first and last
    character (pattern 1/1). A grant starts from these and the reviewer edits them.
    """
    personal = set(personal_fields(dict(table_schema)))
    return MaskingRules(
        {f["name"]: _default_rule(f) for f in table_schema["fields"] if f["name"] in personal}
    )


def hash_key(secret: bytes, consumer: str) -> bytes:
    """The ``hash`` key of one consumer organization, derived from the platform's secret.

    Same consumer, same key: its grants join on hashed IDs. Another consumer gets another
    key, so hashed IDs handed to different organizations cannot be linked.
    """
    message = b"zhili.exchange.masking.hash\0" + consumer.encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


# --- applying ---------------------------------------------------------------------------


def _as_text(values: pa.Array) -> pa.Array:
    return values if values.type == pa.string() else pc.cast(values, pa.string())


def _keep_ends(text: pa.Array, start: int, end: int, char: str) -> pa.Array:
    """Keep ``start`` and ``end`` characters, one ``char`` per hidden one; short → all."""
    length = pc.utf8_length(text)
    shown = pc.greater(length, start + end)
    hidden = pc.if_else(shown, pc.subtract(length, start + end), length)
    parts = [
        pc.if_else(shown, pc.utf8_slice_codeunits(text, 0, start), ""),
        pc.binary_repeat(char, hidden),
    ]
    if end:  # a slice from -0 would be the whole text
        parts.append(pc.if_else(shown, pc.utf8_slice_codeunits(text, -end), ""))
    return pc.binary_join_element_wise(*parts, "")


def _address(text: pa.Array) -> pa.Array:
    district = pc.struct_field(pc.extract_regex(text, _DISTRICT), [0])
    city = pc.struct_field(pc.extract_regex(text, _CITY), [0])
    prefix = pc.coalesce(district, city, pc.utf8_slice_codeunits(text, 0, 6))
    length = pc.utf8_length(text)
    shown = pc.less(pc.utf8_length(prefix), length)
    kept = pc.if_else(shown, prefix, "")
    masked = pc.binary_join_element_wise(kept, _ADDRESS_FILL, "")
    return pc.if_else(pc.equal(length, 0), "", masked)


def _hmac_hex(text: pa.Array, key: bytes) -> pa.Array:
    """HMAC-SHA256 (RFC 2104) of each value, as lower-case hex; NULL stays NULL.

    The two keyed SHA-256 states are computed once and copied per value: the same result
    as :func:`hmac.new`, without its per-call Python wrapper (about 1.5 times as fast).
    """
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"a hash key needs at least {_MIN_KEY_BYTES} bytes")
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    inner, outer = hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))
    digests: list[str | None] = []
    for value in text.to_pylist():
        if value is None:
            digests.append(None)
            continue
        h = inner.copy()
        h.update(value.encode())
        o = outer.copy()
        o.update(h.digest())
        digests.append(o.hexdigest())
    return pa.array(digests, pa.string())


def mask_array(
    values: pa.Array | pa.ChunkedArray, rule: Rule, key: bytes
) -> pa.Array | pa.ChunkedArray:
    """One column masked by ``rule`` (always a string column); ``key`` is for ``hash``."""
    if isinstance(values, pa.ChunkedArray):
        chunks = [mask_array(chunk, rule, key) for chunk in values.chunks]
        return pa.chunked_array(chunks, pa.string())
    if rule.kind == "redact":
        return pa.nulls(len(values), pa.string())
    text = _as_text(values)
    if rule.kind == "hash":
        return _hmac_hex(text, key)
    if rule.kind == "address":
        return _address(text)
    if rule.kind == "pattern":
        return _keep_ends(text, rule.keep_start, rule.keep_end, rule.char)
    start, end = _KEEP[rule.kind]
    return _keep_ends(text, start, end, "*")


def apply_masking(batch: Columnar, rules: MaskingRules, key: bytes) -> Columnar:
    """``batch`` (a RecordBatch or Table) with every column that has a rule masked.

    Masked columns become nullable strings; columns without a rule, and rules for columns
    the batch does not hold (a projection), are left alone.

    Raises:
        ValueError: a ``hash`` rule applies and ``key`` is shorter than 16 bytes.
    """
    if not any(name in rules.rules for name in batch.schema.names):
        return batch
    columns, fields = [], []
    for i, field in enumerate(batch.schema):
        column = batch.column(i)
        rule = rules.rules.get(field.name)
        if rule is not None:
            column = mask_array(column, rule, key)
            field = pa.field(field.name, pa.string(), nullable=True, metadata=field.metadata)
        columns.append(column)
        fields.append(field)
    schema = pa.schema(fields, metadata=batch.schema.metadata)
    return type(batch).from_arrays(columns, schema=schema)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: mask their text
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def mask_rows(rows: list[dict[str, Any]], rules: MaskingRules, key: bytes) -> list[dict[str, Any]]:
    """Masked copies of a small page of rows (dicts), the same as :func:`apply_masking`."""
    out = [dict(row) for row in rows]
    for name, rule in rules.rules.items():
        if not any(name in row for row in rows):
            continue
        masked = mask_array(_column([row.get(name) for row in rows]), rule, key).to_pylist()
        for row, value in zip(out, masked, strict=True):
            if name in row:
                row[name] = value
    return out
