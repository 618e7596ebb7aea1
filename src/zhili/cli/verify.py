"""`zhili verify …`: ad-hoc verification (比对核验) of files with a rule set — link a roster
(花名册) to a reference (比对库), or find the same person twice in one roster (重复领取).

Thin: read the files, call `zhili.apps.verify.linker`, write the matches with their
evidence, print a summary. Bad input is refused in one line (exit 2) before any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from zhili.cli.common import console, friendly, progress
from zhili.cli.verify_schedules import schedule_app

if TYPE_CHECKING:
    from zhili.apps.verify.linker import LinkResult
    from zhili.apps.verify.models import VerificationJob
    from zhili.db import Database
    from zhili.settings import Settings

verify_app = typer.Typer(
    help="比对核验: link two rosters, or find duplicates in one, by ID number and name.",
    no_args_is_help=True,
)
RulesOption = Annotated[
    str,
    typer.Option("--rules", help="Rule-set file (YAML/JSON), or a shipped one: febrl, person_zh."),
]
OutOption = Annotated[Path, typer.Option("--out", help="Matches file (.csv or .parquet).")]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv or parquet (default: from --out).")
]
ProblemsOption = Annotated[
    Path | None,
    typer.Option("--problems", help="Also write the records whose ID number is unusable."),
]
EngineOption = Annotated[str, typer.Option(help="Engine: duckdb (default) or spark.")]
verify_app.add_typer(schedule_app, name="schedule")


def _run(inputs: list[Path], rules_path: str, out: Path, fmt: str | None, engine: str,
         problems: Path | None) -> None:  # fmt: skip
    from zhili.apps.verify.files import output_format, read_table, write_table
    from zhili.apps.verify.linker import STEPS, dedupe, link
    from zhili.apps.verify.rules import load_rules

    rules = load_rules(rules_path)
    fmt = output_format(out, fmt)
    tables = [read_table(p) for p in inputs]
    with progress(transient=True) as bar:
        task = bar.add_task("verify", total=len(STEPS))

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, description=step)

        if len(tables) == 2:
            result = link(tables[0], tables[1], rules, engine=engine, progress=advance)
        else:
            result = dedupe(tables[0], rules, engine=engine, progress=advance)
    write_table(result.matches, out, fmt)
    if problems is not None:
        write_table(result.id_problems, problems, output_format(problems, fmt))
    _summary(result, out)


def _summary(result: LinkResult, out: Path) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for side, n in result.records.items():
        table.add_row(f"records ({side})", f"{n:,}")
    for tier, n in result.tiers.items():
        table.add_row(f"pairs {tier}", f"{n:,}")
    for kind, n in result.passes.items():
        table.add_row(f"pairs {kind}", f"{n:,}")
    for side, counts in result.id_counts.items():
        for code, n in sorted(counts.items()):
            table.add_row(f"ID numbers {code} ({side})", f"{n:,}")
    for side, n in result.ids_converted.items():
        if n:
            table.add_row(f"ID numbers 15→18 digits ({side})", f"{n:,}")
    for side, fields in result.bad_dates.items():
        for name, n in fields.items():
            if n:
                table.add_row(f"unreadable {name} ({side})", f"{n:,}")
    table.add_row("model", f"m from {result.m_source}, prior {result.prior:.3g}")
    table.add_row("seconds", f"{result.timings.get('total', 0):.1f}")
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note[/] {note}")
    console.print(f"{result.matches.num_rows:,} matches with evidence → {out}")


@verify_app.command("link")
@friendly
def link_files(
    left: Annotated[Path, typer.Argument(help="The roster (花名册).")],
    right: Annotated[Path, typer.Argument(help="The reference (比对库).")],
    rules: RulesOption,
    out: OutOption,
    format: FormatOption = None,
    problems: ProblemsOption = None,
    engine: EngineOption = "duckdb",
) -> None:
    """Link LEFT to RIGHT with a rule set; write the matches (auto and 待复核) with evidence."""
    _run([left, right], rules, out, format, engine, problems)


@verify_app.command("dedupe")
@friendly
def dedupe_file(
    file: Annotated[Path, typer.Argument(help="The roster to search for duplicates.")],
    rules: RulesOption,
    out: OutOption,
    format: FormatOption = None,
    problems: ProblemsOption = None,
    engine: EngineOption = "duckdb",
) -> None:
    """Find the same person twice in FILE (重复领取); write the pairs with evidence."""
    _run([file], rules, out, format, engine, problems)


@verify_app.command("run")
@friendly
def run_job(
    roster: Annotated[str, typer.Option("--roster", help="The roster's resource code (花名册).")],
    rules: RulesOption,
    user: Annotated[
        str, typer.Option("--user", help="Run as this user: their organization's grants apply.")
    ],
    reference: Annotated[
        list[str] | None,
        typer.Option("--reference", help="A reference's resource code (比对库); repeatable."),
    ] = None,
    mode: Annotated[str, typer.Option(help="link, or dedupe (the roster alone).")] = "link",
    money: Annotated[
        str | None, typer.Option("--money", help="A numeric roster column to total.")
    ] = None,
) -> None:
    """Run a verification job on lake resources now, in this process: read through the
    exchange's door as USER, write the result as a new version of a catalog resource."""
    from zhili.apps.verify.jobs import JobSpec, create_job
    from zhili.cli.common import database, settings
    from zhili.identity.auth import actor_for
    from zhili.identity.users import get_user

    conf, db = settings(), database()
    text = Path(rules).read_text(encoding="utf-8") if Path(rules).is_file() else rules
    spec = JobSpec(roster=roster, references=tuple(reference or ()), rules=text, mode=mode,
                   money_column=money)  # fmt: skip
    with db.session() as session:
        job = create_job(session, actor_for(get_user(session, user)), spec, home=conf.home)
    job = _run_with_progress(db, conf, job)
    _job_summary(job.id, job.state, job.result_code, job.result_version, job.summary or {})


