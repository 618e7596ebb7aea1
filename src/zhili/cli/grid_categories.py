"""`zhili grid categories …`: the event catalogue (事项目录) — import a catalogue file (or
the shipped one), list the categories, show one with its form and time limits.

Thin: each command calls `zhili.apps.grid.categories`; an import is checked whole and
stored all or nothing, as the platform (the operator runs the CLI as administrator)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zhili.cli.common import console, database, echo_json, friendly
from zhili.errors import InvalidInput

categories_app = typer.Typer(
    help="事项目录: the event categories of grid governance (Open311 services).",
    no_args_is_help=True,
)
MAX_FILE_BYTES = 2_000_000


def _limits(limits: dict) -> str:
    parts = [f"{stage} {v['amount']}{'h' if v['unit'] == 'hours' else 'd'}"
             for stage, v in (limits or {}).items()]  # fmt: skip
    return ", ".join(parts) or "-"


@categories_app.command("import")
@friendly
def import_(
    file: Annotated[
        Path | None, typer.Argument(help="A catalogue in YAML or JSON.", dir_okay=False)
    ] = None,
    shipped: Annotated[
        bool, typer.Option("--shipped", help="Import the catalogue shipped with zhili.")
    ] = False,
) -> None:
    """Create or update categories by code (and routes by category and area), all or none."""
    from zhili.access import system_actor
    from zhili.apps.grid import categories

    if shipped == (file is not None):
        raise typer.BadParameter("give a FILE or --shipped (one of them)")
    if file is not None:
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                raise OSError(0, f"larger than {MAX_FILE_BYTES} bytes")
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                "grid.catalogue_unreadable",
                "Cannot read the event catalogue {path}: {problem}",
                path=str(file),
                problem=exc.strerror if isinstance(exc, OSError) else str(exc),
            ) from None
        data, source = categories.read_catalogue_text(text, name=file.name), file.name
    else:
        data, source = categories.load_shipped(), "shipped"
    db = database()
    try:
        with db.session() as session:
            report = categories.import_categories(session, system_actor(), data, by=source)
    finally:
        db.dispose()
    console.print(
        f"{report.created} categories created, {report.updated} updated, {report.routes} routes"
    )


@categories_app.command("list")
@friendly
def list_(
    group: Annotated[str | None, typer.Option("--group", help="Only this group.")] = None,
    retired: Annotated[
        bool, typer.Option("--retired", help="Include retired (inactive) categories.")
    ] = False,
) -> None:
    """The categories by group: code, name, department, level, time limits."""
    from zhili.apps.grid import categories

    db = database()
    try:
        with db.session() as session:
            active = None if retired else True
            rows = categories.list_categories(session, group=group, active=active)
            for c in rows:
                state = "" if c.active else " (retired)"
                console.print(
                    f"{c.group}  [bold]{c.code}[/]  {c.name} / {c.name_en or '-'}{state}  "
                    f"{c.department.name}  {c.level}  {_limits(c.time_limits)}",
                    highlight=False,
                )
            if not rows:
                console.print("no categories")
    finally:
        db.dispose()


@categories_app.command("show")
@friendly
def show(code: Annotated[str, typer.Argument(help="The category's code.")]) -> None:
    """One category as JSON: names, department, level, time limits, attributes, routes."""
    from zhili.apps.grid import categories

    db = database()
    try:
        with db.session() as session:
            c = categories.get_category(session, code)
            echo_json(
                {
                    "code": c.code,
                    "name": c.name,
                    "name_en": c.name_en,
                    "group": c.group,
                    "department": {"code": c.department.code, "name": c.department.name},
                    "level": c.level,
                    "time_limits": c.time_limits,
                    "attributes": c.attributes,
                    "routes": [
                        {"area": r.area.code, "department": r.department.code}
                        for r in categories.routes_of(session, c)
                    ],
                    "active": c.active,
                }
            )
    finally:
        db.dispose()
