"""Password hashing with argon2id (the OWASP-recommended default)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Moderate cost: ~30 ms per hash on 2 cores keeps login usable and brute force slow.
_HASHER = PasswordHasher(time_cost=2, memory_cost=32 * 1024, parallelism=2)
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises on a malformed hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_strength(password: str) -> None:
    """Reject passwords too short to be worth hashing."""
    from zhili.errors import InvalidInput

    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            "identity.password_too_short",
            "password must have at least {min} characters",
            field="password",
            min=MIN_LENGTH,
        )
