"""Verification jobs: a roster resource × a reference read under a grant, through the one
door, into a new version of a result resource and a summary; bad input refused before
anything is queued; failure and cancellation leave no result version."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select
from verify_city import DEATHS, PENSIONS, RULES, build_city, grant, write_csv

from zhili.apps.verify import jobs as service
from zhili.apps.verify import run as runner
from zhili.apps.verify.models import JobState, ReviewItem, VerificationJob
from zhili.audit.models import AuditEntry
from zhili.catalog.models import LakeVersion, Resource
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound, ZhiliError
from zhili.exchange import table_reads
from zhili.exchange.models import GrantUsage
from zhili.jobs.models import Job, JobStatus


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_city(world, settings, tmp_path)


def _create(city, username="hrss.analyst", **kw):
    spec = service.JobSpec(**{"roster": PENSIONS, "references": (DEATHS,), "rules": RULES, **kw})
    with city.db.session() as s:
        job = service.create_job(s, city.actor(username), spec, home=city.home)
        s.expunge(job)
        return job


def _run(city, job, **kw):
    return runner.run_here(city.db, city.home, city.secret_key, job, **kw)


def _pairs(table):
    return {(r["left_id"], r["right_id"]): r for r in table.to_pylist()}


@pytest.fixture()
def finished(city):
    steps = []
    job = _run(
        city,
        _create(city, money_column="monthly_pension"),
        on_progress=lambda done, total, phase: steps.append((done, total, phase)),
    )
    return city, job, steps


def test_job_runs_to_done_with_the_right_matches(finished) -> None:
    city, job, steps = finished
    assert job.state == JobState.done, job.error
    assert job.result_code and job.result_version is not None
    with city.db.session() as s:
        got = table_reads.read_table(
            s, city.actor("hrss.analyst"), home=city.home, code=job.result_code,
            columns=["reference", "left_id", "right_id", "tier", "pass"],
        ).table  # fmt: skip
    pairs = _pairs(got)
    auto = {p for p, r in pairs.items() if r["tier"] == "auto"}
    assert auto <= city.truth  # no living pensioner is declared dead
    assert len(auto) >= 0.9 * len(city.truth)
    assert pairs[("R-OLD15", "P-OLD15")]["pass"] == "exact"
    assert {r["reference"] for r in pairs.values()} == {DEATHS}
    summary = job.summary
    assert summary["records"] == {
        "roster": len(city.roster),
        "references": {DEATHS: len(city.deaths)},
    }
    assert summary["tiers"]["auto"] == len(auto)
    assert summary["passes"]["exact"] > 0
    assert summary["references"][DEATHS]["exact_pass"] is True
    assert summary["id_problems"]["roster"]["bad_check_digit"] == 1
    assert set(summary["seconds"]) >= {"read", "link", "write", "total"}
    pension = {r["person_id"]: float(r["monthly_pension"]) for r in city.roster}
    dead = {left for left, _ in auto}
    assert summary["money"] == {
        "column": "monthly_pension", "records": len(dead),
        "total": round(sum(pension[p] for p in dead), 2),
    }  # fmt: skip
    assert steps[-1][0] == steps[-1][1] and [s[2] for s in steps][:2] == [
        "read roster", "read reference",
    ]  # fmt: skip


def test_the_result_is_a_resource_of_the_job_org(finished) -> None:
    city, job, _ = finished
    with city.db.session() as s:
        resource = s.scalars(select(Resource).where(Resource.code == job.result_code)).one()
        assert resource.provider.code == "HRSS"
        assert (resource.sharing_type, resource.open_type, resource.grade) == (
            "conditional", "closed", "important",
        )  # fmt: skip
        items = {f["name"]: f for f in resource.table_schema["fields"]}
        assert items["left_id"]["x-sensitivity"] == "personal"
        assert items["name_left"]["x-sensitivity"] == "personal"
        assert items["tier"]["x-sensitivity"] == "none"
        versions = s.scalars(select(LakeVersion).where(LakeVersion.resource_id == resource.id))
        assert [v.version for v in versions] == [job.result_version]
    with city.db.session() as s, pytest.raises(Forbidden) as caught:
        table_reads.read_table(s, city.actor("edu.analyst"), home=city.home, code=job.result_code,
                        columns=["left_id"])  # fmt: skip
    assert caught.value.code == "exchange.no_grant_for"


def test_reads_go_through_the_door_audited_and_metered(finished) -> None:
    city, _, _ = finished
    with city.db.session() as s:
        reads = s.execute(
            select(AuditEntry.resource_code, AuditEntry.grant_id, AuditEntry.row_count)
            .where(AuditEntry.action == "exchange.verify_read", AuditEntry.outcome == "ok")
            .order_by(AuditEntry.seq)
        ).all()
        used = s.scalars(select(GrantUsage.rows).where(GrantUsage.grant_id == city.grant_id))
        assert sum(used) >= len(city.deaths)
        acts = set(s.scalars(select(AuditEntry.action)))
    assert (PENSIONS, None, len(city.roster)) in reads
    assert (DEATHS, city.grant_id, len(city.deaths)) in reads
    assert {"verify.create", "catalog.create"} <= acts


def test_review_tier_pairs_become_review_items(finished) -> None:
    city, job, _ = finished
    with city.db.session() as s:
        items = s.scalars(select(ReviewItem).where(ReviewItem.job_id == job.id)).all()
    assert items and len(items) == job.summary["tiers"]["review"]
    for item in items:
        assert item.tier == "review" and item.state == "pending"
        fields = {c["field"] for c in item.evidence["comparisons"]}
        assert {"name", "birth_date"} <= fields
        assert item.evidence["left"]["person_id"] == item.left_id
        assert item.evidence["right"]["person_id"] == item.right_id


def test_a_rerun_is_a_new_version_of_the_same_resource(finished) -> None:
    city, first, _ = finished
    second = _run(city, _create(city))
    assert second.state == JobState.done, second.error
    assert second.result_code == first.result_code
    assert second.result_version == first.result_version + 1


def test_dedupe_mode(city) -> None:
    extra = [*city.roster, {**city.roster[0], "person_id": "AGAIN"}]
    write_csv(city.tmp / "again.csv", extra, list(extra[0]))
    job = _create(city, roster=None, references=(), mode="dedupe",
                  roster_file=city.tmp / "again.csv", roster_filename="again.csv")  # fmt: skip
    done = _run(city, job)
    assert done.state == JobState.done, done.error
    with city.db.session() as s:
        got = table_reads.read_table(
            s, city.actor("hrss.analyst"), home=city.home, code=done.result_code,
            columns=["left_id", "right_id", "tier"],
        ).table  # fmt: skip
    first = city.roster[0]["person_id"]
    assert {("AGAIN", first), (first, "AGAIN")} & set(_pairs(got))
    assert done.summary["records"] == {"roster": len(extra), "references": {}}


# --- bad input --------------------------------------------------------------------------


def _queued(city) -> int:
    with city.db.session() as s:
        return s.scalar(select(func.count()).select_from(Job)) + s.scalar(
            select(func.count()).select_from(VerificationJob)
        )


def _missing_column_rules() -> str:
    return RULES.replace("district: district", "district: {left: district, right: region}")


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing_column", "verify.missing_column"),
        ("unknown_field", "verify.rules_unknown_field"),
        ("empty_roster", "verify.empty_resource"),
        ("duplicate_ids", "verify.duplicate_ids"),
        ("no_grant", "exchange.no_grant_for"),
        ("field_not_granted", "exchange.field_not_granted"),
        ("unknown_roster", "catalog.resource_not_found"),
        ("dedupe_with_references", "verify.dedupe_references"),
        ("no_references", "verify.no_references"),
        ("bad_money", "verify.bad_money_column"),
        ("rules_syntax", "verify.rules_syntax"),
        ("over_quota", "exchange.read_over_quota"),
    ],
)
def test_bad_input_is_refused_before_anything_is_queued(city, case, code) -> None:
    kw: dict = {}
    if case == "missing_column":
        kw["rules"] = _missing_column_rules()
    elif case == "unknown_field":
        kw["rules"] = RULES.replace("{field: sex, kind: exact}", "{field: gender, kind: exact}")
    elif case == "empty_roster":
        from verify_city import PENSION_SCHEMA, describe

        describe(city.db, "3-05-001-000002", "空名册", "HRSS", PENSION_SCHEMA)
        kw["roster"] = "3-05-001-000002"
    elif case == "duplicate_ids":
        from verify_city import PENSION_SCHEMA, describe, load

        schema = {k: v for k, v in PENSION_SCHEMA.items() if k != "primaryKey"}
        describe(city.db, "3-05-001-000003", "重复名册", "HRSS", schema)
        rows = [*city.roster[:20], city.roster[3]]
        load(city.db, city.home, "3-05-001-000003",
             write_csv(city.tmp / "dup.csv", rows, list(rows[0])))  # fmt: skip
        kw["roster"] = "3-05-001-000003"
    elif case == "no_grant":
        kw["references"] = (PENSIONS,)
        kw["roster"] = DEATHS
        kw["username"] = "edu.analyst"
    elif case == "field_not_granted":
        from verify_city import DEATH_SCHEMA, describe, load

        describe(city.db, "3-06-001-000002", "死亡人员（部分）", "HEALTH", DEATH_SCHEMA)
        load(city.db, city.home, "3-06-001-000002",
             write_csv(city.tmp / "d2.csv", city.deaths, list(city.deaths[0])))  # fmt: skip
        grant(city.db, city.actor("hrss.analyst"), city.actor("health.approver"),
              "3-06-001-000002", ["person_id", "name", "birth_date", "sex", "id_number"],
              masking={})  # fmt: skip
        kw["references"] = ("3-06-001-000002",)
    elif case == "unknown_roster":
        kw["roster"] = "3-05-001-999999"
    elif case == "dedupe_with_references":
        kw["mode"] = "dedupe"
    elif case == "no_references":
        kw["references"] = ()
    elif case == "bad_money":
        kw["money_column"] = "name"
    elif case == "rules_syntax":
        kw["rules"] = "fields: [unclosed"
    elif case == "over_quota":
        from sqlalchemy import update

        from zhili.exchange.models import Grant

        with city.db.session() as s:
            s.execute(update(Grant).where(Grant.id == city.grant_id).values(rows_per_day=100))
    before = _queued(city)
    username = kw.pop("username", "hrss.analyst")
    with pytest.raises(ZhiliError) as caught:
        _create(city, username, **kw)
    assert caught.value.code == code, caught.value
    assert _queued(city) == before


def test_a_file_roster_is_checked_whole(city) -> None:
    rows = [*city.roster[:10], {**city.roster[2]}]
    path = write_csv(city.tmp / "dups.csv", rows, list(rows[0]))
    with pytest.raises(InvalidInput) as caught:
        _create(city, roster=None, roster_file=path, roster_filename="dups.csv")
    assert caught.value.code == "verify.duplicate_ids"
    assert caught.value.params["value"] == city.roster[2]["person_id"]


def test_only_analysts_stewards_and_org_admins_run(city) -> None:
    with pytest.raises(Forbidden) as caught:
        _create(city, "hrss.approver")
    assert caught.value.code == "access.denied"


def test_a_revoked_grant_refuses_with_the_doors_code(city) -> None:
    from zhili.exchange.grants import change_state
    from zhili.exchange.models import Grant

    with city.db.session() as s:
        change_state(s, city.actor("health.approver"), s.get(Grant, city.grant_id), "revoke",
                     "核查结束")  # fmt: skip
    with pytest.raises(Forbidden) as caught:
        _create(city)
    assert caught.value.code == "exchange.grant_revoked"


# --- failure, cancellation, masking ---------------------------------------------------


def test_a_job_that_fails_midway_leaves_no_result_version(city, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise InvalidInput("verify.engine_failed", "The linking engine failed: {problem}",
                           problem="disk full")  # fmt: skip

    monkeypatch.setattr(runner, "link", boom)
    job = _run(city, _create(city))
    assert job.state == JobState.failed
    assert job.error["code"] == "verify.engine_failed"
    assert job.result_code is None and job.result_version is None
    with city.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LakeVersion)) == 2  # the inputs only
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 0
        assert s.get(Job, job.job_id).status == JobStatus.failed
        view = service.get_job(s, city.actor("hrss.analyst"), job.id)
        assert view.state == JobState.failed


def test_cancel_between_steps(city) -> None:
    job = _create(city)

    def cancel_after_reading(done, total, phase):
        if phase == "read reference":
            with city.db.session() as s:
                service.cancel_job(s, city.actor("hrss.admin"), job.id)

    done = _run(city, job, on_progress=cancel_after_reading)
    assert done.state == JobState.cancelled and done.result_code is None
    with city.db.session() as s:
        zjob = s.get(Job, job.job_id)
        assert zjob.status == JobStatus.failed and zjob.problem["code"] == "verify.cancelled"
        assert s.scalar(select(func.count()).select_from(LakeVersion)) == 2
        with pytest.raises(Conflict) as caught:
            service.cancel_job(s, city.actor("hrss.analyst"), job.id)
    assert caught.value.code == "verify.bad_state"


def test_cancel_a_queued_job(city) -> None:
    job = _create(city)
    with city.db.session() as s:
        cancelled = service.cancel_job(s, city.actor("hrss.analyst"), job.id)
        assert cancelled.state == JobState.cancelled
        assert s.get(Job, job.job_id).status == JobStatus.failed  # no runner will claim it
    with city.db.session() as s, pytest.raises(NotFound):
        service.cancel_job(s, city.actor("edu.analyst"), job.id)  # not theirs to see


def test_a_masked_id_number_skips_the_exact_pass(city) -> None:
    from zhili.exchange.grants import change_state
    from zhili.exchange.models import Grant

    with city.db.session() as s:
        change_state(s, city.actor("health.approver"), s.get(Grant, city.grant_id), "revoke", "改")
    grant(city.db, city.actor("hrss.analyst"), city.actor("health.approver"), DEATHS,
          ["person_id", "name", "birth_date", "sex", "district", "id_number"],
          masking={"id_number": {"rule": "id_number"}})  # fmt: skip
    job = _run(city, _create(city))
    assert job.state == JobState.done, job.error
    ref = job.summary["references"][DEATHS]
    assert ref["exact_pass"] is False and "id_number" in ref["masked"]
    assert job.summary["passes"]["exact"] == 0
    assert job.summary["masked"] == {DEATHS: ["id_number"]}


def test_jobs_are_seen_by_their_organization_only(finished) -> None:
    city, job, _ = finished
    with city.db.session() as s:
        assert [j.id for j in service.list_jobs(s, city.actor("hrss.approver"))] == [job.id]
        assert service.list_jobs(s, city.actor("edu.analyst")) == []
        assert [j.id for j in service.list_jobs(s, city.actor("root"))] == [job.id]
        with pytest.raises(NotFound):
            service.get_job(s, city.actor("edu.approver"), job.id)


def test_the_command_line_runs_a_job_in_process(city) -> None:
    from typer.testing import CliRunner

    from zhili.cli.main import app

    rules = city.tmp / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    args = ["verify", "run", "--roster", PENSIONS, "--reference", DEATHS, "--rules", str(rules),
            "--user", "hrss.analyst", "--money", "monthly_pension"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "pairs auto" in result.output and "monthly_pension" in result.output
    assert "result → resource 3-90-001-000001 version 0" in result.output
    refused = CliRunner().invoke(app, [*args[:-4], "--user", "edu.analyst"])
    assert refused.exit_code == 2 and "exchange.no_grant_for" in refused.output


def test_a_run_without_pairs_is_done_without_a_version(city, monkeypatch) -> None:
    real = runner.link

    def nothing(*args, **kwargs):
        result = real(*args, **kwargs)
        return dataclasses.replace(
            result, matches=result.matches.slice(0, 0), tiers={"auto": 0, "review": 0},
            passes={"exact": 0, "probabilistic": 0},
        )  # fmt: skip

    monkeypatch.setattr(runner, "link", nothing)
    job = _run(city, _create(city, money_column="monthly_pension"))
    assert job.state == JobState.done, job.error
    assert job.result_code is None and job.result_version is None
    assert job.summary["tiers"] == {"auto": 0, "review": 0}
    assert job.summary["money"] == {"column": "monthly_pension", "records": 0, "total": 0.0}
    with city.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LakeVersion)) == 2  # the inputs only
