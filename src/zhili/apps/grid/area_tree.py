"""The grid tree without its polygons, held in memory per process and database: ids,
codes, names, levels, paths, bounding boxes and command organizations of every area
(the demo city's 25,000 take about 10 MB and 0.2 s to load).

Every report walks the tree down to a grid and back up to its command centre; done in
SQL that is a dozen queries per report. Here it is none: the tree is re-validated at
most every ``MAX_AGE`` seconds by one aggregate (``count``, ``max(updated_at)`` — every
import bumps ``updated_at``), and at once in the process that imports
(:func:`forget_area_trees`). Another process sees an import within ``MAX_AGE``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.apps.grid.models import AREA_DEPTH, AreaLevel, GridArea

#: seconds a process trusts its copy of the tree before asking whether it changed
MAX_AGE = 1.0


@dataclass(frozen=True, slots=True)
class AreaNode:
    """One area as the tree walk needs it (no polygon: see ``areas._polygon``)."""

    id: int
    parent_id: int | None
    code: str
    name: str
    name_en: str | None
    level: str
    path: str
    org_id: int | None
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    updated_at: dt.datetime

    def holds_box(self, lon: float, lat: float) -> bool:
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat

    def path_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part]


class AreaTree:
    """All areas by id, and each area's children ordered by code."""

    def __init__(self, nodes: list[AreaNode]) -> None:
        self.nodes = {n.id: n for n in nodes}
        kids: dict[int | None, list[AreaNode]] = defaultdict(list)
        for n in sorted(nodes, key=lambda n: n.code):
            kids[n.parent_id].append(n)
        self.children: dict[int | None, list[AreaNode]] = dict(kids)

    def ancestors(self, area_id: int) -> list[AreaNode]:
        """The areas above ``area_id``, city first."""
        node = self.nodes[area_id]
        return [self.nodes[i] for i in node.path_ids()[:-1] if i in self.nodes]

    def at_level(self, area_id: int, level: str) -> AreaNode:
        """The area at ``level`` above (or at) ``area_id``: whose command centre takes an
        event there; the area itself when it is already above that level."""
        node = self.nodes[area_id]
        depth = AREA_DEPTH[AreaLevel(level)]
        for candidate in [node, *reversed(self.ancestors(area_id))]:
            if AREA_DEPTH[AreaLevel(candidate.level)] <= depth:
                return candidate
        return node

    def subtree_ids(self, roots: Iterable[int]) -> set[int]:
        """The ids of ``roots`` and every area below them."""
        paths = sorted(self.nodes[i].path for i in roots if i in self.nodes)
        if not paths:
            return set()
        prefixes = tuple(paths)
        return {n.id for n in self.nodes.values() if n.path.startswith(prefixes)}

    def command_org_id(self, area_id: int) -> int | None:
        """The organization commanding ``area_id``: its own, else its nearest ancestor's."""
        node = self.nodes.get(area_id)
        if node is None:
            return None
        for i in reversed(node.path_ids() or [area_id]):
            above = self.nodes.get(i)
            if above is not None and above.org_id is not None:
                return above.org_id
        return None


@dataclass(slots=True)
class _Held:
    tree: AreaTree
    stamp: tuple[int, dt.datetime | None]
    checked: float


_HELD: dict[str, _Held] = {}
_LOCK = threading.Lock()


def _key(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def _stamp(session: Session) -> tuple[int, dt.datetime | None]:
    count, newest = session.execute(select(func.count(), func.max(GridArea.updated_at))).one()
    return int(count), newest


def _load(session: Session) -> AreaTree:
    a = GridArea
    rows = session.execute(
        select(
            a.id, a.parent_id, a.code, a.name, a.name_en, a.level, a.path, a.org_id,
            a.min_lon, a.min_lat, a.max_lon, a.max_lat, a.updated_at,
        )
    )  # fmt: skip
    return AreaTree([AreaNode(*r) for r in rows])


def area_tree(session: Session) -> AreaTree:
    """This database's tree, re-read when an import changed it."""
    key = _key(session)
    now = time.monotonic()
    held = _HELD.get(key)
    if held is not None and now - held.checked < MAX_AGE:
        return held.tree
    stamp = _stamp(session)
    if held is not None and held.stamp == stamp:
        held.checked = now
        return held.tree
    tree = _load(session)
    with _LOCK:
        _HELD[key] = _Held(tree, stamp, now)
    return tree


def forget_area_trees() -> None:
    """Make every next :func:`area_tree` ask the database (after an import)."""
    with _LOCK:
        for held in _HELD.values():
            held.checked = float("-inf")
