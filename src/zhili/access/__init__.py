"""Access: the one policy module. ``can(actor, action, target)`` decides everything."""

from zhili.access.actor import ANONYMOUS, Actor, system_actor
from zhili.access.policy import READ_SCOPES, RULES, SCOPES, Rule, can, require
from zhili.access.roles import ROLES, Role, parse_role

__all__ = [
    "ANONYMOUS",
    "READ_SCOPES",
    "ROLES",
    "RULES",
    "SCOPES",
    "Actor",
    "Role",
    "Rule",
    "can",
    "parse_role",
    "require",
    "system_actor",
]
