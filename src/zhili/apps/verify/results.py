"""A job's matches as a catalog resource: described once per job family, a new version
per run — shareable, masked and audited like any other resource.

The result belongs to the job's organization (its provider), is 有条件共享 (conditional),
不予开放 (closed), 重要数据 (important), and marks every value about a person — the two
keys and each compared value — as personal, so a grant to anyone else masks them by
default. The job writes it *as its organization's data steward would*: the service has
already checked ``verify.run``, and the policy still confines the write to the job's own
organization (see :func:`app_actor`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.access import Actor, Role
from zhili.apps.verify.models import Mode, VerificationJob
from zhili.catalog.loading import load_file
from zhili.catalog.models import LakeVersion, Resource
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.db import Database
from zhili.errors import Conflict

__all__ = [
    "KEY",
    "RESULT_CODE_PREFIX",
    "app_actor",
    "ensure_resource",
    "result_table",
    "table_schema",
    "write_version",
]

#: Codes of result resources: class 3 (department), item 90 (verification results),
#: heading 001, then a sequence number.
RESULT_CODE_PREFIX = "3-90-001-"
#: The result's primary key: a pair is found once per reference.
KEY = ("reference", "left_id", "right_id")
TITLES = {
    "reference": "比对库",
    "left_id": "花名册编号",
    "right_id": "比对库编号",
    "pass": "比对方式",
    "match_probability": "匹配概率",
    "match_weight": "匹配权重",
    "tier": "分级",
    "outcome": "核验结论",  # a scenario job's: what the match means (deceased …)
}
#: How many times a new code is tried when another job took the same one first.
CODE_ATTEMPTS = 5


def app_actor(actor: Actor) -> Actor:
    """The job's owner acting for the verification app: their own organization's data
    steward (``catalog.manage`` and ``lake.ingest`` are org roles, so the policy still
    confines it to that organization), under the app's system name in the audit log."""
    return dataclasses.replace(
        actor, roles=frozenset({Role.data_steward}), scopes=None, system="verify"
    )


def result_table(parts: list[tuple[str, pa.Table]]) -> pa.Table:
    """The matches of every run, each with the reference it was found in, first."""
    tables = []
    for code, matches in parts:
        column = pa.array([code] * matches.num_rows, pa.string())
        tables.append(matches.add_column(0, "reference", column))
    return pa.concat_tables(tables, promote_options="permissive")


def _type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_boolean(t):
        return "boolean"
    return "string"


def personal(name: str) -> bool:
    """Keys and compared values are about a person."""
    return name in ("left_id", "right_id") or name.endswith(("_left", "_right"))


def table_schema(schema: pa.Schema) -> dict[str, Any]:
    """The result's items (Table Schema) from the matches' Arrow schema."""
    fields = []
    for f in schema:
        item: dict[str, Any] = {
            "name": f.name,
            "type": _type(f.type),
            "x-sensitivity": "personal" if personal(f.name) else "none",
        }
        if f.name in TITLES:
            item["title"] = TITLES[f.name]
        fields.append(item)
    return {"fields": fields, "primaryKey": list(KEY)}


def conform(table: pa.Table) -> pa.Table:
    """Columns the items call text, as text (a NULL-only column has no type of its own)."""
    out = table
    for i, f in enumerate(table.schema):
        if _type(f.type) == "string" and not pa.types.is_string(f.type):
            out = out.set_column(i, f.name, table.column(i).cast(pa.string()))
    return out


def _next_code(session: Session) -> str:
    like = Resource.code.like(f"{RESULT_CODE_PREFIX}%")
    codes = session.scalars(select(Resource.code).where(like))
    used = [int(c.rsplit("-", 1)[1]) for c in codes if c.rsplit("-", 1)[1].isdigit()]
    return f"{RESULT_CODE_PREFIX}{max(used, default=0) + 1:06d}"


def _names(session: Session, codes: list[str]) -> list[str]:
    rows = session.execute(select(Resource.code, Resource.name).where(Resource.code.in_(codes)))
    found = {code: name for code, name in rows}
    return [found.get(c, c) for c in codes]


def _spec(session: Session, job: VerificationJob, code: str, schema: pa.Schema) -> ResourceSpec:
    roster = _names(session, [job.roster_code])[0] if job.roster_code else "上传的花名册"
    if job.mode == Mode.dedupe:
        name = f"重复领取核查结果：{roster}"
        inputs = f"花名册 {job.roster_code or job.roster_file}"
    else:
        name = f"比对核验结果：{roster} × {'、'.join(_names(session, job.reference_codes))}"
        inputs = (
            f"花名册 {job.roster_code or job.roster_file}，比对库 {'、'.join(job.reference_codes)}"
        )
    return ResourceSpec(
        code=code,
        name=name[:200],
        provider_code=job.org.code,
        classification="department",
        table_schema=table_schema(schema),
        sharing_type="conditional",
        sharing_conditions="仅用于核查处置；疑似匹配须经人工复核",
        open_type="closed",
        update_cycle="irregular",
        grade="important",
        summary=(
            f"比对核验任务 {job.id}（规则 {job.rules_name or '自定义'}）的匹配结果：{inputs}。"
            "每行一对记录，含匹配概率、分级（auto 自动 / review 待复核）和逐项证据。"
        ),
        tags=["比对核验"],
    )


def ensure_resource(db: Database, actor: Actor, job_id: int, schema: pa.Schema) -> str:
    """The code of the job family's result resource, described now if this is the
    family's first run (committed on its own: a failed run leaves the entry, never a
    version)."""
    with db.session() as session:
        job = session.get(VerificationJob, job_id)
        assert job is not None
        earlier = session.scalar(
            select(VerificationJob.result_code)
            .join(Resource, Resource.code == VerificationJob.result_code)
            .where(VerificationJob.family == job.family)
            .order_by(VerificationJob.id.desc())
            .limit(1)
        )
        if earlier is not None:
            return earlier
    for attempt in range(CODE_ATTEMPTS):
        try:
            with db.session() as session:
                job = session.get(VerificationJob, job_id)
                assert job is not None
                spec = _spec(session, job, _next_code(session), schema)
                return create_resource(session, app_actor(actor), spec).code
        except (Conflict, IntegrityError):  # another job took the code first
            if attempt == CODE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def write_version(
    session: Session, actor: Actor, *, home: Path, code: str, table: pa.Table, folder: Path
) -> LakeVersion:
    """Write ``table`` as the new whole version of ``code`` (mode replace), in one atomic
    lake commit recorded in ``session``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "matches.parquet"
    pq.write_table(conform(table), path, compression="zstd")
    return load_file(
        session,
        app_actor(actor),
        home=home,
        code=code,
        path=path,
        filename=path.name,
        mode="replace",
    )