def _run_with_progress(db: Database, conf: Settings, job: VerificationJob) -> VerificationJob:
    """Run a queued job here with a progress bar; its error raised as the CLI shows one."""
    from zhili.apps.verify.run import run_here
    from zhili.errors import ZhiliError

    with progress(transient=True) as bar:
        task = bar.add_task("verify", total=None)

        def advance(done: int, total: int | None, phase: str | None) -> None:
            bar.update(task, completed=done, total=total, description=phase or "verify")

        job = run_here(db, conf.home, conf.secret_key, job, on_progress=advance)
    db.dispose()
    if job.error is not None:
        error = job.error
        raise ZhiliError(error["code"], error.get("fallback"), **error.get("params", {}))
    return job


def _job_summary(
    job_id: int, state: str, code: str | None, version: int | None, summary: dict
) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("job", f"{job_id} ({state})")
    table.add_row("records (roster)", f"{summary.get('records', {}).get('roster', 0):,}")
    for ref, n in summary.get("records", {}).get("references", {}).items():
        table.add_row(f"records ({ref})", f"{n:,}")
    for tier, n in summary.get("tiers", {}).items():
        table.add_row(f"pairs {tier}", f"{n:,}")
    for kind, n in summary.get("passes", {}).items():
        table.add_row(f"pairs {kind}", f"{n:,}")
    for side, counts in summary.get("id_problems", {}).items():
        for problem, n in sorted(counts.items()):
            table.add_row(f"ID numbers {problem} ({side})", f"{n:,}")
    if summary.get("money"):
        m = summary["money"]
        table.add_row(f"{m['column']} (auto, {m['records']:,} records)", f"{m['total']:,.2f}")
    table.add_row("seconds", f"{summary.get('seconds', {}).get('total', 0):.1f}")
    console.print(table)
    for ref, run in summary.get("references", {}).items():
        if run.get("masked"):
            skipped = "" if run.get("exact_pass") else "; exact pass skipped"
            console.print(f"[yellow]note[/] {ref}: masked {', '.join(run['masked'])}{skipped}")
        for note in run.get("notes", []):
            console.print(f"[yellow]note[/] {ref}: {note}")
    console.print(f"result → resource {code} version {version}")


# --- scenario templates -----------------------------------------------------------------


