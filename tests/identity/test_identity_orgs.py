"""The organization tree and its CSV import: all or nothing, errors name line and column."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from zhili.access import Actor, system_actor
from zhili.errors import Conflict, Forbidden, InvalidInput
from zhili.identity import org_csv, orgs
from zhili.identity.models import Organization

ADMIN = system_actor()
GOOD = """code,name,level,kind,parent_code,name_en,region_code
CITY,示例市,city,government,,Example City,120100
D01,和平区,district,government,CITY,Heping,120101
D01S01,劝业场街道,street,government,D01,,
D01S01C01,新华社区,community,government,D01S01,,
PSB,公安局,city,department,CITY,Public Security Bureau,
"""


def _count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(Organization.id))) or 0


def test_import_builds_tree_with_paths(db) -> None:
    with db.session() as s:
        report = org_csv.import_org_csv(s, ADMIN, GOOD)
    assert (report.created, report.updated) == (5, 0)
    with db.session() as s:
        city = orgs.get_org(s, "CITY")
        community = orgs.get_org(s, "D01S01C01")
        assert community.path.startswith(city.path)
        assert community.path.count("/") == 5
    with db.session() as s:
        again = org_csv.import_org_csv(s, ADMIN, GOOD)
    assert (again.created, again.updated) == (0, 5)


def test_children_before_parents_is_fine(db) -> None:
    lines = GOOD.strip().splitlines()
    text = "\n".join([lines[0], *reversed(lines[1:])])
    with db.session() as s:
        assert org_csv.import_org_csv(s, ADMIN, text).created == 5


def test_gbk_encoded_file_via_decode() -> None:
    from zhili.web.api.orgs import decode_csv

    assert decode_csv(GOOD.encode("gb18030")).startswith("code,name")
    assert decode_csv(("\ufeff" + GOOD).encode("utf-8")).startswith("code,name")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("code,name,level,kind\nA,x,city,department\n", 1, "parent_code"),
        (GOOD + "BAD,坏,planet,department,CITY,,\n", 7, "level"),
        (GOOD + "BAD2,坏,city,alien,CITY,,\n", 7, "kind"),
        (GOOD + "X-Y,坏,city,department,CITY,,\n", 7, "code"),
        (GOOD + "ORPHAN,孤,city,department,NOPE,,\n", 7, "parent_code"),
        (GOOD + "PSB,重复,city,department,CITY,,\n", 7, "code"),
        (GOOD + "SHORT,短,city\n", 7, "*"),
        (GOOD + "UP,上,city,department,D01,,\n", 7, "parent_code"),
        (
            "code,name,level,kind,parent_code\nA,a,city,department,B\nB,b,city,department,A\n",
            2,
            "parent_code",
        ),
    ],
)
def test_bad_lines_are_named_and_nothing_is_written(db, text: str, line: int, column: str) -> None:
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        org_csv.import_org_csv(s, ADMIN, text)
    assert exc.value.params["line"] == line
    assert exc.value.params["column"] == column
    assert _count(db) == 0


def test_empty_and_header_only(db) -> None:
    for text in ("", "code,name,level,kind,parent_code\n"):
        with pytest.raises(InvalidInput) as exc, db.session() as s:
            org_csv.import_org_csv(s, ADMIN, text)
        assert exc.value.code == "identity.empty_csv"


def test_only_platform_admins_import(db) -> None:
    org_admin = Actor(kind="user", user_id=1, org_path="/1/", roles=frozenset({"org_admin"}))
    with pytest.raises(Forbidden), db.session() as s:
        org_csv.import_org_csv(s, org_admin, GOOD)


def test_create_org_conflict_and_move(db) -> None:
    with db.session() as s:
        org_csv.import_org_csv(s, ADMIN, GOOD)
    with pytest.raises(Conflict), db.session() as s:
        orgs.create_org(s, ADMIN, orgs.OrgSpec("PSB", "公安局", "city", "department", "CITY"))
    with db.session() as s:
        orgs.upsert_org(s, orgs.OrgSpec("D02", "河东区", "district", "government", "CITY"))
        orgs.upsert_org(s, orgs.OrgSpec("D01S01", "劝业场街道", "street", "government", "D02"))
    with db.session() as s:
        d2 = orgs.get_org(s, "D02")
        assert orgs.get_org(s, "D01S01C01").path.startswith(d2.path)
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        orgs.upsert_org(s, orgs.OrgSpec("D02", "河东区", "district", "government", "D01S01"))
    assert exc.value.code in {"identity.org_cycle", "identity.bad_org_parent_level"}


def test_creating_and_importing_orgs_is_on_the_audit_record(db) -> None:
    from zhili.audit.models import AuditEntry

    with db.session() as s:
        org_csv.import_org_csv(s, ADMIN, GOOD)
        orgs.create_org(s, ADMIN, orgs.OrgSpec("EDU", "教育局", "city", "department", "CITY"))
    with db.session() as s:
        acts = s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [a.action for a in acts] == ["org.import", "org.create"]
    assert acts[0].detail["created"] > 0 and acts[1].detail["code"] == "EDU"
