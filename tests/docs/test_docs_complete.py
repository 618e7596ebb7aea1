"""Docs are part of the product: every setting, access rule and CLI command is documented,
and both message catalogs say the same things."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from zhili.access import RULES, Role
from zhili.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
I18N = ROOT / "src" / "zhili" / "i18n"
TEMPLATES = ROOT / "src" / "zhili" / "web" / "templates"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`ZHILI_{name.upper()}`" in text, f"ZHILI_{name.upper()} not in configuration.md"


def test_every_action_and_role_is_documented() -> None:
    text = (DOCS / "access.md").read_text()
    for action in RULES:
        assert f"`{action}`" in text, f"{action} not in access.md"
    for role in Role:
        assert f"`{role.value}`" in text, f"{role.value} not in access.md"


def _commands(app: typer.Typer, prefix: str = "zhili") -> list[str]:
    out = []
    for cmd in app.registered_commands:
        name = cmd.name or (cmd.callback.__name__ if cmd.callback else "")
        out.append(f"{prefix} {name.replace('_', '-')}")
    for group in app.registered_groups:
        assert group.typer_instance is not None
        out.extend(_commands(group.typer_instance, f"{prefix} {group.name}"))
    return out


def test_every_cli_command_is_documented() -> None:
    from zhili.cli.main import app

    text = (DOCS / "cli.md").read_text()
    for command in _commands(app):
        assert f"`{command}" in text, f"{command} not in cli.md"


def test_catalogs_have_the_same_keys() -> None:
    zh = json.loads((I18N / "zh-CN.json").read_text())
    en = json.loads((I18N / "en.json").read_text())
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(v.strip() for v in [*zh.values(), *en.values()])


def test_templates_use_only_known_keys() -> None:
    zh = json.loads((I18N / "zh-CN.json").read_text())
    missing = set()
    for path in TEMPLATES.glob("*.html"):
        for key in re.findall(r"""\bt\(\s*'([a-z0-9_.:-]+)'\s*[,)]""", path.read_text()):
            if key not in zh:
                missing.add(f"{path.name}: {key}")
    # Keys built from data ("role." ~ r, "level." ~ l, ...) must cover every value.
    for prefix, values in {
        "role.": [r.value for r in Role],
        "scope.": sorted({r.scope for r in RULES.values()} - {"public"}),
        "level.": ["city", "district", "street", "community"],
        "kind.": ["department", "government", "institution", "enterprise"],
        "nav.": [
            "home",
            "catalog",
            "exchange",
            "verify",
            "open",
            "orgs",
            "users",
            "calendar",
            "audit",
            "account",
        ],
        "lang.": ["zh-CN", "en"],
        "calendar.weekday": [str(i) for i in range(7)],
    }.items():
        for value in values:
            if prefix + value not in zh:
                missing.add(prefix + value)
    assert not missing, sorted(missing)


def test_every_error_code_raised_has_a_message() -> None:
    zh = json.loads((I18N / "zh-CN.json").read_text())
    src = ROOT / "src" / "zhili"
    codes = set()
    kinds = (
        "InvalidInput|BadRequest|Unauthorized|Forbidden|NotFound|Conflict|Unavailable"
        "|PayloadTooLarge|UnsupportedMediaType"
    )
    pattern = rf'(?:{kinds})\(\s*"([a-z_.]+)"'
    for path in src.rglob("*.py"):
        codes.update(re.findall(pattern, path.read_text()))
    missing = sorted(c for c in codes if f"errors.{c}" not in zh)
    assert not missing, missing


def test_translations_use_the_same_placeholders() -> None:
    """A translation naming a placeholder the English text does not (or missing one) would
    show raw ``{braces}`` to users. ``first_zh`` stands for ``first`` in Chinese."""
    zh = json.loads((I18N / "zh-CN.json").read_text())
    en = json.loads((I18N / "en.json").read_text())

    def names(text: str) -> set[str]:
        return {n.removesuffix("_zh") for n in re.findall(r"\{(\w+)[^}]*\}", text)}

    wrong = sorted(k for k in en if names(en[k]) != names(zh[k]))
    assert not wrong, wrong
