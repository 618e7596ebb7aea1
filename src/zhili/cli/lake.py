"""`zhili lake …`: load a resource's data from a file or a department database with a
progress bar, and list its versions. Runs as the operator on the server (system actor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zhili.access import system_actor
from zhili.catalog import loading, service
from zhili.catalog.models import LakeVersion
from zhili.cli.common import console, database, err_console, friendly, progress, settings
from zhili.lake.estimate import estimate_rows
from zhili.lake.report import ValidationFailed

lake_app = typer.Typer(
    help="Load resource versions into the lake; list them.", no_args_is_help=True
)
CLI_ACTOR = system_actor("cli")
Mode = Annotated[str, typer.Option(help="append, replace or upsert (by primary key).")]


def _done(v: LakeVersion) -> None:
    console.print(
        f"version {v.version}: {v.rows_written:,} rows written, {v.total_rows:,} in total, "
        f"{v.bytes:,} bytes"
    )


def _report(exc: ValidationFailed) -> None:
    report = exc.params.get("report") or {}
    err_console.print(f"[bold red]error[/] [dim]{exc.code}[/]: {exc.message('en')}")
    for e in report.get("errors", [])[:20]:
        err_console.print(
            f"  row {e.get('rowNumber') or '-'}, {e.get('fieldName') or '-'}: {e.get('message')}"
        )
    raise typer.Exit(2)


@lake_app.command("load")
@friendly
def load(
    code: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    mode: Mode = "append",
) -> None:
    """Validate FILE (CSV, TSV, JSON, JSONL, Parquet, XLSX) and commit it as a version of
    resource CODE; on bad rows print the report and commit nothing (exit 2)."""
    home = settings().home
    total = estimate_rows(file)
    db = database()
    with progress() as bar, db.session() as session:
        task = bar.add_task(f"{code} ← {file.name}", total=total)
        try:
            version = loading.load_file(
                session,
                CLI_ACTOR,
                home=home,
                code=code,
                path=file,
                filename=file.name,
                mode=mode,
                progress=lambda rows: bar.update(task, completed=rows),
            )
        except ValidationFailed as exc:
            bar.stop()
            _report(exc)
        bar.update(task, completed=version.rows_written, total=version.rows_written)
    _done(version)


@lake_app.command("load-db")
@friendly
def load_db(
    code: str,
    url: Annotated[str, typer.Option(help="SQLAlchemy URL of the department's database.")],
    query: Annotated[str, typer.Option(help="The SELECT to load.")],
    mode: Mode = "append",
) -> None:
    """Load the rows of QUERY on the department database at URL as a version of CODE."""
    s = settings()
    db = database()
    with progress() as bar, db.session() as session:
        task = bar.add_task(f"{code} ← database", total=None)
        try:
            version = loading.load_database(
                session,
                CLI_ACTOR,
                home=s.home,
                code=code,
                url=url,
                query=query,
                mode=mode,
                allowed_drivers=s.allowed_source_drivers,
                progress=lambda rows: bar.update(task, completed=rows),
            )
        except ValidationFailed as exc:
            bar.stop()
            _report(exc)
    _done(version)


@lake_app.command("versions")
@friendly
def versions(code: str) -> None:
    """List the versions of CODE: number, mode, rows, bytes, who, when."""
    db = database()
    with db.session() as session:
        for v in service.versions(session, CLI_ACTOR, code):
            console.print(
                f"{v.version:>4}  {v.mode:<8} {v.total_rows:>12,} rows  {v.bytes:>14,} B  "
                f"{v.committed_by or '-':<16} {v.committed_at:%Y-%m-%d %H:%M}  {v.source or ''}"
            )
