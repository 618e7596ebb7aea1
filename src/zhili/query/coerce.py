"""Turn text (REST parameters) and JSON values (cursors) into typed values for a column.

Values are typed *before* they reach SQL, for two reasons: a bad value ("abc" for an
integer column) must fail as a 422 that names the field and the value, not as an engine
error; and a bound parameter of the column's own type keeps the comparison in the column's
type, so parquet row-group statistics can prune (a string compared to an integer column
would force a cast of every row instead).

Timestamps follow the lake's convention: a value without a UTC offset is local time in the
city's zone (Asia/Shanghai).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import math
import re
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.types as pat

from zhili.errors import InvalidInput
from zhili.query.messages import invalid

__all__ = ["coerce_value", "is_orderable", "is_text", "to_json_value", "type_label"]

#: The city's zone, for timestamps written without an offset. The lake reads text the same
#: way (``zhili.lake.schema.CITY_TIMEZONE``; a test keeps the two equal). Not imported, so
#: reading a table does not load the ingest machinery.
CITY_TIMEZONE = "Asia/Shanghai"
_INT = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def type_label(type_: pa.DataType) -> str:
    """A short name of an Arrow type for messages and column listings."""
    return str(type_)


def is_text(type_: pa.DataType) -> bool:
    return bool(pat.is_string(type_) or pat.is_large_string(type_) or pat.is_string_view(type_))


def is_orderable(type_: pa.DataType) -> bool:
    """Whether filters and sorts make sense on the column (flat, comparable types)."""
    return bool(
        pat.is_integer(type_)
        or pat.is_floating(type_)
        or pat.is_decimal(type_)
        or pat.is_boolean(type_)
        or is_text(type_)
        or pat.is_date(type_)
        or pat.is_timestamp(type_)
        or pat.is_time(type_)
        or pat.is_binary(type_)
        or pat.is_large_binary(type_)
    )


def _bad(field: str, value: Any, type_: pa.DataType) -> InvalidInput:
    return invalid(
        "query.bad_value",
        field=field,
        value=repr(value),
        type=type_label(type_),
    )


def _int(value: Any, field: str, type_: pa.DataType) -> int:
    if isinstance(value, bool):
        raise _bad(field, value, type_)
    if isinstance(value, int):
        out = value
    elif isinstance(value, str) and _INT.fullmatch(value.strip()):
        out = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    else:
        raise _bad(field, value, type_)
    bits = type_.bit_width
    low, high = (
        (0, 2**bits - 1)
        if pat.is_unsigned_integer(type_)
        else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    if not low <= out <= high:
        raise _bad(field, value, type_)
    return out


def _float(value: Any, field: str, type_: pa.DataType) -> float:
    if isinstance(value, bool):
        raise _bad(field, value, type_)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _bad(field, value, type_)


def _decimal(value: Any, field: str, type_: pa.DataType) -> decimal.Decimal:
    if isinstance(value, bool):
        raise _bad(field, value, type_)
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, int | str):
        try:
            out = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise _bad(field, value, type_) from None
        if out.is_finite():
            return out
    raise _bad(field, value, type_)


def _bool(value: Any, field: str, type_: pa.DataType) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise _bad(field, value, type_)


def _date(value: Any, field: str, type_: pa.DataType) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _bad(field, value, type_)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _bad(field, value, type_)


def _timestamp(value: Any, field: str, type_: pa.TimestampType) -> dt.datetime:
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            out = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise _bad(field, value, type_) from None
    else:
        raise _bad(field, value, type_)
    if type_.tz is not None:
        if out.tzinfo is None:
            out = out.replace(tzinfo=ZoneInfo(CITY_TIMEZONE))
        return out.astimezone(dt.UTC)
    if out.tzinfo is not None:
        out = out.astimezone(dt.UTC).replace(tzinfo=None)
    return out


def _time(value: Any, field: str, type_: pa.DataType) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _bad(field, value, type_)


def _binary(value: Any, field: str, type_: pa.DataType) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            pass
    raise _bad(field, value, type_)


def _text(value: Any, field: str, type_: pa.DataType) -> str:
    if isinstance(value, str):
        return value
    raise _bad(field, value, type_)


def coerce_value(value: Any, type_: pa.DataType, *, field: str) -> Any:
    """``value`` (text, a JSON scalar or a Python value) as a Python value of ``type_``.

    Raises:
        InvalidInput: ``query.bad_value`` naming the field, the value and the type, or
            ``query.unsupported_type`` for nested and other non-comparable columns.
    """
    if value is None:
        return None
    if pat.is_integer(type_):
        return _int(value, field, type_)
    if pat.is_floating(type_):
        return _float(value, field, type_)
    if pat.is_decimal(type_):
        return _decimal(value, field, type_)
    if pat.is_boolean(type_):
        return _bool(value, field, type_)
    if is_text(type_):
        return _text(value, field, type_)
    if pat.is_date(type_):
        return _date(value, field, type_)
    if pat.is_timestamp(type_):
        return _timestamp(value, field, type_)
    if pat.is_time(type_):
        return _time(value, field, type_)
    if pat.is_binary(type_) or pat.is_large_binary(type_):
        return _binary(value, field, type_)
    raise invalid(
        "query.unsupported_type",
        field=field,
        type=type_label(type_),
    )


def to_json_value(value: Any) -> Any:
    """A Python value from a result row as JSON that :func:`coerce_value` reads back exactly."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).decode().rstrip("=")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": float() reads them back
    return value
