"""Running a verification job in the background (`zhili.jobs` kind ``verify.run``).

Steps, each reported as progress and each followed by a look at whether the job was
cancelled: read the roster and every reference through the one door
(`zhili.exchange.table_reads.read_table`: the grant's items, rows and masks, metered, audited as
``exchange.verify_read``) — the app never reads the lake itself; link the roster to each
reference (or dedupe it) with `zhili.apps.verify.linker`; write the matches as one new
version of the job family's result resource, with the review items (review-tier pairs;
in a scenario job also the people an automatic finding would act on, `items`) and the
summary, in one transaction whose lake commit is atomic. Until that last step
nothing is written, so a job that fails or is cancelled midway leaves no result version.

A run started by a schedule (`zhili.apps.verify.schedules`) scores with the family's
model kept from an earlier run (`zhili.apps.verify.trained`) when the rule set and the
inputs' columns are unchanged, instead of training one; every run that trains keeps its
model for the next. The summary says which, per reference (``model``).

A reference whose grant masks the ID number cannot take part in the exact pass (a masked
number equals nothing, or worse, another masked number): its ID numbers are treated as
missing for that run, the probabilistic pass still compares names and birth dates, and the
summary says so (``exact_pass: false``, ``masked``). Nothing is ever unmasked.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import update

from zhili.access import Actor
from zhili.apps.verify import trained as trained_models
from zhili.apps.verify.files import read_table as read_file
from zhili.apps.verify.inputs import READ_ACTION, side_columns
from zhili.apps.verify.items import Side, build_items
from zhili.apps.verify.jobs import KIND, LINK_TYPES, job_dir, resolve_rules
from zhili.apps.verify.linker import STEPS, LinkResult, Trained, dedupe, link
from zhili.apps.verify.models import OPEN_STATES, JobState, Mode, ReviewItem, VerificationJob
from zhili.apps.verify.results import ensure_resource, result_table, write_version
from zhili.apps.verify.scenarios.outcomes import Plan, plan_of
from zhili.apps.verify.spec import RuleSet
from zhili.clock import utcnow
from zhili.db import Database
from zhili.errors import Conflict
from zhili.exchange import table_reads
from zhili.jobs import JobContext, register
from zhili.jobs.runner import problem_of, run_inline

__all__ = ["run_here", "run_job"]

#: The label of the roster's own run in a dedupe (the ``reference`` of its pairs).
ROSTER = "roster"


class _Cancelled(Exception):
    """Someone cancelled the job; it stops at the step it reached."""


@dataclasses.dataclass
class _Input:
    """One input as read: its label (a resource code), the rows, the items that came
    masked."""

    label: str
    table: pa.Table
    masked: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Job:
    """What the run needs of the job row (read once, then no session is held)."""

    id: int
    mode: str
    roster_code: str | None
    roster_file: str | None
    references: tuple[str, ...]
    rules_name: str
    rules: RuleSet
    money: str | None
    system: str | None
    family: str
    rules_text: str
    schedule: int | None  # the schedule that started it: reuse the family's models
    plan: Plan | None = None  # a scenario job's scenario and slots


@dataclasses.dataclass(frozen=True)
class _Model:
    """The model one run (a reference, or the roster in a dedupe) scored with: its
    fingerprint, and the job that trained it when reused (None: trained now)."""

    key: str
    reused_from: int | None


class _Run:
    """One run of one job: its steps, its progress and its state (see the module)."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.db: Database = ctx.db
        self.id: int = ctx.params["verification"]
        self.done = 0
        self.total = 0
        self.seconds: dict[str, Any] = {}
        self.actor: Actor = ctx.actor
        self.models: dict[str, _Model] = {}
        #: a scenario job's automatic pairs that call for an action (`Plan.acting`)
        self.acting: pa.Table | None = None

    # --- state --------------------------------------------------------------------------

    def start(self) -> _Job:
        with self.db.session() as session:
            moved = session.execute(
                update(VerificationJob)
                .where(VerificationJob.id == self.id, VerificationJob.state == JobState.queued)
                .values(state=JobState.running, started_at=utcnow())
            ).rowcount
            job = session.get(VerificationJob, self.id)
            assert job is not None
            if not moved:
                raise _Cancelled
            _, _, rules = resolve_rules(job.rules_text)
            spec = _Job(
                job.id, job.mode, job.roster_code, job.roster_file, tuple(job.reference_codes),
                job.rules_name, rules, job.money_column, job.system, job.family,
                job.rules_text, self.ctx.params.get("schedule"),
            )  # fmt: skip
            spec = dataclasses.replace(spec, plan=plan_of(job, self.ctx.home))
        self.actor = dataclasses.replace(self.ctx.actor, system=spec.system)
        runs = 1 if spec.mode == Mode.dedupe else len(spec.references)
        self.total = 1 + len(spec.references) + runs * len(STEPS) + 1
        return spec

    def check(self) -> None:
        with self.db.session() as session:
            job = session.get(VerificationJob, self.id)
            if job is None or job.state != JobState.running:
                raise _Cancelled

    def step(self, phase: str) -> None:
        self.done += 1
        self.ctx.progress(self.done, self.total, phase[:32])
        self.check()

    def fail(self, exc: BaseException) -> None:
        with self.db.session() as session:
            session.execute(
                update(VerificationJob)
                .where(VerificationJob.id == self.id, VerificationJob.state.in_(list(OPEN_STATES)))
                .values(state=JobState.failed, error=problem_of(exc), finished_at=utcnow())
            )

    # --- the run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            spec = self.start()
            roster, references = self.read(spec)
            results = self.link(spec, roster, references)
            matches = result_table([(label, r.matches) for label, r in results])
            summary = summary_of(spec, roster, references, results, matches)
            if spec.plan is not None:  # each match's outcome; people and money per outcome
                tables = {r.label: r.table for r in references}
                matches, found, self.acting = spec.plan.apply(
                    spec.rules, roster.table, tables, matches
                )
                summary.update(found)
            for label, used in self.models.items():
                origin = used.reused_from
                summary["references"][label]["model"] = (
                    "trained" if origin is None else f"reused from job {origin}"
                )
            return self.write(spec, roster, references, results, matches, summary, started)
        except _Cancelled:
            raise Conflict(
                "verify.cancelled", "verification job {id} was cancelled", id=self.id
            ) from None
        except BaseException as exc:
            self.fail(exc)
            raise
        finally:
            shutil.rmtree(job_dir(self.ctx.home, self.id) / "staging", ignore_errors=True)

    def read(self, spec: _Job) -> tuple[_Input, list[_Input]]:
        begin = time.perf_counter()
        columns = side_columns(spec.rules, "left")
        if spec.money and spec.money not in columns:
            columns = (*columns, spec.money)
        if spec.roster_code is not None:
            roster = self._read(spec.roster_code, columns)
        else:
            assert spec.roster_file is not None
            path = job_dir(self.ctx.home, spec.id) / spec.roster_file
            roster = _Input(ROSTER, read_file(path).select(list(columns)))
        self.step("read roster")
        references = []
        for code in spec.references:
            extra = spec.plan.columns(code) if spec.plan is not None else ()
            columns = tuple(dict.fromkeys([*side_columns(spec.rules, "right"), *extra]))
            references.append(self._read(code, columns))
            self.step("read reference")
        self.seconds["read"] = round(time.perf_counter() - begin, 3)
        return roster, references

    def _read(self, code: str, columns: tuple[str, ...]) -> _Input:
        with self.db.session() as session:
            got = table_reads.read_table(
                session, self.actor, home=self.ctx.home, code=code, columns=columns,
                action=READ_ACTION,
            )  # fmt: skip
        return _Input(code, got.table, got.masked)

    def link(
        self, spec: _Job, roster: _Input, references: list[_Input]
    ) -> list[tuple[str, LinkResult]]:
        out = []
        if spec.mode == Mode.dedupe:
            rules, table, _ = _unmasked(spec.rules, roster, None)
            label = spec.roster_code or ROSTER
            model = self._model(spec, label, [(table, roster)])
            out.append((label, dedupe(table, rules, progress=self._on(""), trained=model)))
        for n, ref in enumerate(references, 1):
            rules, left, right = _unmasked(spec.rules, roster, ref)
            prefix = f"{n}/{len(references)} " if len(references) > 1 else ""
            model = self._model(spec, ref.label, [(left, roster), (right, ref)])
            out.append(
                (ref.label, link(left, right, rules, progress=self._on(prefix), trained=model))
            )
        self.seconds["link"] = {label: r.timings for label, r in out}
        return out

    def _model(
        self, spec: _Job, label: str, inputs: list[tuple[pa.Table, _Input]]
    ) -> Trained | None:
        """The family's kept model for this run when a schedule started the job and the
        fingerprint matches (else None: train); noted either way for `write`."""
        key = trained_models.fingerprint(
            spec.rules_text,
            LINK_TYPES[Mode(spec.mode)],
            "duckdb",
            [
                (table.schema, side_columns(spec.rules, side), data.masked)
                for (table, data), side in zip(inputs, ("left", "right"), strict=False)
            ],
        )
        found = None
        if spec.schedule is not None:
            with self.db.session() as session:
                found = trained_models.find(session, spec.family, label, key)
        self.models[label] = _Model(key, found[1] if found else None)
        return found[0] if found else None

    def _on(self, prefix: str) -> Callable[[str, int, int], None]:
        return lambda step, _done, _total: self.step(prefix + step)

    def write(
        self,
        spec: _Job,
        roster: _Input,
        references: list[_Input],
        results: list[tuple[str, LinkResult]],
        matches: pa.Table,
        summary: dict[str, Any],
        started: float,
    ) -> dict[str, Any]:
        """The result version, the review items and the summary, together. A run that
        found no pairs writes no version (the lake holds no empty versions): its result is
        null and its summary says 0 pairs."""
        self.check()
        begin = time.perf_counter()
        code = None
        if matches.num_rows:
            code = ensure_resource(self.db, self.actor, self.id, matches.schema)
        items = review_items(spec, roster, references, matches, self.acting)
        summary["review_items"] = len(items)
        summary["action_items"] = sum(1 for i in items if i.tier == "auto")
        with self.db.session() as session:
            # Done first, guarded: a cancel that came before wins; one that comes now waits
            # for this transaction and then finds the job done.
            moved = session.execute(
                update(VerificationJob)
                .where(VerificationJob.id == self.id, VerificationJob.state == JobState.running)
                .values(state=JobState.done)
            ).rowcount
            if not moved:
                raise _Cancelled
            version = None
            if code is not None:
                version = write_version(
                    session, self.actor, home=self.ctx.home, code=code, table=matches,
                    folder=job_dir(self.ctx.home, self.id) / "staging",
                ).version  # fmt: skip
            for item in items:
                item.job_id = self.id
            session.add_all(items)
            for label, result in results:
                if not result.reused:
                    trained_models.keep(
                        session, family=spec.family, label=label, key=self.models[label].key,
                        result=result, job_id=self.id,
                    )  # fmt: skip
            self.seconds["write"] = round(time.perf_counter() - begin, 3)
            self.seconds["total"] = round(time.perf_counter() - started, 3)
            summary["seconds"] = self.seconds
            job = session.get(VerificationJob, self.id)
            assert job is not None
            job.result_code, job.result_version = code, version
            job.summary, job.finished_at = summary, utcnow()
        self.done = self.total
        self.ctx.progress(self.done, self.total, "done")
        return {
            "verification": self.id,
            "result_code": code,
            "result_version": version,
            "tiers": summary["tiers"],
        }


