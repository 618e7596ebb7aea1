"""Validation reports in the Frictionless shape, with messages in English and Chinese.

A report is a plain dict so it can travel as-is in an RFC 9457 problem, a job record or
an e-mail::

    {"valid": False,
     "stats": {"errors": 3, "rows": 1000, "fields": 9},
     "errors": [{"type": "type-error", "rowNumber": 5, "fieldName": "age", "cell": "abc",
                 "note": 'type is "integer"', "message": "...", "message_zh": "..."}],
     "errorsTruncated": False}

Row numbers count as Frictionless does: the header is row 1, the first data row is row 2,
for every kind of source (for JSON, JSONL and database rows the header is implicit; a
JSONL object on line n is row n + 1). For CSV a row is a record, so a quoted value that
spans lines does not shift the numbers of the rows after it. Only the first
``max_errors`` errors are listed; ``stats.errors`` always counts all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zhili.errors import InvalidInput
from zhili.lake.schema import FieldSpec, KeySpec

TYPE_EN = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "date": "a date",
    "datetime": "a date-time",
    "time": "a time",
    "year": "a year",
}
TYPE_ZH = {
    "string": "字符串",
    "integer": "整数",
    "number": "数值",
    "boolean": "布尔值",
    "date": "日期",
    "datetime": "日期时间",
    "time": "时间",
    "year": "年份",
}
FORMAT_EN = {
    "cn-id": "a valid citizen ID number (GB 11643)",
    "email": "a valid e-mail address",
    "uri": "a valid URI",
    "uuid": "a valid UUID",
}
FORMAT_ZH = {
    "cn-id": "有效的公民身份号码",
    "email": "有效的电子邮箱地址",
    "uri": "有效的网址",
    "uuid": "有效的 UUID",
}
#: Constraint → (English, Chinese) tail of the message; {value} is the constraint's value.
CONSTRAINT_TEXT = {
    "required": ("a value is required", "不能为空"),
    "enum": ("is not one of {value}", "不在允许的取值 {value} 中"),
    "pattern": ("does not match the pattern {value}", "不符合格式 {value}"),
    "minimum": ("is less than the minimum {value}", "小于最小值 {value}"),
    "maximum": ("is greater than the maximum {value}", "大于最大值 {value}"),
    "exclusiveMinimum": ("must be greater than {value}", "必须大于 {value}"),
    "exclusiveMaximum": ("must be less than {value}", "必须小于 {value}"),
    "minLength": ("is shorter than {value} characters", "的长度少于 {value} 个字符"),
    "maxLength": ("is longer than {value} characters", "的长度超过 {value} 个字符"),
}
CELL_PREVIEW = 200


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= CELL_PREVIEW:
        return text
    return text[: CELL_PREVIEW - 1] + "…"


def entry(
    type_: str,
    note: str,
    message: str,
    message_zh: str,
    *,
    row: int | None = None,
    field: str | None = None,
    cell: str | None = None,
) -> dict[str, Any]:
    """One error in the report's shape."""
    return {
        "type": type_,
        "rowNumber": row,
        "fieldName": field,
        "cell": _clip(cell),
        "note": note,
        "message": message,
        "message_zh": message_zh,
    }


def type_error(row: int | None, spec: FieldSpec, cell: str | None) -> dict[str, Any]:
    """A value that does not cast to the field's type, or misses its format (as Frictionless)."""
    fmt = spec.format if spec.kind == "string" else "default"
    want_en = FORMAT_EN.get(fmt, TYPE_EN[spec.kind])
    want_zh = FORMAT_ZH.get(fmt, TYPE_ZH[spec.kind])
    return entry(
        "type-error",
        f'type is "{spec.label}"',
        f'Row {row}, field "{spec.name}": value "{cell}" is not {want_en}.',
        f"第 {row} 行字段“{spec.name}”的值“{cell}”不是{want_zh}",
        row=row,
        field=spec.name,
        cell=cell,
    )


def constraint_error(
    row: int | None, spec: FieldSpec, cell: str | None, constraint: str, value: Any
) -> dict[str, Any]:
    en, zh = CONSTRAINT_TEXT[constraint]
    shown = "、".join(map(str, value)) if isinstance(value, list | tuple) else value
    shown_en = ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
    if constraint == "required":
        message = f'Row {row}, field "{spec.name}": {en}.'
        message_zh = f"第 {row} 行字段“{spec.name}”{zh}"
    else:
        message = f'Row {row}, field "{spec.name}": value "{cell}" {en.format(value=shown_en)}.'
        message_zh = f"第 {row} 行字段“{spec.name}”的值“{cell}”{zh.format(value=shown)}"
    return entry(
        "constraint-error",
        f'constraint "{constraint}" is "{value}"',
        message,
        message_zh,
        row=row,
        field=spec.name,
        cell=cell,
    )


