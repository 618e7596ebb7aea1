"""Users, passwords, login sessions."""

from __future__ import annotations

import pytest

from zhili.access import Actor, Role, system_actor
from zhili.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from zhili.identity import auth, users
from zhili.identity.passwords import hash_password, verify_password
from zhili.identity.users import UserSpec


def test_password_hash_roundtrip() -> None:
    h = hash_password("s3cret-pass")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "s3cret-pass")
    assert not verify_password(h, "wrong")
    assert not verify_password("garbage", "s3cret-pass")


def test_create_and_login(world) -> None:
    world.user("li.ming", "PSB", "analyst")
    with world.db.session() as s:
        new = auth.login(s, "LI.MING", "correct-horse-battery", hours=1)
        assert new.user.username == "li.ming"
        found = auth.session_user(s, new.cookie)
        assert found is not None and found[0].username == "li.ming"
        auth.logout(s, new.cookie)
        assert auth.session_user(s, new.cookie) is None


def test_wrong_password_and_unknown_user_are_the_same_401(world) -> None:
    world.user("li.ming", "PSB", "analyst")
    with world.db.session() as s:
        with pytest.raises(Unauthorized) as a:
            auth.login(s, "li.ming", "nope-nope-nope", hours=1)
        with pytest.raises(Unauthorized) as b:
            auth.login(s, "nobody", "nope-nope-nope", hours=1)
    assert a.value.code == b.value.code == "auth.bad_credentials"


def test_inactive_user_cannot_log_in(world) -> None:
    world.user("li.ming", "PSB", "analyst")
    with world.db.session() as s:
        users.set_active(s, system_actor(), "li.ming", False)
    with pytest.raises(Unauthorized) as exc, world.db.session() as s:
        auth.login(s, "li.ming", "correct-horse-battery", hours=1)
    assert exc.value.code == "auth.user_inactive"


def test_duplicate_username_is_conflict(world) -> None:
    world.user("li.ming", "PSB", "analyst")
    with pytest.raises(Conflict) as exc:
        world.user("li.ming", "PSB", "analyst")
    assert exc.value.status == 409
    assert "li.ming" in exc.value.message("en")


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (UserSpec("x", "", "PSB", ("analyst",), "long-enough"), "identity.bad_username"),
        (UserSpec("ok.name", "", "PSB", ("wizard",), "long-enough"), "identity.unknown_role"),
        (UserSpec("ok.name", "", "PSB", ("analyst",), "short"), "identity.password_too_short"),
        (UserSpec("ok.name", "", "NOPE", ("analyst",), "long-enough"), "identity.org_not_found"),
    ],
)
def test_bad_user_input(world, spec: UserSpec, code: str) -> None:
    with pytest.raises((InvalidInput, Exception)) as exc, world.db.session() as s:
        users.create_user(s, system_actor(), spec)
    assert exc.value.code == code


def test_unknown_role_lists_valid_roles(world) -> None:
    with pytest.raises(InvalidInput) as exc, world.db.session() as s:
        users.create_user(s, system_actor(), UserSpec("a.b", "", "PSB", ("wizard",), "12345678"))
    message = exc.value.message("en")
    for role in Role:
        assert role.value in message


def _actor_of(world, username: str) -> Actor:
    with world.db.session() as s:
        return auth.actor_for(users.get_user(s, username))


def test_org_admin_manages_only_own_subtree(world) -> None:
    world.user("d1.admin", "D01", "org_admin")
    admin = _actor_of(world, "d1.admin")
    with world.db.session() as s:
        users.create_user(
            s, admin, UserSpec("s1.worker", "", "D01S01", ("grid_worker",), "long-enough")
        )
    with pytest.raises(Forbidden), world.db.session() as s:
        users.create_user(
            s, admin, UserSpec("d2.worker", "", "D02", ("grid_worker",), "long-enough")
        )
    with pytest.raises(Forbidden), world.db.session() as s:
        users.create_user(s, admin, UserSpec("boss", "", "D01", ("platform_admin",), "long-enough"))
    with world.db.session() as s:
        rows, total = users.list_users(s, admin)
        assert {u.username for u in rows} == {"d1.admin", "s1.worker"}
        assert total == 2


def test_nobody_can_deactivate_themselves(world) -> None:
    world.user("root", "BUREAU", "platform_admin")
    me = _actor_of(world, "root")
    with pytest.raises(InvalidInput), world.db.session() as s:
        users.set_active(s, me, "root", False)
