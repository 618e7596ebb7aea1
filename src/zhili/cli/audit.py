"""`zhili audit …`: verify the audit log's hash chain, show its newest entries.

``verify`` exits 0 when the chain is intact and 1 naming the first broken entry, so a cron
job or a monitoring probe can run it; each intact run records the head it saw as an anchor
(``ZHILI_HOME/audit/anchors.jsonl``) that later runs check too.
"""

from __future__ import annotations

from typing import Annotated

import typer

from zhili.audit import anchors
from zhili.audit.queries import tail as newest
from zhili.audit.verify import count, verify
from zhili.cli.common import console, database, err_console, friendly, progress, settings
from zhili.clock import CITY_TZ

audit_app = typer.Typer(
    help="Audit log: verify the hash chain, show entries.", no_args_is_help=True
)


@audit_app.command("verify")
@friendly
def verify_cmd(
    anchor: Annotated[
        list[str] | None,
        typer.Option("--anchor", help="Also check a head SEQ:HASH recorded elsewhere."),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Record the intact head as an anchor.")
    ] = True,
    workers: Annotated[
        int | None, typer.Option(help="Processes (default: the CPUs for a large log).")
    ] = None,
) -> None:
    """Recompute the chain; exit 0 when intact, 1 naming the first broken entry."""
    db = database()
    path = anchors.anchors_path(settings().home)
    known = anchors.load(path) + [anchors.Anchor.parse(a) for a in anchor or ()]
    if console.is_terminal:  # a bar for people; scripts and cron get the summary alone
        with progress(transient=True) as bar:
            task = bar.add_task("verifying", total=count(db))
            result = verify(
                db, anchors=known, workers=workers, progress=lambda n: bar.advance(task, n)
            )
    else:
        result = verify(db, anchors=known, workers=workers)
    if not result.ok:
        err_console.print(
            f"[bold red]broken[/] at entry {result.broken_seq} ({result.reason}): {result.message}",
            soft_wrap=True,
        )
        err_console.print(f"entries 1–{result.entries} are intact")
        raise typer.Exit(1)
    console.print(result.message, soft_wrap=True, highlight=False)
    if record and anchors.record(path, result.head_seq, result.head_hash):
        console.print(
            f"[dim]anchor {result.head_seq}:{result.head_hash} recorded in {path}[/]",
            soft_wrap=True,
        )


@audit_app.command("tail")
@friendly
def tail_cmd(
    n: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many entries.")] = 20,
) -> None:
    """Show the newest entries, oldest of them first, one line each (greppable)."""
    db = database()
    with db.session() as session:
        for e in newest(session, n):
            parts = [
                f"{e.seq:>8}",
                e.at.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                e.actor_username or "-",
                e.action,
            ]
            if e.resource_code:
                parts.append(e.resource_code + (f"@v{e.version}" if e.version is not None else ""))
            if e.grant_id is not None:
                parts.append(f"grant={e.grant_id}")
            if e.row_count is not None:
                parts.append(f"rows={e.row_count}")
            parts += [e.outcome + (f":{e.error_code}" if e.error_code else ""), e.hash[:12]]
            console.print("  ".join(parts), soft_wrap=True, markup=False, highlight=False)
