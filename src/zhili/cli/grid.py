"""`zhili grid …`: grid governance (津治通) — the grid tree and its workers
(`zhili grid areas …`) and the event catalogue (`zhili grid categories …`)."""

from __future__ import annotations

import typer

from zhili.cli.grid_areas import areas_app
from zhili.cli.grid_categories import categories_app
from zhili.cli.grid_sweep import sweep_command

grid_app = typer.Typer(
    help="津治通 grid governance: the grid tree, grid workers and the event catalogue.",
    no_args_is_help=True,
)
grid_app.add_typer(areas_app, name="areas")
grid_app.add_typer(categories_app, name="categories")
grid_app.command("sweep")(sweep_command)