@verify_app.command("scenarios")
@friendly
def list_scenarios() -> None:
    """List the scenario templates (核验场景): their slots, outcomes and actions."""
    from zhili.apps.verify.scenarios import list_scenarios as scenarios
    from zhili.apps.verify.scenarios import scenario_problems
    from zhili.cli.common import settings

    home = settings().home
    for s in scenarios(home):
        console.print(f"[bold]{s.name}[/]  {s.title.get('zh-CN')}  {s.title.get('en')}")
        roster = s.roster
        money = f", money {roster.money}" if roster.money else ""
        console.print(
            f"  roster: {roster.title.get('zh-CN')} (hint {' / '.join(roster.hint)}{money})"
        )
        for slot in s.references:
            finds = slot.finds
            assert finds is not None
            if finds.by is not None:
                mapped = ", ".join(f"{v}→{o}" for v, o in finds.values)
                meaning = f"{finds.by}: {mapped}" + (
                    f", otherwise {finds.otherwise}" if finds.otherwise else ""
                )
            else:
                meaning = f"any match → {finds.outcome}" if finds.min_matches == 1 else (
                    f"{finds.min_matches}+ records → {finds.outcome}"
                )  # fmt: skip
            optional = " (optional)" if slot.optional else ""
            console.print(f"  --ref {slot.name}=…{optional}: {slot.title.get('zh-CN')}; {meaning}")
        outcomes = ", ".join(o.name + (f" → {o.action}" if o.action else "") for o in s.outcomes)
        console.print(f"  outcomes: {outcomes}; matched nowhere: {s.unmatched}")
    for name, problem in scenario_problems(home).items():
        console.print(
            f"[red]{name}[/] does not read: [dim]{problem.code}[/] {problem.message('en')}"
        )


def _refs(given: list[str]) -> dict[str, str]:
    from zhili.errors import InvalidInput

    out = {}
    for item in given:
        slot, sep, code = item.partition("=")
        if not sep or not slot.strip() or not code.strip():
            raise InvalidInput(
                "verify.scenario_bad_ref",
                "--ref takes SLOT=CODE (e.g. deaths=3-03-001-000001), got {value}.",
                value=item,
            )
        out[slot.strip()] = code.strip()
    return out


@verify_app.command("scenario")
@friendly
def run_scenario(
    name: Annotated[str, typer.Argument(help="The scenario: pension, senior_card, dibao …")],
    user: Annotated[
        str, typer.Option("--user", help="Run as this user: their organization's grants apply.")
    ],
    roster: Annotated[
        str | None,
        typer.Option("--roster", help="The roster's resource code (default: the best fit)."),
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            help="SLOT=CODE: a reference slot's resource; repeatable "
            "(default: the best fit per slot).",
        ),
    ] = None,
) -> None:
    """Run a scenario template now, in this process: its roster and references default to
    the resources USER's organization may read that fit each slot best; prints people
    and money per outcome."""
    from zhili.apps.verify.scenarios import candidates, defaults, get_scenario, start_scenario
    from zhili.cli.common import database, settings
    from zhili.identity.auth import actor_for
    from zhili.identity.users import get_user

    conf, db = settings(), database()
    scenario = get_scenario(name, conf.home)
    given = _refs(ref or [])
    with db.session() as session:
        actor = actor_for(get_user(session, user))
        chosen = defaults(candidates(session, actor, scenario, home=conf.home))
        roster_code = roster or chosen.pop("roster", "")
        chosen.pop("roster", None)
        references = {**chosen, **given}
        job = start_scenario(
            session, actor, name, roster=roster_code, references=references, home=conf.home
        )
    for slot, code in [("roster", roster_code), *references.items()]:
        console.print(f"[dim]{slot}[/] {code}")
    job = _run_with_progress(db, conf, job)
    _scenario_summary(job.id, job.state, job.result_code, job.result_version, job.summary or {})


def _scenario_summary(
    job_id: int, state: str, code: str | None, version: int | None, summary: dict
) -> None:
    about = summary.get("scenario", {})
    money = about.get("money_column")
    title = about.get("title", {})
    console.print(
        f"job {job_id} ({state}): {title.get('zh-CN', '')} {title.get('en', '')} — "
        f"{about.get('people', 0):,} people on the roster"
    )
    table = Table(box=None, pad_edge=False)
    for column, justify in (("outcome", "left"), ("people", "right"), ("auto", "right"),
                            ("review", "right"), (money or "money", "right"),
                            ("action", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, o in summary.get("outcomes", {}).items():
        label = f"{o['title'].get('zh-CN', name)} {o['title'].get('en', '')}".strip()
        table.add_row(
            label, f"{o['people']:,}", f"{o['auto']:,}", f"{o['review']:,}",
            f"{o['money']:,.2f}" if money else "", o.get("action") or "",
        )  # fmt: skip
    console.print(table)
    pending = summary.get("awaiting_review", {})
    if pending.get("people"):
        console.print(
            f"awaiting review: {pending['people']:,} people"
            + (f", {money} {pending['money']:,.2f}" if money else "")
        )
    console.print(f"result → resource {code} version {version}")
