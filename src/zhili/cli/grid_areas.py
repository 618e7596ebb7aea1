"""`zhili grid areas …`: import the grid tree (网格) from GeoJSON, find the area of a point,
assign grid workers (网格员) from CSV.

Thin: each command calls one service of `zhili.apps.grid` as ``--user`` (default: the
platform itself, a platform admin). Bad input prints one line naming the feature or CSV
line and field, exits 2, and writes nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from zhili.cli.common import as_user, console, friendly

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zhili.access import Actor

areas_app = typer.Typer(
    help="网格: import the grid tree from GeoJSON, locate a point, assign grid workers.",
    no_args_is_help=True,
)
UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Act as this user (default: the platform, a platform admin)."),
]


def _read_features(files: list[Path]) -> dict[str, Any]:
    """One FeatureCollection from several files (e.g. one per level, in any order)."""
    from zhili.errors import InvalidInput

    features: list[Any] = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                "grid.bad_json", "the file is not JSON: {reason}", field=str(path), reason=str(exc)
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("features"), list):
            raise InvalidInput(
                "grid.not_feature_collection", "the file is not a GeoJSON FeatureCollection"
            )
        features.extend(data["features"])
    return {"type": "FeatureCollection", "features": features}


@areas_app.command("import")
@friendly
def import_(
    files: Annotated[
        list[Path], typer.Argument(help="GeoJSON FeatureCollections, e.g. city/*.geojson.")
    ],
    user: UserOption = None,
) -> None:
    """Create or update the grid tree from FILES (features: code, name, level,
    parent_code, optional name_en; Polygon/MultiPolygon). All features or none."""
    from zhili.apps.grid.areas import import_areas

    started = time.perf_counter()
    collection = _read_features(files)
    names = ", ".join(p.name for p in files)

    def act(session: Session, actor: Actor) -> Any:
        return import_areas(session, actor, collection, by=f"cli: {names}")

    report = as_user(user, act)
    table = Table(title=f"{len(collection['features'])} features imported")
    table.add_column("level")
    table.add_column("areas", justify="right")
    for level, n in report.by_level.items():
        table.add_row(level, str(n))
    console.print(table)
    console.print(
        f"created {report.created}, updated {report.updated}, linked to organizations "
        f"{report.linked_orgs}, {time.perf_counter() - started:.1f}s"
    )


@areas_app.command("locate")
@friendly
def locate(
    lon: Annotated[float, typer.Argument(help="Longitude (WGS-84).")],
    lat: Annotated[float, typer.Argument(help="Latitude (WGS-84).")],
) -> None:
    """The area chain (city down to grid) containing the point LON LAT; exit 1 when
    the point is outside every area."""
    from zhili.apps.grid.areas import chain
    from zhili.apps.grid.areas import locate as find

    def act(session: Session, actor: Actor) -> list[str]:
        del actor
        area = find(session, lon, lat)
        if area is None:
            return []
        return [f"{a.level:<9} {a.code:<16} {a.name}" for a in chain(session, area)]

    lines = as_user(None, act)
    if not lines:
        console.print(f"no area contains ({lon}, {lat})")
        raise typer.Exit(1)
    for line in lines:
        console.print(line, markup=False, highlight=False)


@areas_app.command("assign")
@friendly
def assign(
    file: Annotated[Path, typer.Argument(help="CSV with columns username,grid_code.")],
    user: UserOption = None,
) -> None:
    """Assign grid workers to grids from FILE (UTF-8 or GB18030); every row is checked
    first and one bad row assigns nobody."""
    from zhili.apps.grid.members import assign_worker_csv
    from zhili.web.api.orgs import decode_csv

    text = decode_csv(file.read_bytes())

    def act(session: Session, actor: Actor) -> Any:
        return assign_worker_csv(session, actor, text, by=f"cli: {file.name}")

    report = as_user(user, act)
    console.print(f"assigned {report.assigned}, already assigned {report.unchanged}")