def _unmasked(
    rules: RuleSet, roster: _Input, reference: _Input | None
) -> tuple[RuleSet, pa.Table, pa.Table | None]:
    """The rule set and inputs of one run, a masked ID number treated as missing (the
    exact pass cannot use it; never unmasked) and m then learnt by EM."""
    left, left_masked = _drop_masked_ids(rules, roster, "left")
    right, right_masked = (None, False)
    if reference is not None:
        right, right_masked = _drop_masked_ids(rules, reference, "right")
    if (left_masked or right_masked) and rules.training.m_from == "ids":
        rules = dataclasses.replace(
            rules, training=dataclasses.replace(rules.training, m_from="em")
        )
    return rules, left, right


def _drop_masked_ids(rules: RuleSet, data: _Input, side: str) -> tuple[pa.Table, bool]:
    if rules.id_number is None:
        return data.table, False
    column = rules.id_number.left if side == "left" else rules.id_number.right
    if column not in data.masked:
        return data.table, False
    index = data.table.schema.get_field_index(column)
    return data.table.set_column(index, column, pa.nulls(data.table.num_rows, pa.string())), True


def _id_masked(rules: RuleSet, data: _Input, side: str) -> bool:
    if rules.id_number is None:
        return False
    return (rules.id_number.left if side == "left" else rules.id_number.right) in data.masked


