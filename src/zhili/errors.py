"""One error type with a stable code; the web edge turns it into RFC 9457 problem details.

Messages are looked up in the i18n catalogs by code (``errors.<code>``) so the same error
reads in zh-CN or English; ``params`` fill the placeholders and name the offending
row, field or parameter.
"""

from __future__ import annotations

from typing import Any


class ZhiliError(Exception):
    """Base of every domain error. Subclasses fix the HTTP status."""

    status: int = 400

    def __init__(self, code: str, fallback: str | None = None, /, **params: Any) -> None:
        self.code = code
        self.params = params
        self.fallback = fallback or code
        super().__init__(f"{code}: {self.fallback}")

    def message(self, locale: str | None = None) -> str:
        """The human message in ``locale`` (catalog text, else the fallback)."""
        from zhili.i18n import translate

        key = f"errors.{self.code}"
        text = translate(key, locale, **self.params)
        if text == key:
            try:
                return self.fallback.format(**self.params)
            except (KeyError, IndexError, ValueError):
                return self.fallback
        return text


class InvalidInput(ZhiliError):
    status = 422


class BadRequest(ZhiliError):
    status = 400


class Unauthorized(ZhiliError):
    status = 401


class Forbidden(ZhiliError):
    status = 403


class NotFound(ZhiliError):
    status = 404


class Conflict(ZhiliError):
    status = 409


class PayloadTooLarge(ZhiliError):
    status = 413


class UnsupportedMediaType(ZhiliError):
    status = 415


class Unavailable(ZhiliError):
    status = 503
