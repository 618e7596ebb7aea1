"""Subscriptions (订阅): a new version is announced by a signed webhook to a real HTTP
receiver, failures retry with backoff into the dead-letter, redelivery works, and the
changes feed returns exactly the added or changed rows — through the one door, scoped and
masked like the grant, refused with the grant's reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select

from webhook_receiver import Receiver
from zhili.access import system_actor
from zhili.audit.models import AuditEntry
from zhili.calendar.service import WorkCalendar
from zhili.catalog.loading import load_file
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.errors import Conflict, Forbidden, InvalidInput
from zhili.exchange import requests as req
from zhili.exchange import subscriptions as subs
from zhili.exchange import webhooks
from zhili.exchange.changes import read_changes
from zhili.exchange.grants import change_state
from zhili.exchange.models import Grant
from zhili.exchange.subscription_models import Delivery, Subscription
from zhili.identity.auth import actor_for
from zhili.identity.models import User
from zhili.identity.sealing import unseal
from zhili.jobs import JobRunner
from zhili.query import get_engine
from zhili.settings import get_settings

CODE = "3-03-001-000009"
SCHEMA = {
    "fields": [
        {"name": "id_number", "type": "string", "format": "cn-id",
         "x-sensitivity": "sensitive_personal"},
        {"name": "name", "type": "string", "x-sensitivity": "personal"},
        {"name": "district", "type": "string"},
        {"name": "death_date", "type": "date"},
    ],
    "primaryKey": ["id_number"],
}  # fmt: skip
V0 = (
    "id_number,name,district,death_date\n"
    "11010519491231002X,张三,和平区,2026-10-01\n"
    "120101199001010113,李四,河东区,2026-10-02\n"
    "120101195001010019,王五,和平区,2026-10-03\n"
)
# upsert: 王五 changed (和平区), one new 和平区 row, 李四 changed and one new row in 河东区
V1 = (
    "id_number,name,district,death_date\n"
    "120101195001010019,王五,和平区,2026-10-13\n"
    "120101196001010013,赵六,和平区,2026-10-20\n"
    "120101199001010113,李四,河东区,2026-10-22\n"
    "120101197001010018,钱七,河东区,2026-10-21\n"
)


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def hook_settings(settings, monkeypatch):
    """Loopback callbacks allowed (the receiver is local), three attempts, tiny backoff."""
    monkeypatch.setenv("ZHILI_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("ZHILI_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ZHILI_WEBHOOK_BACKOFF_SECONDS", "0.05")
    get_settings.cache_clear()
    return get_settings()


def _actor(world, username):
    with world.db.session() as s:
        return actor_for(s.scalars(select(User).where(User.username == username)).one())


@pytest.fixture()
def city(world, hook_settings, seeded_calendar, tmp_path):
    """PSB provides a conditional resource (version 0); CAB holds a grant for three items,
    id_number masked, rows of 和平区 only."""
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.user("cab.analyst", "CAB", "analyst")
    world.user("psb.approver", "PSB", "approver")
    world.user("psb.steward", "PSB", "data_steward")
    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code=CODE, name="死亡医学证明信息", provider_code="PSB", classification="department",
            table_schema=SCHEMA, sharing_type="conditional", sharing_conditions="核查",
            open_type="closed", update_cycle="monthly", grade="important",
        ))  # fmt: skip
    cab, approver = _actor(world, "cab.analyst"), _actor(world, "psb.approver")
    home = hook_settings.home

    def load(text: str, mode: str = "upsert") -> int:
        csv = tmp_path / f"v{time.monotonic_ns()}.csv"
        csv.write_text(text, encoding="utf-8")
        with world.db.session() as s:
            v = load_file(
                s, system_actor(), home=home, code=CODE, path=csv, filename="d.csv", mode=mode
            )
            return v.version

    load(V0, "append")
    with world.db.session() as s:
        r = req.create_request(s, cab, req.RequestSpec(
            CODE, system="养老金发放系统", purpose="停发已故人员养老金", legal_basis="社会保险法",
            fields=["id_number", "death_date", "district"], row_filter="district = '和平区'",
        ))  # fmt: skip
        req.submit(s, cab, r, WorkCalendar.from_session(s), req.ReviewPolicy())
        grant = req.approve(s, approver, r, req.Decision(
            masking={"id_number": {"rule": "id_number"}}, calls_per_day=50, rows_per_day=1000,
        ))  # fmt: skip
        grant_id = grant.id
    return {
        "cab": cab, "approver": approver, "steward": _actor(world, "psb.steward"),
        "grant": grant_id, "home": home, "db": world.db, "load": load,
        "settings": hook_settings,
    }  # fmt: skip


def _subscribe(city, url):
    with city["db"].session() as s:
        sub, secret = subs.create_subscription(
            s, city["cab"], s.get(Grant, city["grant"]), url, city["settings"]
        )
        return sub.id, secret


def _send(city) -> list[int]:
    with city["db"].session() as s:
        return webhooks.send_due(s, city["settings"])


def _deliveries(city) -> list[Delivery]:
    with city["db"].session() as s:
        found = list(s.scalars(select(Delivery).order_by(Delivery.id)))
        s.expunge_all()
        return found


def _webhook_audit(city) -> list[AuditEntry]:
    with city["db"].session() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == "exchange.webhook")
        return list(s.scalars(stmt.order_by(AuditEntry.seq)))


# --- the webhook ----------------------------------------------------------------------


def test_a_new_version_is_announced_with_a_signed_notice(city, receiver) -> None:
    sub_id, secret = _subscribe(city, receiver.url)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert _send(city) == []  # nothing due before a version lands
    version = city["load"](V1)
    [queued] = _deliveries(city)
    assert (queued.status, queued.version, queued.previous_version) == ("pending", version, 0)

    assert _send(city) == [queued.id]
    [(headers, body)] = receiver.calls
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Zhili-Signature"], expected)
    assert headers["X-Zhili-Delivery"] == str(queued.id)
    assert headers["X-Zhili-Event"] == "version.created"
    assert abs(int(headers["X-Zhili-Timestamp"]) - time.time()) < 60
    notice = json.loads(body)
    assert notice == {
        "event": "version.created",
        "delivery": queued.id,
        "resource": CODE,
        "version": version,
        "previous_version": 0,
        "grant": city["grant"],
        "changes_url": f"/api/v1/exchange/grants/{city['grant']}/changes?since=0",
        "rows_added": 4,
        "sent_at": notice["sent_at"],
    }
    assert "王五" not in body.decode() and "120101" not in body.decode()  # never rows

    [done] = _deliveries(city)
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 1, 204)
    with city["db"].session() as s:
        assert s.get(Subscription, sub_id).last_version == version
    [entry] = _webhook_audit(city)
    assert (entry.outcome, entry.grant_id, entry.version, entry.row_count) == (
        "ok", city["grant"], version, 0,
    )  # fmt: skip
    assert entry.detail["delivery"] == done.id and entry.detail["status_code"] == 204
    assert _send(city) == []  # delivered once


def test_the_secret_is_stored_sealed(city, receiver) -> None:
    sub_id, secret = _subscribe(city, receiver.url)
    with city["db"].session() as s:
        sub = s.get(Subscription, sub_id)
        assert secret not in sub.secret_sealed
        assert unseal(city["settings"].secret_key, sub.secret_sealed) == secret
        assert secret.startswith(sub.secret_hint)


def test_failures_back_off_then_dead_letter_and_redelivery_works(city) -> None:
    receiver = Receiver([500])
    try:
        _subscribe(city, receiver.url)
        city["load"](V1)
        gaps = []
        for _ in range(3):
            [d] = _deliveries(city)
            while _send(city) == []:  # wait until the retry is due
                time.sleep(0.01)
            [d] = _deliveries(city)
            if d.next_attempt_at is not None:
                gaps.append((d.next_attempt_at - d.last_attempt_at).total_seconds())
        [d] = _deliveries(city)
        assert (d.status, d.attempts, d.last_status_code) == ("dead", 3, 500)
        assert d.next_attempt_at is None and d.last_error == "HTTP 500"
        assert gaps == pytest.approx([0.05, 0.1], abs=0.01)  # doubling
        assert len(receiver.calls) == 3
        assert _send(city) == []  # a dead letter is not retried by itself
        audit = _webhook_audit(city)
        assert [a.outcome for a in audit] == ["error"] * 3
        assert {a.error_code for a in audit} == {"webhook.http_500"}

        receiver.codes = [200]
        with city["db"].session() as s:
            subs.redeliver(s, city["cab"], s.get(Delivery, d.id))
        with city["db"].session() as s, pytest.raises(Conflict) as caught:
            subs.redeliver(s, city["cab"], s.get(Delivery, d.id))
        assert caught.value.code == "exchange.delivery_pending"
        assert _send(city) == [d.id]
        [d] = _deliveries(city)
        assert (d.status, d.attempts, d.last_status_code) == ("delivered", 1, 200)
        assert len(receiver.calls) == 4
    finally:
        receiver.close()


def test_backoff_doubles_up_to_an_hour(settings) -> None:
    assert [webhooks.backoff(settings, n) for n in range(1, 6)] == [10, 20, 40, 80, 160]
    assert webhooks.backoff(settings, 30) == 3600


def test_unreachable_receiver_is_a_failed_attempt(city) -> None:
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nobody listens there any more
    _subscribe(city, url)
    city["load"](V1)
    _send(city)
    [d] = _deliveries(city)
    assert (d.status, d.attempts, d.last_status_code) == ("retrying", 1, None)
    assert _webhook_audit(city)[0].error_code == "webhook.unreachable"


def test_the_job_runner_sends_due_deliveries(city, receiver) -> None:
    _subscribe(city, receiver.url)
    city["load"](V1)
    runner = JobRunner(city["db"], city["home"], city["settings"].secret_key, poll_seconds=0.1)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert len(receiver.calls) == 1
    assert _deliveries(city)[0].status == "delivered"


def test_only_active_grants_and_subscriptions_get_notices(city, receiver) -> None:
    sub_id, _ = _subscribe(city, receiver.url)
    city["load"](V1)  # queued while the grant is active …
    with city["db"].session() as s:
        change_state(s, city["approver"], s.get(Grant, city["grant"]), "suspend", "核查中")
    _send(city)  # … but not sent once it is suspended
    [d] = _deliveries(city)
    assert (d.status, d.last_error) == ("cancelled", "exchange.grant_suspended")
    assert receiver.calls == []
    assert _webhook_audit(city)[0].outcome == "denied"
    city["load"](V1)  # a suspended grant queues nothing
    assert len(_deliveries(city)) == 1

    with city["db"].session() as s:
        change_state(s, city["approver"], s.get(Grant, city["grant"]), "resume", "已核查")
    city["load"](V1)
    with city["db"].session() as s:
        subs.remove_subscription(s, city["cab"], s.get(Subscription, sub_id))
    assert [d.status for d in _deliveries(city)] == ["cancelled", "cancelled"]
    city["load"](V1)
    assert len(_deliveries(city)) == 2  # a removed subscription queues nothing


def test_only_the_consumer_subscribes_under_an_active_grant(city, receiver) -> None:
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        grant = s.get(Grant, city["grant"])
        subs.create_subscription(s, city["approver"], grant, receiver.url, city["settings"])
    assert caught.value.code == "exchange.not_applicant"
    with city["db"].session() as s:
        change_state(s, city["approver"], s.get(Grant, city["grant"]), "revoke", "不再需要")
    with city["db"].session() as s, pytest.raises(Conflict) as caught:
        grant = s.get(Grant, city["grant"])
        subs.create_subscription(s, city["cab"], grant, receiver.url, city["settings"])
    assert caught.value.code == "exchange.grant_not_active"


# --- the callback URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "exchange.webhook_scheme"),
        ("file:///etc/passwd", "exchange.webhook_scheme"),
        ("gopher://93.184.216.34/", "exchange.webhook_scheme"),
        ("http://127.0.0.1:8000/hook", "exchange.webhook_private"),
        ("http://[::1]/hook", "exchange.webhook_private"),
        ("http://[::ffff:127.0.0.1]/hook", "exchange.webhook_private"),
        ("http://169.254.169.254/latest/meta-data", "exchange.webhook_private"),
        ("http://10.1.2.3/hook", "exchange.webhook_private"),
        ("http://192.168.0.10/hook", "exchange.webhook_private"),
        ("http://100.64.0.1/hook", "exchange.webhook_private"),
        ("http://0.0.0.0/hook", "exchange.webhook_private"),
        ("https://user:pw@93.184.216.34/hook", "exchange.webhook_bad_url"),
        ("https:///hook", "exchange.webhook_bad_url"),
        ("https://93.184.216.34:99999/hook", "exchange.webhook_bad_url"),
        ("", "exchange.webhook_bad_url"),
        ("http://[::1/hook", "exchange.webhook_bad_url"),
        ("https://exa mple.com/", "exchange.webhook_bad_url"),
    ],
)
def test_callback_urls_are_guarded(url, code) -> None:
    with pytest.raises(InvalidInput) as caught:
        subs.check_callback_url(url)
    assert caught.value.code == code
    assert caught.value.params["field"] == "url"


def test_public_and_allowed_private_callbacks_pass() -> None:
    assert subs.check_callback_url(" https://93.184.216.34/hook ") == "https://93.184.216.34/hook"
    assert subs.check_callback_url("http://127.0.0.1:9/x", allow_private=True)
    with pytest.raises(InvalidInput):  # the scheme is checked whatever the setting
        subs.check_callback_url("ftp://127.0.0.1/x", allow_private=True)


def test_subscribing_refuses_a_private_url_by_default(city, settings) -> None:
    with city["db"].session() as s, pytest.raises(InvalidInput) as caught:
        grant = s.get(Grant, city["grant"])
        subs.create_subscription(s, city["cab"], grant, "http://127.0.0.1:9/x", settings)
    assert caught.value.code == "exchange.webhook_private"


# --- the changes feed -----------------------------------------------------------------


def _changes(city, actor, **kw):
    with city["db"].session() as s:
        return read_changes(s, actor, home=city["home"], **kw)


def test_changes_are_the_added_and_changed_rows_scoped_and_masked(city) -> None:
    version = city["load"](V1)
    got = _changes(city, city["cab"], grant_id=city["grant"], since=0)
    assert (got.since, got.until, got.grant_id) == (0, version, city["grant"])
    assert [c.name for c in got.columns] == ["id_number", "district", "death_date"]
    rows = sorted((r["id_number"], r["district"], str(r["death_date"])) for r in got.rows)
    assert rows == [
        ("120101********0013", "和平区", "2026-10-20"),  # added
        ("120101********0019", "和平区", "2026-10-13"),  # changed
    ]  # 河东区 rows are outside the grant's row filter; no name; ids masked
    # the key is masked, so rows are compared whole: 王五's old state counts as removed
    assert (got.key, got.removed, got.truncated) == ((), 1, False)
    assert _changes(city, city["cab"], grant_id=city["grant"], since=version).rows == []
    with city["db"].session() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == "exchange.changes")
        entries = list(s.scalars(stmt.order_by(AuditEntry.seq)))
    assert [(e.outcome, e.row_count, e.grant_id) for e in entries] == [
        ("ok", 2, city["grant"]), ("ok", 0, city["grant"]),
    ]  # fmt: skip


def test_changes_with_an_unmasked_key_count_removals_by_key_and_page(city) -> None:
    v1 = city["load"](V1)
    v2 = city["load"](V0, "replace")  # back to the three first rows
    provider = city["steward"]
    first = _changes(city, provider, code=CODE, since=v1, until=v2, limit=1)
    assert first.key == ("id_number",) and first.truncated and first.next_cursor
    assert first.removed == 2  # 赵六 and 钱七 are gone
    second = _changes(city, provider, code=CODE, since=v1, until=v2, limit=1,
                      after=first.next_cursor)  # fmt: skip
    ids = [r["id_number"] for r in [*first.rows, *second.rows]]
    assert ids == ["120101195001010019", "120101199001010113"]  # 王五, 李四 changed back
    assert not second.truncated and second.next_cursor is None
    assert "name" in first.rows[0]  # the provider reads its own data whole


def test_changes_check_versions_and_cursors(city) -> None:
    version = city["load"](V1)
    with pytest.raises(InvalidInput) as caught:
        _changes(city, city["cab"], grant_id=city["grant"], since=version, until=0)
    assert caught.value.code == "exchange.bad_since"
    with pytest.raises(Exception) as missing:
        _changes(city, city["cab"], grant_id=city["grant"], since=version + 5)
    assert getattr(missing.value, "code", None) == "catalog.no_such_version"
    with pytest.raises(InvalidInput) as bad:
        _changes(city, city["steward"], code=CODE, since=0, after="not-a-cursor")
    assert bad.value.code == "exchange.bad_cursor"


@pytest.mark.parametrize(
    ("action", "code"),
    [("revoke", "exchange.grant_revoked"), ("suspend", "exchange.grant_suspended")],
)
def test_changes_are_refused_for_a_grant_that_stopped(city, action, code) -> None:
    city["load"](V1)
    with city["db"].session() as s:
        change_state(s, city["approver"], s.get(Grant, city["grant"]), action, "数据核查中")
    with pytest.raises(Forbidden) as caught:
        _changes(city, city["cab"], grant_id=city["grant"], since=0)
    assert caught.value.code == code and caught.value.params["reason"] == "数据核查中"
    with city["db"].session() as s:
        denied = s.scalars(select(AuditEntry).where(AuditEntry.action == "exchange.changes")).one()
    assert (denied.outcome, denied.error_code) == ("denied", code)


def test_changes_under_a_grant_are_the_consumers_only(city) -> None:
    with pytest.raises(Forbidden) as caught:
        _changes(city, city["approver"], grant_id=city["grant"], since=0)
    assert caught.value.code == "exchange.no_grant_for"


@pytest.mark.spark
def test_changes_agree_on_spark(city, monkeypatch) -> None:
    city["load"](V1)
    duck = _changes(city, city["cab"], grant_id=city["grant"], since=0)
    monkeypatch.setenv("ZHILI_ENGINE", "spark")
    get_settings.cache_clear()
    assert get_engine().name == "spark"
    spark = _changes(city, city["cab"], grant_id=city["grant"], since=0)
    key = lambda r: r["id_number"]  # noqa: E731
    assert sorted(spark.rows, key=key) == sorted(duck.rows, key=key)
    assert spark.removed == duck.removed == 1
