"""Unified social credit codes (统一社会信用代码, GB 32100-2015) for the demo organizations.

Departments, institutions and enterprises exchange data under these 18-character codes,
so the demo ones must pass the same checks real ones do: the GB 11714 check on the
embedded organization code and the GB 32100 check character at the end.
"""

from __future__ import annotations

#: The 31 characters a code may use (no I, O, S, V, Z).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters.

    Example:
        >>> check_char("91110000600037341")
        'L'
    """
    if len(first17) != 17 or any(c not in ALPHABET for c in first17):
        raise ValueError(f"expected 17 characters of {ALPHABET}, got {first17!r}")
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_code_check(body8: str) -> str:
    """The GB 11714 check character of an 8-character organization code body."""
    if len(body8) != 8 or any(c not in _ORG_CHARS for c in body8):
        raise ValueError(f"expected 8 digits or capitals, got {body8!r}")
    total = sum(_ORG_CHARS.index(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(registration: str, region6: str, org_body8: str) -> str:
    """A code from its parts: 2-character registration authority and entity type (e.g.
    ``11`` government organ, ``12`` public institution, ``91`` enterprise), the region code
    and the 8-character organization code body (its check character is added)."""
    if len(registration) != 2 or len(region6) != 6 or not region6.isdigit():
        raise ValueError("registration must have 2 characters and region 6 digits")
    first17 = registration + region6 + org_body8 + org_code_check(org_body8)
    return first17 + check_char(first17)


def is_valid(code: str) -> bool:
    """Whether ``code`` has the GB 32100 form and check character."""
    if len(code) != 18 or not code[:8].isdigit() or any(c not in ALPHABET for c in code):
        return False
    return code[17] == check_char(code[:17])
