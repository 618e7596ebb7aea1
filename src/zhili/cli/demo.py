"""`zhili demo`: initialise ZHILI_HOME, build the demo city, print the demo accounts,
serve. Safe to run again: what exists is kept."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from zhili.cli.common import console, database, friendly, progress, settings


@friendly
def demo(
    people: Annotated[int, typer.Option(min=1, help="Residents to generate.")] = 100_000,
    verify_people: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Residents the verification (比对核验) registers are made for "
            "(default: --people, at most 100,000; 0: none).",
        ),
    ] = None,
    no_verify_job: Annotated[
        bool,
        typer.Option("--no-verify-job", help="Do not run the pension verification scenario once."),
    ] = False,
    port: Annotated[int | None, typer.Option(help="Port to serve on (ZHILI_PORT).")] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (ZHILI_HOST).")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build only.")] = False,
) -> None:
    """Build the demo city 示例市 and serve it on 127.0.0.1:8000."""
    from zhili.bootstrap import initialise
    from zhili.demo import build_demo

    s = settings()
    started = time.perf_counter()
    db = database()
    init = initialise(db)
    console.print(f"[green]✓[/] database ready, holiday calendar {init.calendar_years}")
    with progress() as bar:
        task = bar.add_task("residents 居民", total=people)
        report = build_demo(
            db,
            s.home,
            people,
            on_population=lambda n: bar.update(task, completed=n),
            verify_people=verify_people,
            secret_key=None if no_verify_job else s.secret_key,
        )
        bar.update(task, completed=people)
    elapsed = time.perf_counter() - started
    what = "generated" if report.population_built else "already present"
    console.print(
        f"[green]✓[/] {report.orgs_created} organizations created; "
        f"{report.people:,} residents {what} in {report.population_dir}"
    )
    console.print(
        f"[green]✓[/] catalog: {report.resources_created} resources described; "
        f"人口基础信息 at lake version {report.population_version}"
    )
    v = report.verification
    if v is not None:
        what = "generated and loaded" if v.built else "already loaded"
        console.print(
            f"[green]✓[/] verification registers for {v.people:,} residents {what} "
            f"({sum(v.rows.values()):,} records, {v.grants_created} grants made); "
            f"ground truth in {v.truth_dir}"
        )
    if v is not None and v.job is not None:
        job = v.job
        tiers = (job.summary or {}).get("tiers", {})
        console.print(
            f"[green]✓[/] pension scenario (养老金资格核验) job {job.id} as hrss: {job.state}, "
            f"{tiers.get('auto', 0):,} automatic matches, {tiers.get('review', 0):,} to review"
        )
    g = report.grid
    if g is not None:
        console.print(
            f"[green]✓[/] grid (津治通): {g.areas:,} areas with polygons, {g.categories} event "
            f"categories, gridworker assigned to {g.worker_grids} grids, {g.events:,} events "
            "over the past year"
        )
    console.print(f"[green]✓[/] demo ready in {elapsed:.1f} s")
    table = Table(title="演示账号 demo accounts")
    table.add_column("username")
    table.add_column("password")
    table.add_column("roles")
    for username, password, roles in report.accounts:
        table.add_row(username, password, roles)
    console.print(table)
    if no_serve:
        return
    import uvicorn

    bind_host, bind_port = host or s.host, port or s.port
    console.print(f"serving on http://{bind_host}:{bind_port}/  (Ctrl-C to stop)")
    uvicorn.run(
        "zhili.web.app:create_app", factory=True, host=bind_host, port=bind_port, log_level="info"
    )
