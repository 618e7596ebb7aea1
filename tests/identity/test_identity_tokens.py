"""API tokens: shown once, hashed, scoped, expiring, revocable, last use recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from zhili.access import system_actor
from zhili.clock import utcnow
from zhili.errors import Forbidden, InvalidInput, Unauthorized
from zhili.identity import tokens
from zhili.identity.auth import actor_for
from zhili.identity.models import ApiToken
from zhili.identity.users import get_user


@pytest.fixture()
def owner(world):
    world.user("wang.fang", "PSB", "data_steward")
    return world


def _issue(db, **kw):
    with db.session() as s:
        issued = tokens.create_token(s, system_actor(), username="wang.fang", name="etl", **kw)
        return issued.plaintext, issued.token.id


def test_token_is_stored_hashed_and_resolves(owner) -> None:
    plain, tid = _issue(owner.db)
    assert plain.startswith("zhl_")
    with owner.db.session() as s:
        row = s.get(ApiToken, tid)
        assert plain.split("_", 2)[2] not in row.secret_hash
        actor = tokens.resolve_token(s, plain, "10.0.0.1")
        assert actor.username == "wang.fang" and actor.kind == "token"
        assert actor.scopes is not None and "identity:read" in actor.scopes
    with owner.db.session() as s:
        row = s.get(ApiToken, tid)
        assert row.last_used_at is not None and row.last_used_ip == "10.0.0.1"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t: setattr(t, "revoked_at", utcnow()), "auth.token_revoked"),
        (
            lambda t: setattr(t, "expires_at", utcnow() - dt.timedelta(seconds=1)),
            "auth.token_expired",
        ),
        (lambda t: setattr(t.user, "is_active", False), "auth.user_inactive"),
    ],
)
def test_refusals_say_why(owner, mutate, code: str) -> None:
    plain, tid = _issue(owner.db)
    with owner.db.session() as s:
        mutate(s.get(ApiToken, tid))
    with pytest.raises(Unauthorized) as exc, owner.db.session() as s:
        tokens.resolve_token(s, plain)
    assert exc.value.code == code


def test_malformed_and_forged_tokens(owner) -> None:
    plain, _ = _issue(owner.db)
    forged = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    with owner.db.session() as s:
        with pytest.raises(Unauthorized) as a:
            tokens.resolve_token(s, "hello")
        with pytest.raises(Unauthorized) as b:
            tokens.resolve_token(s, forged)
    assert a.value.code == "auth.token_malformed"
    assert b.value.code == "auth.token_unknown"


def test_bad_scope_and_days(owner) -> None:
    with pytest.raises(InvalidInput) as exc, owner.db.session() as s:
        tokens.create_token(s, system_actor(), username="wang.fang", name="x", scopes=["root"])
    assert exc.value.params["field"] == "scopes"
    with pytest.raises(InvalidInput) as exc, owner.db.session() as s:
        tokens.create_token(s, system_actor(), username="wang.fang", name="x", days=0)
    assert exc.value.params["field"] == "days"


def test_users_cannot_touch_others_tokens(owner) -> None:
    owner.user("zhao.lei", "PSB", "analyst")
    _, tid = _issue(owner.db)
    with owner.db.session() as s:
        other = actor_for(get_user(s, "zhao.lei"))
    with pytest.raises(Forbidden), owner.db.session() as s:
        tokens.revoke_token(s, other, tid)
    with pytest.raises(Forbidden), owner.db.session() as s:
        tokens.create_token(s, other, username="wang.fang", name="sneaky")
