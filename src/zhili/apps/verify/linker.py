"""Link a roster (花名册) to a reference (比对库), or find the same person twice in one roster.

Two passes over the prepared records:

1. **Exact**: records whose valid, normalised ID numbers are equal (a join in DuckDB).
2. **Probabilistic**: Splink (Fellegi-Sunter) on *all* records, u estimated by random
   sampling, m by EM over the training blocking rules, pairs scored over the prediction
   blocking rules.

Splink runs on all records, not only those the exact pass left over, because (a) every
exact pair is scored too (an ID blocking rule is added), so its evidence shows whether
name and birth date agree and a shared number on two different-looking records goes to
review; (b) a record matched by ID can still match a second record (a duplicate in the
reference, or a third line without an ID in a dedupe); (c) removing the easy matches
would leave EM fewer matches to learn m from. When IDs are declared, the exact pass also
sets the prior (the probability that two random records match) from its own count.

A model trained before (`Trained`: Splink's saved settings with m and u) can be given
instead of training: u sampling and EM are skipped, the prior is still taken from this
run's exact pass, and the result says ``reused`` (the scheduled reruns of
`zhili.apps.verify.schedules` keep a family's model while its inputs keep their schema).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from zhili.apps.verify import model
from zhili.apps.verify.engines import ENGINES, backend
from zhili.apps.verify.evidence import ComparisonInfo, evidence_sql, exact_pairs_sql, ident
from zhili.apps.verify.prepare import PROBLEM_SCHEMA, Prepared, check_input, prepare
from zhili.apps.verify.spec import ID_FIELD, RuleSet
from zhili.errors import InvalidInput

__all__ = ["ENGINES", "STEPS", "LinkResult", "Trained", "dedupe", "link"]

#: The steps reported to ``progress(step, done, total)``.
STEPS = ("prepare", "exact", "train_u", "train_m", "predict", "evidence")
#: Splink's SQL table names of the inputs: the roster must sort first (Splink puts the
#: smaller name on the left) and neither may be "left" or "right" (STACK.md).
ROSTER_TABLE, REFERENCE_TABLE = "zhili_verify_a_roster", "zhili_verify_b_reference"
#: Bounds of the prior taken from the exact pass.
PRIOR_BOUNDS = (1e-9, 0.5)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LinkResult:
    """Matches with their evidence, and what the run saw and how long it took."""

    matches: pa.Table
    link_type: str
    records: dict[str, int]  # roster / reference → rows
    tiers: dict[str, int]  # auto / review → pairs
    passes: dict[str, int]  # exact / probabilistic → pairs
    id_problems: pa.Table  # rows whose ID number is unusable (see prepare.PROBLEM_SCHEMA)
    id_counts: dict[str, dict[str, int]]  # side → problem code → rows
    ids_converted: dict[str, int]  # side → 15-digit numbers made 18
    bad_dates: dict[str, dict[str, int]]  # side → field → unreadable dates
    prior: float  # probability that two random records match, as used
    m_source: str  # "ids" (pairs sharing an ID number) or "em"
    notes: list[str] = field(default_factory=list)  # what the training had to skip
    timings: dict[str, float] = field(default_factory=dict)  # step → seconds
    model: dict[str, Any] = field(default_factory=dict)  # the trained Splink settings
    reused: bool = False  # the model was given (`Trained`), not trained in this run


@dataclass(frozen=True)
class Trained:
    """A model trained by an earlier run: Splink's saved settings (``LinkResult.model``)
    and where its m came from (``LinkResult.m_source``)."""

    settings: dict[str, Any]
    m_source: str


def link(
    left: pa.Table,
    right: pa.Table,
    rules: RuleSet,
    *,
    engine: str = "duckdb",
    progress: Progress | None = None,
    trained: Trained | None = None,
) -> LinkResult:
    """Match every roster record (``left``) against the reference (``right``); with
    ``trained``, score with that model instead of training one.

    Bad input — an empty table, a column the rule set reads missing, a key missing or
    repeated — raises `InvalidInput` before any work starts.
    """
    _check_run(rules, engine, "link_only")
    check_input(left, rules, "left")
    check_input(right, rules, "right")
    tables = {"roster": left, "reference": right}
    return _run(tables, rules, "link_only", engine, progress, trained)


def dedupe(
    table: pa.Table,
    rules: RuleSet,
    *,
    engine: str = "duckdb",
    progress: Progress | None = None,
    trained: Trained | None = None,
) -> LinkResult:
    """Find records of one roster that are the same person (重复领取): pairs, smaller key
    first, with the same evidence and tiers as `link` (``trained``: as there)."""
    _check_run(rules, engine, "dedupe_only")
    check_input(table, rules, "left")
    return _run({"roster": table}, rules, "dedupe_only", engine, progress, trained)


def _check_run(rules: RuleSet, engine: str, link_type: str) -> None:
    if engine not in ENGINES:
        raise InvalidInput(
            "verify.unknown_engine",
            "Unknown engine {engine}; available: {available}.",
            engine=engine,
            available=", ".join(ENGINES),
        )
    if rules.link_type is not None and rules.link_type != link_type:
        raise InvalidInput(
            "verify.link_type_mismatch",
            "The rule set is for {declared}, not {wanted}.",
            declared=rules.link_type,
            wanted=link_type,
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """Splink's advice (log lines, warnings) is for notebooks; the caller reports."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


