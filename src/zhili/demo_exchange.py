"""The demo city's exchange: a few share requests in their typical states and some reads
through the door, so the request lists, grants, audit log and statistics show real use.

* 人社局 → 人口基础信息 (conditional): approved by 公安局's approver for the items a
  pension check needs, residents born before 1967, names masked; then read a few times.
* 交通运输委 → 法人单位基础信息 (unconditional): passed the automatic compliance check.
* 民政局 → 人口基础信息: waiting for 公安局's decision (due in 5 working days).

Idempotent: a second run finds the requests and adds nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.calendar.service import WorkCalendar
from zhili.db import Database
from zhili.exchange import door
from zhili.exchange import requests as req
from zhili.exchange.models import ShareRequest
from zhili.identity.auth import actor_for
from zhili.identity.models import User

POPULATION = "1-01-001-000001"
LEGAL_PERSONS = "1-02-001-000001"


def account_actor(session: Session, username: str) -> Actor:
    """The actor of a demo account."""
    return actor_for(session.scalars(select(User).where(User.username == username)).one())


def seed_exchange(db: Database, home: Path) -> int:
    """Create the demo requests (once); returns how many were created."""
    with db.session() as s:
        if s.scalar(select(ShareRequest.id).limit(1)) is not None:
            return 0
        calendar = WorkCalendar.from_session(s)
        policy = req.ReviewPolicy()
        start = dt.date.today()
        hrss, psb = account_actor(s, "hrss"), account_actor(s, "psbapprover")
        pension = req.create_request(
            s,
            hrss,
            req.RequestSpec(
                POPULATION,
                system="养老保险待遇发放系统",
                purpose="养老金领取资格认证",
                legal_basis="《社会保险法》第七十三条；《人力资源社会保障部关于…资格认证》",
                fields=["id_number", "name", "sex", "birth_date", "district_code"],
                row_filter="birth_date < '1967-01-01'",
                period_start=start,
            ),
        )
        req.submit(s, hrss, pension, calendar, policy)
        req.approve(
            s,
            psb,
            pension,
            req.Decision(
                reason="用途明确、依据充分，同意按最小必要原则共享",
                calls_per_day=5000,
                rows_per_day=2_000_000,
                masking={"name": {"rule": "name"}},
            ),
        )
        transport = account_actor(s, "analyst")
        firms = req.create_request(
            s,
            transport,
            req.RequestSpec(
                LEGAL_PERSONS,
                system="出租汽车经营许可系统",
                purpose="核验经营者主体资格",
                legal_basis="《道路运输条例》",
                period_start=start,
            ),
        )
        req.submit(s, transport, firms, calendar, policy)
        civil = account_actor(s, "civil")
        pending = req.create_request(
            s,
            civil,
            req.RequestSpec(
                POPULATION,
                system="高龄津贴发放系统",
                purpose="核对 80 岁以上老人户籍与生存状态",
                legal_basis="《老年人权益保障法》",
                fields=["id_number", "birth_date", "district_code"],
                row_filter="birth_date < '1947-01-01'",
                period_start=start,
            ),
        )
        req.submit(s, civil, pending, calendar, policy)
    for filters in (["district_code:eq:120101"], ["sex:eq:女"], []):
        with db.session() as s:
            params = [("filter", f) for f in filters] + [("limit", "100")]
            door.read_rows(s, account_actor(s, "hrss"), home=home, code=POPULATION, params=params)
    return 3