def summary_of(
    spec: _Job,
    roster: _Input,
    references: list[_Input],
    results: list[tuple[str, LinkResult]],
    matches: pa.Table,
) -> dict[str, Any]:
    """Counts per tier and pass (in all, and per reference), ID-number problems, what was
    masked, and the money over the roster records matched automatically."""
    tiers = {"auto": 0, "review": 0}
    passes = {"exact": 0, "probabilistic": 0}
    per_reference: dict[str, Any] = {}
    problems: dict[str, dict[str, int]] = {}
    by_label = {r.label: r for r in references}
    for label, result in results:
        for k, v in result.tiers.items():
            tiers[k] = tiers.get(k, 0) + v
        for k, v in result.passes.items():
            passes[k] = passes.get(k, 0) + v
        ref = by_label.get(label)
        masked_id = _id_masked(spec.rules, roster, "left") or (
            ref is not None and _id_masked(spec.rules, ref, "right")
        )
        per_reference[label] = {
            "records": result.records.get("reference", result.records.get("roster")),
            "tiers": result.tiers,
            "passes": result.passes,
            "exact_pass": spec.rules.id_number is not None and not masked_id,
            "masked": list(ref.masked) if ref is not None else list(roster.masked),
            "prior": result.prior,
            "m_source": result.m_source,
            "notes": result.notes,
            "ids_converted": result.ids_converted,
        }
        problems.setdefault("roster", result.id_counts.get("roster", {}))
        if "reference" in result.id_counts:
            problems[label] = result.id_counts["reference"]
    return {
        "mode": spec.mode,
        "rules": spec.rules_name or spec.rules.name,
        "records": {"roster": roster.table.num_rows,
                    "references": {r.label: r.table.num_rows for r in references}},
        "tiers": tiers,
        "passes": passes,
        "references": per_reference,
        "id_problems": problems,
        "masked": {i.label: list(i.masked) for i in [roster, *references] if i.masked},
        "money": _money(spec, roster, matches),
        "review_items": tiers.get("review", 0),
    }  # fmt: skip


