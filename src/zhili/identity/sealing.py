"""Sealing secrets that must be stored but not read back by people: a department
database's connection URL (with its password) while its load job waits in the queue.
Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from ``ZHILI_SECRET_KEY``, which
every worker shares, so any worker can run the job and the database holds no plaintext."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from zhili.errors import ZhiliError


def _fernet(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"zhili-seal-v1:" + secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode("utf-8")).decode("ascii")


def unseal(secret_key: str, token: str) -> str:
    """The plaintext; a clear error when the key changed since sealing."""
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ZhiliError(
            "sealing.invalid", "the sealed value cannot be opened with this key"
        ) from None
