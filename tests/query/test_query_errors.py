"""One code, one message, the same params at every raise: what the i18n catalogs rely on.

The catalogs translate ``errors.<code>`` with the message's ``{placeholders}``; a raise that
forgets one would show a raw ``{field}`` to the user. Checked on the source, so every raise
site counts, including the ones no other test reaches.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

from zhili.query.messages import MESSAGES

SRC = Path(__file__).resolve().parents[2] / "src" / "zhili" / "query"
HELPERS = {"invalid", "forbidden", "not_found", "unavailable"}
CLASSES = {"InvalidInput", "Forbidden", "NotFound", "Unavailable", "BadRequest", "ZhiliError"}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def raise_sites() -> list[tuple[str, int, str, set[str]]]:
    sites = []
    for path in sorted(SRC.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            name = node.func.id
            if name in CLASSES and node.args:
                first = node.args[0]
                assert not (
                    isinstance(first, ast.Constant) and str(first.value).startswith("query.")
                ), f"{path.name}:{node.lineno} builds {name} directly; use zhili.query.messages"
            if name in HELPERS and path.name != "messages.py":
                code = node.args[0]
                assert isinstance(code, ast.Constant), f"{path.name}:{node.lineno}: literal code"
                assert all(k.arg is not None for k in node.keywords), f"{path.name}:{node.lineno}"
                sites.append((path.name, node.lineno, code.value, {k.arg for k in node.keywords}))  # type: ignore[misc]
    return sites


def test_every_raise_fills_its_message() -> None:
    sites = raise_sites()
    assert len(sites) > 40
    for file, line, code, params in sites:
        assert code in MESSAGES, f"{file}:{line}: {code} has no message"
        missing = placeholders(MESSAGES[code]) - params
        assert not missing, f"{file}:{line}: {code} does not pass {sorted(missing)}"


def test_every_message_is_used_and_well_formed() -> None:
    used = {code for _, _, code, _ in raise_sites()}
    assert set(MESSAGES) == used, set(MESSAGES) ^ used
    for code, template in MESSAGES.items():
        assert code.startswith("query.") and template.strip(), code
        template.format(**dict.fromkeys(placeholders(template), "x"))  # no stray braces
