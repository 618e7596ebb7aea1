"""The policy itself, table-driven: deny by default, scopes, org subtrees, ownership."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from zhili.access import ANONYMOUS, RULES, SCOPES, Actor, Role, can, require
from zhili.errors import Forbidden, Unauthorized


def user(*roles: str, path: str = "/1/2/", scopes: frozenset[str] | None = None) -> Actor:
    kind = "token" if scopes is not None else "user"
    return Actor(
        kind=kind, user_id=7, username="u", org_path=path, roles=frozenset(roles), scopes=scopes
    )


@dataclass
class Target:
    org_path: str | None = None
    user_id: int | None = None


CASES = [
    # actor, action, target, expected
    (ANONYMOUS, "system.health", None, True),
    (ANONYMOUS, "page.home", None, False),
    (ANONYMOUS, "org.read", None, False),
    (user(), "page.home", None, True),
    (user(), "org.read", None, True),
    (user(), "org.manage", None, False),
    (user(Role.platform_admin), "org.manage", None, True),
    (user(Role.org_admin), "user.manage", Target(org_path="/1/2/9/"), True),
    (user(Role.org_admin), "user.manage", Target(org_path="/1/2/"), True),
    (user(Role.org_admin), "user.manage", Target(org_path="/1/3/"), False),
    (user(Role.org_admin), "user.manage", Target(org_path="/1/22/"), False),
    (user(Role.org_admin), "role.grant_admin", None, False),
    (user(Role.auditor), "user.read", Target(org_path="/9/"), True),
    (user(Role.analyst), "user.read", None, False),
    (user(), "token.manage", Target(user_id=7), True),
    (user(), "token.manage", Target(user_id=8), False),
    (user(Role.platform_admin), "token.manage", Target(user_id=8), True),
    (user(Role.platform_admin), "calendar.manage", None, True),
    (user(Role.data_steward), "calendar.manage", None, False),
    (
        user(Role.platform_admin, scopes=frozenset({"calendar:read"})),
        "calendar.manage",
        None,
        False,
    ),
    (
        user(Role.platform_admin, scopes=frozenset({"calendar:write"})),
        "calendar.manage",
        None,
        True,
    ),
    (user(scopes=frozenset()), "org.read", None, False),
    (user(Role.platform_admin), "no.such.action", None, False),
]


@pytest.mark.parametrize(("actor", "action", "target", "expected"), CASES)
def test_can(actor: Actor, action: str, target: object, expected: bool) -> None:
    assert can(actor, action, target) is expected


def test_unknown_action_is_denied_even_for_admin() -> None:
    with pytest.raises(Forbidden):
        require(user(Role.platform_admin), "exchange.read.everything")


def test_anonymous_gets_401_and_users_403() -> None:
    with pytest.raises(Unauthorized):
        require(ANONYMOUS, "org.read")
    with pytest.raises(Forbidden) as exc:
        require(user(Role.analyst), "org.manage")
    assert exc.value.params["action"] == "org.manage"


def test_token_without_scope_says_which_scope() -> None:
    with pytest.raises(Forbidden) as exc:
        require(user(scopes=frozenset({"account"})), "org.read")
    assert exc.value.code == "access.scope_missing"
    assert exc.value.params["scope"] == "identity:read"


def test_every_rule_has_a_known_scope_and_description() -> None:
    for rule in RULES.values():
        assert rule.scope == "public" or rule.scope in SCOPES
        assert rule.description
