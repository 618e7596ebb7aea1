"""The `zhili` command."""

from __future__ import annotations

from typing import Annotated

import typer

from zhili.cli.audit import audit_app
from zhili.cli.calendar import calendar_app
from zhili.cli.common import console, database, friendly, settings
from zhili.cli.demo import demo
from zhili.cli.grid import grid_app
from zhili.cli.identity import org_app, token_app, user_app
from zhili.cli.lake import lake_app
from zhili.cli.verify import verify_app

app = typer.Typer(
    name="zhili",
    help="城市智理 zhili — a city big-data bureau's data sharing and exchange platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(calendar_app, name="calendar")
app.add_typer(audit_app, name="audit")
app.add_typer(lake_app, name="lake")
app.add_typer(verify_app, name="verify")
app.add_typer(grid_app, name="grid")
app.command("demo")(demo)


@app.command()
@friendly
def init() -> None:
    """Create ZHILI_HOME, apply database migrations, seed the holiday calendar."""
    from zhili.bootstrap import initialise

    report = initialise(database())
    s = settings()
    console.print(f"ZHILI_HOME  {s.home}")
    console.print(f"database    {s.resolved_database_url.split('@')[-1]}")
    console.print(f"calendar    years {report.calendar_years}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (ZHILI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (ZHILI_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the web UI and API."""
    import uvicorn

    s = settings()
    database()
    uvicorn.run(
        "zhili.web.app:create_app",
        factory=True,
        host=host or s.host,
        port=port or s.port,
        workers=workers,
        log_level="info",
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
