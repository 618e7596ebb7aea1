"""The one definition of the roles a user can hold, with their zh-CN/English labels."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A role held by a user within their organization."""

    platform_admin = "platform_admin"
    org_admin = "org_admin"
    data_steward = "data_steward"
    approver = "approver"
    analyst = "analyst"
    auditor = "auditor"
    grid_worker = "grid_worker"
    commander = "commander"
    handler = "handler"
    officer = "officer"
    care_operator = "care_operator"


ROLES: tuple[Role, ...] = tuple(Role)


def parse_role(value: str) -> Role:
    """The role named ``value``, or an error listing every valid role."""
    from zhili.errors import InvalidInput

    try:
        return Role(value.strip())
    except ValueError:
        raise InvalidInput(
            "identity.unknown_role",
            "unknown role {role!r}; valid roles: {valid}",
            role=value,
            valid=", ".join(ROLES),
        ) from None