def key_error(
    row: int, key: KeySpec, cells: Sequence[Any], first_row: int | None
) -> dict[str, Any]:
    """A repeated key value; ``first_row`` None means the value is already in the table."""
    shown = ", ".join("" if c is None else str(c) for c in cells)
    fields_en = ", ".join(f'"{f}"' for f in key.fields)
    fields_zh = "、".join(key.fields)
    what_en = f"primary key ({fields_en})" if key.primary else f"field {fields_en}"
    what_zh = f"主键（{fields_zh}）" if key.primary else f"字段“{fields_zh}”"
    if first_row is None:
        note = "the same as in a row already in the table"
        tail_en, tail_zh = "already exists in the table", "在表中已存在"
    else:
        note = f"the same as in the row at position {first_row}"
        tail_en, tail_zh = f"repeats row {first_row}", f"与第 {first_row} 行重复"
    return entry(
        key.error_type,
        note,
        f'Row {row}: {what_en} value "{shown}" {tail_en}.',
        f"第 {row} 行{what_zh}的值“{shown}”{tail_zh}",
        row=row,
        field=key.fields[0] if len(key.fields) == 1 else None,
        cell=shown,
    )


def label_error(kind: str, label: str, position: int | None = None) -> dict[str, Any]:
    """Header problems: missing-label, extra-label, blank-header, duplicate-label."""
    texts = {
        "missing-label": (
            f'Column "{label}" of the schema is missing from the header.',
            f"表头缺少字段“{label}”",
        ),
        "extra-label": (
            f'Column "{label}" (position {position}) is not in the schema.',
            f"表头第 {position} 列“{label}”不在模式中",
        ),
        "blank-header": (
            f"Column {position} has an empty header.",
            f"表头第 {position} 列为空",
        ),
        "duplicate-label": (
            f'Column "{label}" appears more than once in the header.',
            f"表头中的列“{label}”重复",
        ),
    }
    en, zh = texts[kind]
    return entry(kind, f'label "{label}"', en, zh, row=None, field=label or None)


def cell_count_error(row: int | None, expected: int, actual: int, text: str) -> dict[str, Any]:
    """A CSV row with the wrong number of cells (ragged row)."""
    kind = "extra-cell" if actual > expected else "missing-cell"
    return entry(
        kind,
        f"expected {expected} cells, found {actual}",
        f"Row {row} has {actual} cells, expected {expected}.",
        f"第 {row} 行有 {actual} 个单元格，应为 {expected} 个",
        row=row,
        cell=text,
    )


def encoding_error(offset: int, line: int, encoding: str) -> dict[str, Any]:
    return entry(
        "encoding-error",
        f"invalid {encoding} at byte {offset}, line {line}",
        f"The file is not valid {encoding} at byte {offset} (line {line}); it may mix encodings.",
        f"文件第 {line} 行（字节偏移 {offset}）处不是有效的 {encoding} 编码，可能混用了多种编码",
    )


def source_error(note: str, message: str, message_zh: str, row: int | None = None) -> dict:
    return entry("source-error", note, message, message_zh, row=row)


def schema_error(field: str, expected: str, actual: str) -> dict[str, Any]:
    return entry(
        "schema-error",
        f"expected {expected}, found {actual}",
        f'Column "{field}" has type {actual}, which cannot hold {expected}.',
        f"列“{field}”的类型为 {actual}，无法存放{TYPE_ZH.get(expected, expected)}",
        field=field,
    )


class Report:
    """Collects errors while data streams by: counts everything, keeps the first few."""

    def __init__(self, fields: int, max_errors: int = 1000) -> None:
        self.fields = fields
        self.max_errors = max(0, max_errors)
        self.errors: list[dict[str, Any]] = []
        self.total = 0
        self.rows = 0
        self.code = "lake.validation_failed"

    @property
    def room(self) -> int:
        """How many more errors will be listed."""
        return self.max_errors - len(self.errors)

    @property
    def valid(self) -> bool:
        return self.total == 0

    def add(self, error: dict[str, Any]) -> None:
        self.total += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)

    def count(self, n: int) -> None:
        """Count ``n`` errors that are not listed (found past the cap)."""
        self.total += n

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.errors, key=lambda e: e["rowNumber"] or 0)
        return {
            "valid": self.valid,
            "stats": {"errors": self.total, "rows": self.rows, "fields": self.fields},
            "errors": ordered,
            "errorsTruncated": self.total > len(ordered),
        }


class ValidationFailed(InvalidInput):
    """The input did not validate; nothing was committed. ``report`` says where and why."""

    def __init__(self, report: dict[str, Any], code: str = "lake.validation_failed") -> None:
        first = report["errors"][0] if report["errors"] else {}
        super().__init__(
            code,
            "The data did not validate ({errors} errors); first: {first}",
            report=report,
            errors=report["stats"]["errors"],
            first=first.get("message", ""),
            first_zh=first.get("message_zh", ""),
        )
        self.report = report
