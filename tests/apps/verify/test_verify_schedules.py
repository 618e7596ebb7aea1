"""Scheduled verification: an interval or a new version of an input makes a schedule due,
the sweep starts one run through create_job as the creator (never two at once), a lost
grant or a disabled creator is a recorded failure, and reruns reuse the trained model
until the rules or the inputs' schema change."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from verify_city import DEATH_SCHEMA, DEATHS, PENSIONS, PERSON, RULES, build_city, write_csv

from zhili.access import system_actor
from zhili.apps.verify import jobs as job_service
from zhili.apps.verify import run as runner
from zhili.apps.verify import schedules as service
from zhili.apps.verify.models import JobState, VerificationJob
from zhili.apps.verify.schedule_models import TrainedModel, VerificationSchedule
from zhili.audit.models import AuditEntry
from zhili.catalog.loading import load_file
from zhili.catalog.service import update_resource
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange import grants, table_reads
from zhili.exchange.models import Grant
from zhili.identity.users import set_active
from zhili.jobs.models import Job

DAY = dt.timedelta(days=1)


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_city(world, settings, tmp_path)


def _job(city, username="hrss.analyst", **kw):
    spec = job_service.JobSpec(**{"roster": PENSIONS, "references": (DEATHS,), "rules": RULES,
                                  **kw})  # fmt: skip
    with city.db.session() as s:
        job = job_service.create_job(s, city.actor(username), spec, home=city.home)
        s.expunge(job)
    return job


def _run(city, job_id: int) -> VerificationJob:
    with city.db.session() as s:
        job = s.get(VerificationJob, job_id)
        s.expunge(job)
    return runner.run_here(city.db, city.home, city.secret_key, job)


@pytest.fixture()
def source(city):
    """A finished job of HRSS: pensions × deaths."""
    job = _run(city, _job(city).id)
    assert job.state == JobState.done, job.error
    return job


def _schedule(city, job_id: int, username="hrss.analyst", **kw) -> VerificationSchedule:
    with city.db.session() as s:
        made = service.create_schedule(
            s, city.actor(username), service.ScheduleSpec(job_id=job_id, **kw)
        )
        s.expunge(made)
    return made


def _sweep(city, now=None) -> list[int]:
    with city.db.session() as s:
        return service.run_due(s, now=now, home=city.home)


def _get(city, schedule_id: int) -> VerificationSchedule:
    with city.db.session() as s:
        found = s.get(VerificationSchedule, schedule_id)
        s.expunge(found)
    return found


def _new_version(city, code=DEATHS, rows=None, name="deaths-v2.csv") -> None:
    rows = city.deaths if rows is None else rows
    path = write_csv(city.tmp / name, rows, [*PERSON, "death_date"])
    with city.db.session() as s:
        load_file(s, system_actor(), home=city.home, code=code, path=path, filename=name,
                  mode="replace")  # fmt: skip


# --- managing ------------------------------------------------------------------------------


def test_a_schedule_copies_the_job_and_is_audited(city, source) -> None:
    made = _schedule(city, source.id, every="1d", name="每日死亡比对")
    assert (made.roster_code, made.reference_codes) == (PENSIONS, [DEATHS])
    assert made.rules_text == source.rules_text and made.mode == "link"
    assert made.every_seconds == 86_400 and not made.on_new_version
    assert made.created_by == "hrss.analyst" and made.source_job_id == source.id
    assert utcnow() + DAY - dt.timedelta(minutes=1) < made.next_due_at <= utcnow() + DAY
    with city.db.session() as s:
        listed = service.list_schedules(s, city.actor("hrss.approver"))
        assert [x.id for x in listed] == [made.id]
        assert service.state_of(listed[0]) == "waiting"
        assert service.list_schedules(s, city.actor("edu.analyst")) == []
        with pytest.raises(NotFound):
            service.get_schedule(s, city.actor("edu.analyst"), made.id)
        acts = s.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "verify.schedule_create")).all()  # fmt: skip
    assert acts and acts[0]["schedule"] == made.id and acts[0]["every"] == "1d"


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({}, "verify.schedule_no_trigger"),
        ({"every": "30m"}, "verify.schedule_bad_every"),
        ({"every": "400d"}, "verify.schedule_bad_every"),
        ({"every": "daily"}, "verify.schedule_bad_every"),
    ],
)
def test_bad_schedules_are_refused(city, source, kw, code) -> None:
    with pytest.raises(InvalidInput) as caught:
        _schedule(city, source.id, **kw)
    assert caught.value.code == code


def test_who_may_schedule(city, source) -> None:
    with pytest.raises(Forbidden):  # approvers read jobs but do not run them
        _schedule(city, source.id, username="hrss.approver", every="1d")
    with pytest.raises(NotFound):  # another organization's job
        _schedule(city, source.id, username="edu.analyst", every="1d")
    with pytest.raises(NotFound):
        _schedule(city, 999_999, every="1d")


def test_an_uploaded_roster_cannot_be_scheduled(city) -> None:
    path = write_csv(city.tmp / "roster.csv", city.roster, [*PERSON, "monthly_pension"])
    job = _job(city, roster=None, roster_file=path, roster_filename="roster.csv")
    with pytest.raises(InvalidInput) as caught:
        _schedule(city, job.id, every="1d")
    assert caught.value.code == "verify.schedule_needs_resource"


def test_pause_resume_remove(city, source) -> None:
    made = _schedule(city, source.id, every="1h")
    analyst = city.actor("hrss.analyst")
    with city.db.session() as s:
        with pytest.raises(Forbidden):
            service.pause_schedule(s, city.actor("hrss.approver"), made.id)
        assert not service.pause_schedule(s, analyst, made.id).active
    later = made.next_due_at + dt.timedelta(hours=3)
    assert _sweep(city, later) == []  # paused: nothing starts, but it fell due
    with city.db.session() as s:
        service.resume_schedule(s, analyst, made.id)
    assert len(_sweep(city, later)) == 1  # one run, not three
    with city.db.session() as s:
        removed = service.remove_schedule(s, analyst, made.id)
        assert removed.removed_at is not None and service.state_of(removed) == "removed"
        assert service.list_schedules(s, analyst) == []
        with pytest.raises(Conflict):
            service.resume_schedule(s, analyst, made.id)
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"verify.schedule_pause", "verify.schedule_resume", "verify.schedule_remove"} <= actions
    assert _sweep(city, later + DAY) == []


def test_a_scenario_schedule_starts_the_scenario_again(
    world, settings, seeded_calendar, tmp_path
) -> None:
    from scenario_city import build_scenario_city

    from zhili.apps.verify import scenarios

    city = build_scenario_city(world, settings, tmp_path)
    with city.db.session() as s:
        actor = city.actor("hrss.analyst")
        chosen = scenarios.defaults(scenarios.candidates(s, actor, "pension"))
        roster = chosen.pop("roster")
        job = scenarios.start_scenario(
            s, actor, "pension", roster=roster, references=chosen, home=city.home
        )
        source = (job.id, job.family, job.slots)
    made = _schedule(city, source[0], every="1h")
    assert (made.scenario, made.slots, made.roster_code) == ("pension", source[2], roster)
    [rerun] = _sweep(city, made.next_due_at + dt.timedelta(minutes=1))
    with city.db.session() as s:
        job = s.get(VerificationJob, rerun)
        assert (job.scenario, job.slots, job.family) == ("pension", source[2], source[1])
        assert s.get(Job, job.job_id).params["schedule"] == made.id


# --- triggers ------------------------------------------------------------------------------


def test_an_interval_that_comes_due_starts_one_run(city, source) -> None:
    made = _schedule(city, source.id, every="1d")
    assert _sweep(city) == []  # not due yet
    later = made.next_due_at + dt.timedelta(minutes=1)
    started = _sweep(city, later)
    assert len(started) == 1
    assert _sweep(city, later) == []  # claimed: a second sweep (or process) starts nothing
    after = _get(city, made.id)
    assert after.last_job_id == started[0] and after.last_error is None
    assert after.next_due_at == later + DAY and after.last_run_at == later
    with city.db.session() as s:
        job = s.get(VerificationJob, started[0])
        assert (job.created_by, job.org.code, job.state) == ("hrss.analyst", "HRSS", "queued")
        assert job.family == source.family  # the same result resource, a new version
        assert s.get(Job, job.job_id).params == {"verification": job.id, "schedule": made.id}
    done = _run(city, started[0])
    assert done.state == JobState.done and done.result_version == source.result_version + 1


def test_no_new_run_while_the_previous_one_is_still_open(city, source) -> None:
    made = _schedule(city, source.id, every="1h")
    first_due = made.next_due_at + dt.timedelta(minutes=1)
    [first] = _sweep(city, first_due)
    overdue = first_due + dt.timedelta(hours=2)
    assert _sweep(city, overdue) == []  # the first is still queued
    with city.db.session() as s:
        assert service.state_of(s.get(VerificationSchedule, made.id), overdue) == "running"
    assert _run(city, first).state == JobState.done
    [second] = _sweep(city, overdue)  # it stayed due: it starts once the first ended
    assert second != first


def test_a_new_version_of_a_reference_starts_a_run(city, source) -> None:
    made = _schedule(city, source.id, on_new_version=True)
    assert made.next_due_at is None and _sweep(city, utcnow() + 30 * DAY) == []
    _new_version(city)
    due = _get(city, made.id)
    assert due.next_due_at is not None and due.due_reason.startswith(DEATHS)
    [started] = _sweep(city)
    assert _get(city, made.id).next_due_at is None  # waits for the next version
    with city.db.session() as s:
        creations = select(AuditEntry.detail).where(AuditEntry.action == "verify.create")
        detail = s.scalars(creations.order_by(AuditEntry.seq.desc())).first()
    assert detail["job"] == started and detail["schedule"] == made.id


def test_no_run_on_a_new_version_the_organization_may_not_read(city, source) -> None:
    made = _schedule(city, source.id, on_new_version=True)
    with city.db.session() as s:
        grant = s.get(Grant, city.grant_id)
        grants.change_state(s, city.actor("health.approver"), grant, "suspend", "核查")
    _new_version(city)
    assert _get(city, made.id).next_due_at is None
    assert _sweep(city) == []
    with city.db.session() as s:  # another organization reading the same register, no grant
        edu = city.actor("edu.analyst")
        s.add(VerificationSchedule(
            org_id=edu.org_id, created_by_id=edu.user_id, created_by="edu.analyst", name="x",
            mode="link", roster_code=PENSIONS, reference_codes=[DEATHS], rules_text=RULES,
            on_new_version=True, active=True,
        ))  # fmt: skip
    with city.db.session() as s:
        grant = s.get(Grant, city.grant_id)
        grants.change_state(s, city.actor("health.approver"), grant, "resume", "核查")
    _new_version(city, name="deaths-v3.csv")
    with city.db.session() as s:
        due = {x.created_by: x.next_due_at for x in s.scalars(select(VerificationSchedule))}
    assert due["hrss.analyst"] is not None and due["edu.analyst"] is None


def test_a_lost_grant_is_a_recorded_failure_and_the_sweep_goes_on(city, source) -> None:
    lost = _schedule(city, source.id, every="1h")
    own = _run(city, _job(city, references=(), mode="dedupe").id)  # reads only HRSS's roster
    fine = _schedule(city, own.id, every="1h")
    with city.db.session() as s:
        grant = s.get(Grant, city.grant_id)
        grants.change_state(s, city.actor("health.approver"), grant, "revoke", "停止共享")
    later = max(lost.next_due_at, fine.next_due_at) + dt.timedelta(minutes=1)
    started = _sweep(city, later)
    assert len(started) == 1 and _get(city, fine.id).last_job_id == started[0]
    failed = _get(city, lost.id)
    assert failed.last_error["code"] == "exchange.grant_revoked"
    assert failed.last_job_id is None and failed.next_due_at == later + dt.timedelta(hours=1)
    assert service.state_of(failed, later) == "failed"
    with city.db.session() as s:
        acts = s.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "verify.schedule_failed")).all()  # fmt: skip
        denied = s.scalars(select(AuditEntry.error_code).where(
            AuditEntry.outcome == "denied")).all()  # fmt: skip
    assert acts == [{"schedule": lost.id, "code": "exchange.grant_revoked", "trigger": "interval"}]
    assert "exchange.grant_revoked" in denied  # the door's own refusal, audited too


def test_a_disabled_creator_is_a_recorded_failure(city, source) -> None:
    made = _schedule(city, source.id, every="1h")
    with city.db.session() as s:
        set_active(s, system_actor(), "hrss.analyst", False)
    assert _sweep(city, made.next_due_at + dt.timedelta(minutes=1)) == []
    assert _get(city, made.id).last_error["code"] == "verify.schedule_owner_inactive"


# --- model reuse ---------------------------------------------------------------------------


def _matches(city, job: VerificationJob) -> set[tuple]:
    with city.db.session() as s:
        got = table_reads.read_table(
            s, city.actor("hrss.analyst"), home=city.home, code=job.result_code,
            columns=["left_id", "right_id", "tier", "match_probability"],
            version=job.result_version,
        ).table  # fmt: skip
    return {(r["left_id"], r["right_id"], r["tier"], round(r["match_probability"], 9))
            for r in got.to_pylist()}  # fmt: skip


def _training_seconds(job: VerificationJob) -> float:
    steps = job.summary["seconds"]["link"][DEATHS]
    return steps["train_u"] + steps["train_m"]


def test_a_rerun_reuses_the_model_and_retrains_after_a_schema_change(city, source) -> None:
    assert source.summary["references"][DEATHS]["model"] == "trained"
    with city.db.session() as s:
        kept = s.scalars(select(TrainedModel)).all()
        assert [(m.family, m.label, m.job_id) for m in kept] == [(source.family, DEATHS,
                                                                  source.id)]  # fmt: skip
    made = _schedule(city, source.id, every="1h")
    now = made.next_due_at + dt.timedelta(minutes=1)
    [again] = _sweep(city, now)
    reused = _run(city, again)
    entry = reused.summary["references"][DEATHS]
    assert entry["model"] == f"reused from job {source.id}"
    assert entry["m_source"] == source.summary["references"][DEATHS]["m_source"]
    assert entry["prior"] == source.summary["references"][DEATHS]["prior"]
    assert _matches(city, reused) == _matches(city, source)  # the same pairs, same scores
    assert _training_seconds(reused) < _training_seconds(source) / 3  # no u sampling, no EM
    link_seconds = [j.summary["seconds"]["link"][DEATHS]["total"] for j in (reused, source)]
    assert link_seconds[0] < link_seconds[1]

    # The register's birth dates become dates (a schema change): the next run retrains.
    fields = [dict(f, type="date") if f["name"] == "birth_date" else f
              for f in DEATH_SCHEMA["fields"]]  # fmt: skip
    with city.db.session() as s:
        schema = {**DEATH_SCHEMA, "fields": fields}
        update_resource(s, system_actor(), DEATHS, {"table_schema": schema})
    _new_version(city, name="deaths-dates.csv")
    [third] = _sweep(city, now + dt.timedelta(hours=2))
    retrained = _run(city, third)
    assert retrained.state == JobState.done, retrained.error
    assert retrained.summary["references"][DEATHS]["model"] == "trained"
    [fourth] = _sweep(city, now + dt.timedelta(hours=4))
    model = _run(city, fourth).summary["references"][DEATHS]["model"]
    assert model == f"reused from job {third}"
    with city.db.session() as s:
        assert len(s.scalars(select(TrainedModel)).all()) == 2  # one per fingerprint


def test_changed_rules_are_another_family_and_train(city, source) -> None:
    other = _run(city, _job(city, rules=RULES.replace("review: 0.5", "review: 0.6")).id)
    made = _schedule(city, other.id, every="1h")
    [again] = _sweep(city, made.next_due_at + dt.timedelta(minutes=1))
    done = _run(city, again)
    assert done.family == other.family != source.family
    assert done.summary["references"][DEATHS]["model"] == f"reused from job {other.id}"


def test_jobs_not_started_by_a_schedule_always_train(city, source) -> None:
    again = _run(city, _job(city).id)
    assert again.summary["references"][DEATHS]["model"] == "trained"


# --- command line --------------------------------------------------------------------------


def test_the_command_line(city, source) -> None:
    from typer.testing import CliRunner

    from zhili.cli.main import app

    def cli(*args: str):
        return CliRunner().invoke(app, ["verify", "schedule", *args])

    added = cli("add", str(source.id), "--user", "hrss.analyst", "--every", "1d",
                "--on-new-version", "--name", "每日")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "every 1d, on new versions" in added.output and "(waiting)" in added.output
    schedule_id = added.output.split()[1]
    listed = cli("list")
    assert listed.exit_code == 0 and "每日" in listed.output and PENSIONS in listed.output
    paused = cli("pause", schedule_id, "--user", "hrss.analyst")
    assert paused.exit_code == 0 and "(paused)" in paused.output
    assert "(waiting)" in cli("resume", schedule_id, "--user", "hrss.analyst").output
    refused = cli("pause", schedule_id, "--user", "edu.analyst")
    assert refused.exit_code == 2 and "verify.schedule_not_found" in refused.output
    bad = cli("add", str(source.id), "--user", "hrss.analyst", "--every", "5m")
    assert bad.exit_code == 2 and "verify.schedule_bad_every" in bad.output
    assert "(removed)" in cli("remove", schedule_id, "--user", "hrss.analyst").output
    assert "每日" not in cli("list").output and "每日" in cli("list", "--removed").output
