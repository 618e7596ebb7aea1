"""Random secrets and their hashes for session cookies and API tokens.

Secrets are 256-bit random values, so a fast SHA-256 is the right hash (argon2 is for
low-entropy passwords); only the hash is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """Hex SHA-256 of ``secret``, what the database keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
