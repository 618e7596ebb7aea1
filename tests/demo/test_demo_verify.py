"""The demo city's verification data: the eight registers in the catalog with their owners
and one lake version each, the grants made through the exchange (ID numbers unmasked), the
reviewers, the ground truth as Parquet, the pension scenario run once; a second run adds
nothing."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
from sqlalchemy import func, select

from zhili.access import can
from zhili.apps.verify.models import JobState, ReviewItem, VerificationJob
from zhili.bootstrap import initialise
from zhili.catalog.models import LakeVersion, Resource
from zhili.demo import build_demo
from zhili.demo_exchange import account_actor
from zhili.demo_verify import PURPOSE, REGISTERS, TRUTH_TABLES, VERIFY_GRANTS
from zhili.exchange import door
from zhili.exchange.models import Grant, RequestState, ShareRequest
from zhili.identity.models import Organization
from zhili.synth.departments import department
from zhili.synth.verification import SCENARIOS

OWNERS = {
    "pensioners": "hrss",
    "senior_cards": "transport",
    "dibao": "civil_affairs",
    "deaths": "health",
    "cremations": "civil_affairs",
    "residence": "police",
    "property": "housing",
    "vehicles": "police",
}


def _resources(db) -> dict[str, Resource]:
    with db.session() as s:
        found = {t: s.scalars(select(Resource).where(Resource.code == r.code)).one()
                 for t, r in REGISTERS.items()}  # fmt: skip
        for r in found.values():
            s.expunge(r)
        return found


def test_demo_loads_the_registers_grants_and_ground_truth(db, settings) -> None:
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    initialise(db)
    first = build_demo(db, home, 3000, secret_key=settings.secret_key).verification
    assert first is not None and first.built and first.people == 3000
    assert first.resources_created == 1  # the residence register; the rest are catalog entries
    assert first.versions == dict.fromkeys(REGISTERS, 0)
    assert first.grants_created == len(VERIFY_GRANTS) == 7

    resources = _resources(db)
    with db.session() as s:
        for table, r in resources.items():
            assert s.get(Organization, r.provider_id).code == department(OWNERS[table]).code
            assert r.sharing_type == "conditional" and PURPOSE in r.tags
            rows = s.scalar(select(LakeVersion.total_rows).where(LakeVersion.resource_id == r.id))
            assert rows == first.rows[table] > 0, table
    items = {f["name"]: f for f in resources["pensioners"].table_schema["fields"]}
    assert items["id_number"]["format"] == "cn-id"
    assert items["id_number"]["x-sensitivity"] == "sensitive_personal"
    assert items["name"]["x-sensitivity"] == "personal"
    deaths = {f["name"]: f for f in resources["deaths"].table_schema["fields"]}
    assert "format" not in deaths["id_number"]  # as the source wrote it: 15 digits, missing …
    assert resources["residence"].name == "户籍登记状态信息"

    with db.session() as s:
        grants = s.scalars(select(Grant).where(Grant.purpose.startswith(PURPOSE))).all()
        assert len(grants) == 7
        for g in grants:
            assert g.state == RequestState.active and g.masking == {}
            assert g.valid_until == g.valid_from + dt.timedelta(days=365)
            assert {"id_number", "owner_id_number"} & set(g.fields)
            assert "公民身份号码须不脱敏" in g.purpose
        residence = [g for g in grants if g.resource.code == REGISTERS["residence"].code]
        assert len(residence) == 2 and all("status" in g.fields for g in residence)
        page, _, _ = door.read_rows(
            s, account_actor(s, "hrss"), home=home, code=REGISTERS["residence"].code,
            params=[("limit", "50")],
        )  # fmt: skip
    numbers = [r["id_number"] for r in page.rows if r["id_number"]]
    assert numbers and not any("*" in n for n in numbers)  # unmasked through the door

    with db.session() as s:
        for roster, analyst, reviewers in (
            ("pensioners", "hrss", ("hrssreviewer1", "hrssreviewer2")),
            ("senior_cards", "analyst", ("transportreviewer1", "transportreviewer2")),
            ("dibao", "civil", ("approver", "civilreviewer")),
        ):  # the department's own roster: its analyst runs, two of its staff review
            assert can(account_actor(s, analyst), "verify.run", resources[roster])
            for name in reviewers:
                assert can(account_actor(s, name), "verify.review", resources[roster])

    out = first.truth_dir
    assert out == home / "synth" / "verification"
    for name in TRUTH_TABLES:
        assert pq.read_metadata(out / f"{name}.parquet").num_rows > 0
    outcomes = pq.read_table(out / "outcomes.parquet")
    assert set(outcomes["scenario"].to_pylist()) == set(SCENARIOS)
    assert {"deceased", "moved_away", "ok"} <= set(outcomes["outcome"].to_pylist())
    truth = pq.read_table(out / "truth.parquet", columns=["roster", "reference"])
    assert set(truth["reference"].to_pylist()) == {
        r for s in SCENARIOS.values() for r in s.references
    }

    job = first.job  # the pension scenario, run as hrss: something to show and review
    assert job is not None and job.state == JobState.done and job.scenario == "pension"
    assert job.created_by == "hrss" and job.summary["outcomes"]["deceased"]["people"] > 0
    with db.session() as s:
        assert s.scalar(select(func.count(ReviewItem.id))) == job.summary["review_items"] > 0

    again = build_demo(db, home, 3000, secret_key=settings.secret_key).verification
    assert again is not None and not again.built and again.job is None
    assert again.resources_created == 0 and again.grants_created == 0
    assert again.versions == first.versions and again.rows == first.rows
    with db.session() as s:
        assert s.scalar(select(func.count(ShareRequest.id))) == 3 + 7
        assert s.scalar(select(func.count(VerificationJob.id))) == 1
        registers = select(Resource.id).where(
            Resource.code.in_([r.code for r in REGISTERS.values()])
        )
        assert (
            s.scalar(
                select(func.count(LakeVersion.id)).where(LakeVersion.resource_id.in_(registers))
            )
            == 8
        )