class _Steps:
    """Times each step and tells ``progress``."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self._start, 3)
        self._start = now
        if self.progress is not None:
            self.progress(step, STEPS.index(step) + 1, len(STEPS))


def _run(
    tables: dict[str, pa.Table],
    rules: RuleSet,
    link_type: str,
    engine: str,
    progress: Progress | None,
    trained: Trained | None = None,
) -> LinkResult:
    started = time.perf_counter()
    steps = _Steps(progress)
    notes: list[str] = []
    dedupe_run = link_type == "dedupe_only"
    sides = dict(zip(tables, ("left", "right"), strict=False))
    prepared = {
        name: prepare(table, rules, sides[name], check=False) for name, table in tables.items()
    }
    steps.done("prepare")
    with _quiet(), backend(engine) as db, _engine_errors():
        from splink import Linker

        names = {"roster": ROSTER_TABLE, "reference": REFERENCE_TABLE}
        frames = [db.register(p.table, names[name]) for name, p in prepared.items()]
        exact_table, prior, exact_count = None, None, 0
        if rules.id_number:
            exact_table = "zhili_verify_exact"
            left = frames[0].physical_name
            right = frames[-1].physical_name
            sql = exact_pairs_sql(left, right, ID_FIELD, dedupe=dedupe_run)
            db.create(exact_table, sql)
            exact_count = db.arrow(f"SELECT count(*) AS n FROM {exact_table}").column(0)[0].as_py()
            prior = _prior_from_exact(exact_count, prepared, dedupe_run)
        steps.done("exact")

        settings = (
            model.settings(rules, link_type=link_type, prior=prior, engine=engine)
            if trained is None
            else _reused(trained, rules, prior)
        )
        linker = Linker(frames if len(frames) > 1 else frames[0], settings, log_level=None)
        if trained is None:
            m_source = _train(linker, rules, exact_count, steps, notes)
        else:  # m and u as trained before: nothing to estimate
            m_source = trained.m_source
            steps.done("train_u")
            steps.done("train_m")
        predictions = linker.inference.predict(
            threshold_match_probability=rules.thresholds.review, warning_mode="never"
        )
        scored = predictions.physical_name
        if exact_table:
            scored = _with_exact_pairs(db, linker, frames, predictions, rules.thresholds.review)
        steps.done("predict")
        infos = _comparison_infos(linker, rules, set(predictions.columns_escaped))
        sql = evidence_sql(
            scored,
            infos,
            auto=rules.thresholds.auto,
            review=rules.thresholds.review,
            exact=exact_table,
            id_comparison=ID_FIELD if rules.id_number else None,
            dedupe=dedupe_run,
        )
        matches = db.arrow(sql)
        saved = linker.misc.save_model_to_json()
        used_prior = float(saved["probability_two_random_records_match"])
    steps.done("evidence")
    steps.timings["total"] = round(time.perf_counter() - started, 3)
    return _result(
        matches,
        link_type,
        tables,
        prepared,
        (used_prior, m_source, notes),
        steps.timings,
        saved,
        reused=trained is not None,
    )


def _train(linker: Any, rules: RuleSet, exact_count: int, steps: _Steps, notes: list[str]) -> str:
    """u by random sampling, then m from the pairs sharing an ID number or by EM; where m
    came from (``ids`` or ``em``)."""
    training = rules.training
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.seed
    )
    steps.done("train_u")
    m_source = _m_source(rules, exact_count)
    if m_source == "ids":
        linker.training.estimate_m_from_label_column(ID_FIELD)
    else:
        notes += _train_m_by_em(linker, training.em_blocking or rules.blocking)
    steps.done("train_m")
    return m_source


def _reused(trained: Trained, rules: RuleSet, prior: float | None) -> dict[str, Any]:
    """The earlier model's settings, with this run's prior from the exact pass (the data
    changed; m and u did not) unless the rule set fixes the prior itself."""
    settings = dict(trained.settings)
    if prior is not None and rules.training.probability_two_random_records_match is None:
        settings["probability_two_random_records_match"] = prior
    return settings


#: The table of scored pairs the evidence is read from when ID numbers are declared.
SCORED_TABLE = "zhili_verify_scored"


def _with_exact_pairs(
    db: Any, linker: Any, frames: list[Any], predictions: Any, review: float
) -> str:
    """The scored pairs at or above ``review``, and every exact pair below it too.

    An exact pair must reach the evidence whatever its score, but scoring and keeping
    *every* blocked pair for that (``threshold=None``) holds tens of millions of rows for a
    million records a side. So the trained model scores the exact pairs once more, alone
    (blocking on the ID number only), and those under the threshold join the rest.
    """
    from splink import Linker

    settings = linker.misc.save_model_to_json()
    settings["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": f"l.{ID_FIELD} = r.{ID_FIELD}", "sql_dialect": settings["sql_dialect"]}
    ]
    exact_linker = Linker(frames if len(frames) > 1 else frames[0], settings, log_level=None)
    exact = exact_linker.inference.predict(warning_mode="never")
    # The same comparisons, so the same evidence columns; only what blocking kept differs.
    names = [c.unquote().name for c in predictions.columns]
    common = {c.unquote().name for c in exact.columns}
    columns = ", ".join(ident(name) for name in names if name in common)
    db.create(
        SCORED_TABLE,
        f"SELECT {columns} FROM {predictions.physical_name} UNION ALL "
        f"SELECT {columns} FROM {exact.physical_name} WHERE match_probability < {review!r}",
    )
    return SCORED_TABLE


def _train_m_by_em(linker: Any, rules: Sequence[str]) -> list[str]:
    """EM over each training rule; a rule that yields no pairs (a small roster) is skipped
    with a note rather than failing the run: its m values stay at the defaults."""
    from splink.internals.exceptions import EMTrainingException

    notes = []
    for rule in rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except EMTrainingException:
            notes.append(f"EM skipped: no record pairs with {rule}; its m values are defaults")
    return notes


@contextmanager
def _engine_errors() -> Iterator[None]:
    """A failure inside Splink or DuckDB (a blocking rule comparing a text with a number,
    memory exhausted) as one `InvalidInput` naming the problem, not a traceback."""
    from splink.internals.exceptions import SplinkException

    failures: tuple[type[BaseException], ...] = (SplinkException, duckdb.Error)
    try:
        from pyspark.errors import PySparkException

        failures = (*failures, PySparkException)
    except ImportError:  # Spark is optional
        pass
    try:
        yield
    except failures as exc:
        # Splink's message starts with the whole SQL; the database's own error is the cause.
        cause = exc.__cause__ if isinstance(exc.__cause__, duckdb.Error) else exc
        problem = " ".join(str(cause).split("Error was:")[-1].split())[:500]
        raise InvalidInput(
            "verify.engine_failed", "The linking engine failed: {problem}", problem=problem
        ) from exc


def _m_source(rules: RuleSet, exact_count: int) -> str:
    """``ids`` when m is to be learnt from the pairs sharing an ID number, else ``em``."""
    m_from = rules.training.m_from
    if m_from == "auto":
        enough = rules.id_number is not None and exact_count >= rules.training.min_id_pairs
        return "ids" if enough else "em"
    return "ids" if m_from == "ids" and rules.id_number is not None else "em"


def _prior_from_exact(found: int, prepared: dict[str, Prepared], dedupe_run: bool) -> float | None:
    """Pairs sharing an ID ÷ pairs that could: the match rate among records with IDs,
    taken as the rate among all (None when no pair shares an ID)."""
    if not found:
        return None
    with_ids = [len(p.table) - p.table.column(ID_FIELD).null_count for p in prepared.values()]
    pairs = with_ids[0] * (with_ids[0] - 1) / 2 if dedupe_run else with_ids[0] * with_ids[-1]
    low, high = PRIOR_BOUNDS
    return min(max(found / pairs, low), high) if pairs else None


def _comparison_infos(linker: Any, rules: RuleSet, columns: set[str]) -> list[ComparisonInfo]:
    """Labels of each comparison's levels, read from the trained Splink model."""
    reads = {c.field: (c.field,) for c in rules.comparisons}
    reads[ID_FIELD] = (ID_FIELD,)
    out = []
    for comparison in linker._settings_obj.comparisons:
        name = comparison.output_column_name
        labels = {
            level.comparison_vector_value: level.label_for_charts
            for level in comparison.comparison_levels
        }
        out.append(
            ComparisonInfo(
                name=name,
                labels=labels,
                columns=reads.get(name, ()),
                has_tf=f"mw_tf_adj_{name}" in columns,
            )
        )
    return out


def _counts(column: pa.ChunkedArray, keys: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    for item in pc.value_counts(column).to_pylist():
        counts[item["values"]] = item["counts"]
    return counts


def _result(
    matches: pa.Table,
    link_type: str,
    tables: dict[str, pa.Table],
    prepared: dict[str, Prepared],
    model_source: tuple[float, str, list[str]],
    timings: dict[str, float],
    trained: dict[str, Any],
    *,
    reused: bool,
) -> LinkResult:
    problems = [p.id_problems for p in prepared.values()]
    return LinkResult(
        matches=matches,
        link_type=link_type,
        records={name: t.num_rows for name, t in tables.items()},
        tiers=_counts(matches.column("tier"), ("auto", "review")),
        passes=_counts(matches.column("pass"), ("exact", "probabilistic")),
        id_problems=pa.concat_tables(problems) if problems else PROBLEM_SCHEMA.empty_table(),
        id_counts={name: p.id_counts for name, p in prepared.items()},
        ids_converted={name: p.ids_converted for name, p in prepared.items()},
        bad_dates={name: p.bad_dates for name, p in prepared.items()},
        prior=model_source[0],
        m_source=model_source[1],
        notes=model_source[2],
        timings=timings,
        model=trained,
        reused=reused,
    )
