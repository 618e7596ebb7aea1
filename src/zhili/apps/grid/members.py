"""Grid workers (网格员) on their grids: assign from a list (all rows or none), one by one,
unassign, and look up both ways.

Who may assign is decided per grid: a platform admin anywhere, an org admin or commander
(指挥长) only for grids commanded from inside their own organization subtree — the
command organization being that of the nearest area above the grid that has one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can, require
from zhili.apps.grid.areas import command_org, get_area
from zhili.apps.grid.models import AreaLevel, GridArea, GridMember
from zhili.audit.acts import record_act
from zhili.errors import Forbidden, InvalidInput, NotFound
from zhili.identity.models import User

MAX_ERRORS = 50
COLUMNS = ("username", "grid_code")


@dataclass
class AssignReport:
    """What an assignment list did: new assignments, and rows already in place."""

    assigned: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class CommandTarget:
    """The access target of a grid: the path of the organization commanding it (none:
    a path inside no subtree, so only global roles may act)."""

    org_path: str


def assign_target(session: Session, area: GridArea) -> CommandTarget:
    org = command_org(session, area)
    return CommandTarget(org.path if org is not None else "\x00")


def may_assign(session: Session, actor: Actor, area: GridArea) -> bool:
    """Whether ``actor`` may assign workers to ``area`` (for pages to show the form)."""
    return area.level == AreaLevel.grid and can(actor, "grid.assign", assign_target(session, area))


def _bad(code: str, template: str, line: int, column: str, **params: Any) -> InvalidInput:
    return InvalidInput(code, template, line=line, column=column, **params)


def _fail(errors: list[InvalidInput]) -> InvalidInput:
    """The first bad row (its message localised) with every bad row listed."""
    first = errors[0]
    listed = [
        {
            "line": e.params.get("line"),
            "column": e.params.get("column"),
            "problem": e.code,
            "message": e.message("en"),
        }
        for e in errors
    ]
    return InvalidInput(
        first.code, first.fallback, **first.params, errors=listed, total_errors=len(errors)
    )


def _check_worker(user: User | None, username: str, line: int) -> User:
    if user is None or not user.is_active:
        raise _bad(
            "grid.worker_unknown_user",
            "line {line}: no active user {username}",
            line,
            "username",
            username=username,
        )
    if Role.grid_worker not in user.roles:
        raise _bad(
            "grid.worker_not_grid_worker",
            "line {line}: {username} does not hold the grid_worker role",
            line,
            "username",
            username=username,
        )
    return user


def _check_grid(area: GridArea | None, grid_code: str, line: int) -> GridArea:
    if area is None:
        raise _bad(
            "grid.worker_unknown_grid",
            "line {line}: no grid area {grid}",
            line,
            "grid_code",
            grid=grid_code,
        )
    if area.level != AreaLevel.grid:
        raise _bad(
            "grid.worker_not_a_grid",
            "line {line}: {grid} is a {level}; workers are assigned to grids",
            line,
            "grid_code",
            grid=grid_code,
            level=area.level,
        )
    return area


def _parse(rows: Iterable[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(line, username, grid_code) per row; line 1 is the CSV header."""
    parsed: list[tuple[int, str, str]] = []
    errors: list[InvalidInput] = []
    for line, row in enumerate(rows, start=2):
        if not any(str(v or "").strip() for v in row.values()):
            continue
        values = {c: str(row.get(c) or "").strip() for c in COLUMNS}
        missing = [c for c in COLUMNS if not values[c]]
        for column in missing:
            errors.append(
                _bad("grid.worker_missing_field", "line {line}: {column} is empty", line, column)
            )
        if not missing:
            parsed.append((line, values["username"], values["grid_code"]))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise _fail(errors)
    if not parsed:
        raise InvalidInput("grid.worker_no_rows", "the list of grid workers has no rows")
    return parsed


