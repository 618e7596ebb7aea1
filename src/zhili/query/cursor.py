"""Opaque keyset cursors: where the previous page stopped, for the query that made it.

A cursor is ``base64url(JSON)`` of ``{"s": <sort fingerprint>, "v": [<last row's sort
values>], "t": <ties>}``. The fingerprint is a hash of the *total* sort (the requested keys
plus the tie-breaking primary key, with directions), so a cursor handed to a query with a
different order is rejected instead of silently skipping or repeating rows.

The cursor is not signed: it only carries values that are bound as parameters, so a
tampered cursor can do no more than a filter could (start the page somewhere else).

``ties`` is only used when the sort cannot be made unique (a table without a primary key):
it counts the rows equal to the last one in every sort key that have already been
returned, so the next page can skip exactly those instead of losing their duplicates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zhili.errors import InvalidInput
from zhili.query.messages import invalid

__all__ = ["Cursor", "bad_cursor", "sort_fingerprint"]

#: Longest cursor accepted, so a client cannot make us decode megabytes.
MAX_CURSOR_CHARS = 8192


def sort_fingerprint(keys: Sequence[tuple[str, bool]]) -> str:
    """A short hash of a total sort given as ``(field, descending)`` pairs."""
    text = json.dumps([[name, bool(desc)] for name, desc in keys], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bad_cursor(reason: str) -> InvalidInput:
    """``query.bad_cursor`` with the reason the cursor does not fit."""
    return invalid(
        "query.bad_cursor",
        parameter="after",
        reason=reason,
    )


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor. ``values`` are JSON values, typed again by the builder."""

    fingerprint: str
    values: tuple[Any, ...]
    ties: int = 0

    def encode(self) -> str:
        body: dict[str, Any] = {"s": self.fingerprint, "v": list(self.values)}
        if self.ties:
            body["t"] = self.ties
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Read a token made by :meth:`encode`.

        Raises:
            InvalidInput: ``query.bad_cursor`` when the token is not one of ours.
        """
        if not token or len(token) > MAX_CURSOR_CHARS:
            raise bad_cursor("empty or too long")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = json.loads(raw.decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise bad_cursor("not a cursor") from None
        if not isinstance(body, dict):
            raise bad_cursor("not a cursor")
        fingerprint, values, ties = body.get("s"), body.get("v"), body.get("t", 0)
        if not isinstance(fingerprint, str) or not isinstance(values, list):
            raise bad_cursor("not a cursor")
        if not isinstance(ties, int) or isinstance(ties, bool) or ties < 0:
            raise bad_cursor("not a cursor")
        if any(isinstance(v, dict | list) for v in values):
            raise bad_cursor("not a cursor")
        return cls(fingerprint, tuple(values), ties)

    def check(self, fingerprint: str) -> None:
        """Refuse a cursor made by a query with another sort."""
        if self.fingerprint != fingerprint:
            raise bad_cursor("it was made by a query with a different sort")