def _money(spec: _Job, roster: _Input, matches: pa.Table) -> dict[str, Any] | None:
    """The money over distinct roster records in the auto tier: those matched to a
    reference (link), or the second record of a duplicate pair (dedupe)."""
    if spec.money is None:
        return None
    side = "right_id" if spec.mode == Mode.dedupe else "left_id"
    auto = matches.filter(pc.equal(matches.column("tier"), "auto"))
    ids = pc.unique(auto.column(side).combine_chunks())
    keys = roster.table.column(spec.rules.unique_id.left).cast(pa.string())
    hit = roster.table.filter(pc.is_in(keys, value_set=ids))
    amounts = hit.column(spec.money).cast(pa.float64())
    total = pc.sum(amounts).as_py() or 0.0
    return {"column": spec.money, "records": hit.num_rows, "total": round(total, 2)}


def review_items(
    spec: _Job,
    roster: _Input,
    references: list[_Input],
    matches: pa.Table,
    acting: pa.Table | None = None,
) -> list[ReviewItem]:
    """The run's review items (`zhili.apps.verify.items`): its review-tier pairs and, in a
    scenario job, one action item per person an automatic finding would act on."""
    actions = None
    if spec.plan is not None:
        actions = {o.name: o.action for o in spec.plan.scenario.outcomes}
    return build_items(
        matches,
        Side(roster.label, roster.table),
        [Side(r.label, r.table) for r in references],
        (spec.rules.unique_id.left, spec.rules.unique_id.right),
        dedupe=spec.mode == Mode.dedupe,
        actions=actions,
        acting=acting,
    )


@register(KIND)
def run_job(ctx: JobContext) -> dict[str, Any]:
    """The handler of ``verify.run``: see the module docstring."""
    return _Run(ctx).run()


def run_here(
    db: Database,
    home: Path,
    secret_key: str,
    job: VerificationJob,
    *,
    on_progress: Callable[[int, int | None, str | None], None] | None = None,
) -> VerificationJob:
    """Run a queued job in this process (the command line, tests); the finished job."""
    assert job.job_id is not None
    run_inline(db, home, secret_key, job.job_id, on_progress=on_progress)
    with db.session() as session:
        done = session.get(VerificationJob, job.id)
        assert done is not None
        session.expunge(done)
        return done
