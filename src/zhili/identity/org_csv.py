"""Import the organization tree from CSV: all lines are checked first, then written in
parent-before-child order in one transaction, so a bad file changes nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.audit.acts import record_act
from zhili.errors import InvalidInput, ZhiliError
from zhili.identity.models import Organization
from zhili.identity.orgs import TOP_LEVEL, OrgSpec, check_parent, check_spec, upsert_org

REQUIRED = ("code", "name", "level", "kind", "parent_code")
OPTIONAL = ("name_en", "region_code")
MAX_ERRORS = 50


@dataclass
class OrgImportReport:
    created: int = 0
    updated: int = 0
    codes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    column: str
    message: str


def _fail(errors: list[LineError]) -> InvalidInput:
    first = errors[0]
    return InvalidInput(
        "identity.bad_org_csv",
        "line {line}, column {column}: {message}",
        line=first.line,
        column=first.column,
        message=first.message,
        errors=[_as_dict(e) for e in errors],
        total_errors=len(errors),
    )


def _as_dict(e: LineError) -> dict[str, object]:
    return {"line": e.line, "column": e.column, "message": e.message}


def parse_org_csv(text: str) -> list[tuple[int, OrgSpec]]:
    """Parse and check every line; raise one InvalidInput listing the bad lines."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise InvalidInput("identity.empty_csv", "the CSV file is empty")
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise _fail([LineError(1, c, f"missing column {c}") for c in missing])
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise _fail([LineError(1, c, f"unknown column {c}") for c in unknown])
    specs: list[tuple[int, OrgSpec]] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(
                LineError(line_no, "*", f"expected {len(header)} fields, found {len(row)}")
            )
            continue
        rec = {k: v.strip() for k, v in zip(header, row, strict=True)}
        spec = OrgSpec(
            code=rec["code"],
            name=rec["name"],
            level=rec["level"],
            kind=rec["kind"],
            parent_code=rec["parent_code"] or None,
            name_en=rec.get("name_en") or None,
            region_code=rec.get("region_code") or None,
        )
        try:
            check_spec(spec)
        except ZhiliError as exc:
            errors.append(LineError(line_no, str(exc.params.get("field", "*")), exc.message("en")))
            continue
        if spec.code in seen:
            errors.append(
                LineError(line_no, "code", f"duplicate code {spec.code} (line {seen[spec.code]})")
            )
            continue
        seen[spec.code] = line_no
        specs.append((line_no, spec))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise _fail(errors)
    if not specs:
        raise InvalidInput("identity.empty_csv", "the CSV file has a header but no rows")
    return specs


def _order(session: Session, specs: list[tuple[int, OrgSpec]]) -> list[tuple[int, OrgSpec]]:
    """Parents before children; unknown parents and cycles are line errors."""
    by_code = {s.code: (n, s) for n, s in specs}
    wanted = {s.parent_code for _, s in specs if s.parent_code and s.parent_code not in by_code}
    known = set()
    if wanted:
        known = set(session.scalars(select(Organization.code).where(Organization.code.in_(wanted))))
    errors = [
        LineError(n, "parent_code", f"unknown parent {s.parent_code}")
        for n, s in specs
        if s.parent_code and s.parent_code not in by_code and s.parent_code not in known
    ]
    if errors:
        raise _fail(errors)
    ordered: list[tuple[int, OrgSpec]] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(code: str) -> None:
        n, spec = by_code[code]
        if state.get(code) == 2:
            return
        if state.get(code) == 1:
            raise _fail([LineError(n, "parent_code", f"cycle through {code}")])
        state[code] = 1
        if spec.parent_code in by_code:
            visit(spec.parent_code)
        state[code] = 2
        ordered.append((n, spec))

    for code in by_code:
        visit(code)
    return ordered


def import_org_csv(session: Session, actor: Actor, text: str) -> OrgImportReport:
    """Create or update organizations from CSV text. Platform admins only: the tree is
    the bureau's to shape."""
    require(actor, "org.manage", TOP_LEVEL)
    specs = _order(session, parse_org_csv(text))
    report = OrgImportReport()
    for line_no, spec in specs:
        try:
            if spec.parent_code:
                parent = session.scalar(
                    select(Organization).where(Organization.code == spec.parent_code)
                )
                check_parent(spec, parent)
            _, created = upsert_org(session, spec)
        except ZhiliError as exc:
            raise _fail(
                [LineError(line_no, str(exc.params.get("field", "*")), exc.message("en"))]
            ) from exc
        report.codes.append(spec.code)
        if created:
            report.created += 1
        else:
            report.updated += 1
    record_act(session, actor, "org.import",
               detail={"created": report.created, "updated": report.updated})  # fmt: skip
    return report