def assign_workers(
    session: Session, actor: Actor, rows: Iterable[dict[str, Any]], *, by: str
) -> AssignReport:
    """Assign grid workers from rows ``username,grid_code`` (a CSV's, header on line 1):
    every row is checked first — user, role, grid, the actor's right on the grid — and
    one bad row refuses the list. Users and grids are loaded in one query each."""
    require(actor, "grid.assign")
    parsed = _parse(rows)
    names = {u for _, u, _ in parsed}
    codes = {g for _, _, g in parsed}
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
    areas = {a.code: a for a in session.scalars(select(GridArea).where(GridArea.code.in_(codes)))}
    errors: list[InvalidInput] = []
    checked: list[tuple[int, User, GridArea]] = []
    for line, username, grid_code in parsed:
        try:
            user = _check_worker(users.get(username), username, line)
            area = _check_grid(areas.get(grid_code), grid_code, line)
        except InvalidInput as exc:
            errors.append(exc)
        else:
            checked.append((line, user, area))
    if errors:
        raise _fail(errors[:MAX_ERRORS])
    targets: dict[int, CommandTarget] = {}
    for line, _, area in checked:
        if area.id not in targets:
            targets[area.id] = assign_target(session, area)
        if not can(actor, "grid.assign", targets[area.id]):
            raise Forbidden(
                "grid.assign_denied",
                "line {line}: you may not assign workers to grid {grid}",
                line=line,
                grid=area.code,
            )
    stmt = select(GridMember.area_id, GridMember.user_id).where(
        GridMember.area_id.in_([a.id for _, _, a in checked])
    )
    existing = {(area_id, user_id) for area_id, user_id in session.execute(stmt)}
    report = AssignReport()
    for _, user, area in checked:
        if (area.id, user.id) in existing:
            report.unchanged += 1
            continue
        existing.add((area.id, user.id))
        session.add(GridMember(area_id=area.id, user_id=user.id, assigned_by=by))
        report.assigned += 1
    record_act(
        session,
        actor,
        "grid.workers_assign",
        detail={
            "assigned": report.assigned,
            "unchanged": report.unchanged,
            "grids": sorted(codes)[:100],
        },
    )
    return report


def read_worker_csv(text: str) -> list[dict[str, Any]]:
    """The rows of a ``username,grid_code`` CSV (other columns are ignored)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            "grid.worker_bad_header",
            "the CSV header lacks {missing}; expected username,grid_code",
            line=1,
            column=missing[0],
            missing=", ".join(missing),
        )
    reader.fieldnames = header
    return list(reader)


def assign_worker_csv(session: Session, actor: Actor, text: str, *, by: str) -> AssignReport:
    """Assign grid workers from CSV text (all rows or none)."""
    require(actor, "grid.assign")
    return assign_workers(session, actor, read_worker_csv(text), by=by)


def assign_worker(
    session: Session, actor: Actor, grid_code: str, username: str, *, by: str
) -> AssignReport:
    """Assign one grid worker to one grid (the same checks as a list of one row)."""
    return assign_workers(session, actor, [{"username": username, "grid_code": grid_code}], by=by)


def unassign(session: Session, actor: Actor, grid_code: str, username: str) -> None:
    """Take a grid worker off a grid; NotFound when they were not on it."""
    area = get_area(session, grid_code)
    require(actor, "grid.assign", assign_target(session, area))
    member = session.scalar(
        select(GridMember)
        .join(User, User.id == GridMember.user_id)
        .where(GridMember.area_id == area.id, User.username == username)
    )
    if member is None:
        raise NotFound(
            "grid.worker_not_assigned",
            "{username} is not assigned to grid {grid}",
            username=username,
            grid=grid_code,
        )
    session.delete(member)
    record_act(
        session, actor, "grid.workers_unassign", detail={"grid": grid_code, "username": username}
    )


def workers_of(session: Session, area: GridArea) -> list[GridMember]:
    """The grid workers on ``area``, by username (with their users loaded)."""
    stmt = (
        select(GridMember)
        .join(User, User.id == GridMember.user_id)
        .where(GridMember.area_id == area.id)
        .order_by(User.username)
    )
    return list(session.scalars(stmt))


def grids_of(session: Session, user: User) -> list[GridArea]:
    """The grids ``user`` is assigned to, by code."""
    stmt = (
        select(GridArea)
        .join(GridMember, GridMember.area_id == GridArea.id)
        .where(GridMember.user_id == user.id)
        .order_by(GridArea.code)
    )
    return list(session.scalars(stmt))
