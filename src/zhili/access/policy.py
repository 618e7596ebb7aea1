"""The access policy: the only place that knows who may do what.

Every route and every service asks :func:`can` (or :func:`require`). An action that has no
rule is denied; a role that a rule does not name is denied. Rules are data, so the docs
and the route × role test can list them.

Targets narrow a decision: an org admin manages users of their own organization subtree
only, and a user manages only their own API tokens. A target is anything with an
``org_path`` (or ``path``) attribute, and for ``self`` rules a ``user_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from zhili.access.actor import Actor
from zhili.access.roles import Role
from zhili.errors import Forbidden, Unauthorized

Audience = Literal["public", "authenticated", "roles"]

R = Role
ADMIN = frozenset({R.platform_admin})


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may perform one action.

    ``global_roles`` may act on any target; ``org_roles`` only on targets inside the
    actor's own organization subtree; ``owner`` lets a user act on what is their own.
    ``scope`` is the API-token scope that must be present for a machine to act.
    """

    action: str
    scope: str
    audience: Audience = "roles"
    global_roles: frozenset[str] = ADMIN
    org_roles: frozenset[str] = frozenset()
    owner: bool = False
    description: str = ""


def _rule(action: str, scope: str, **kw: Any) -> Rule:
    return Rule(action=action, scope=scope, **kw)


_ALL_ROLES = frozenset(Role)

RULES: dict[str, Rule] = {
    r.action: r
    for r in (
        _rule("system.health", "public", audience="public", description="liveness/readiness"),
        _rule("page.login", "public", audience="public", description="log in or out"),
        _rule("i18n.switch", "public", audience="public", description="choose UI language"),
        _rule(
            "portal.read",
            "public",
            audience="public",
            description="the open-data portal and DCAT catalog (published resources only)",
        ),
        _rule("page.home", "account", audience="authenticated", description="home page"),
        _rule("account.read", "account", audience="authenticated", description="own account"),
        _rule("account.update", "account", audience="authenticated", description="own prefs"),
        _rule(
            "token.manage",
            "account",
            audience="roles",
            global_roles=ADMIN,
            owner=True,
            description="create, list and revoke API tokens (own; admins: anyone's)",
        ),
        _rule("org.read", "identity:read", audience="authenticated", description="org tree"),
        _rule(
            "org.manage",
            "identity:write",
            global_roles=ADMIN,
            org_roles=frozenset({R.org_admin}),
            description="create organizations and import the org tree",
        ),
        _rule(
            "user.read",
            "identity:read",
            global_roles=frozenset({R.platform_admin, R.auditor}),
            org_roles=frozenset({R.org_admin}),
            description="list and view users",
        ),
        _rule(
            "user.manage",
            "identity:write",
            global_roles=ADMIN,
            org_roles=frozenset({R.org_admin}),
            description="create users, set roles, deactivate",
        ),
        _rule(
            "role.grant_admin",
            "identity:write",
            global_roles=ADMIN,
            description="grant or remove the platform_admin role",
        ),
        _rule("calendar.read", "calendar:read", audience="authenticated", description="calendar"),
        _rule(
            "catalog.read",
            "catalog:read",
            audience="authenticated",
            description="browse the catalog's metadata (not the data)",
        ),
        _rule(
            "catalog.manage",
            "catalog:write",
            global_roles=ADMIN,
            org_roles=frozenset({R.data_steward, R.org_admin}),
            description="describe and edit the resources of one's own organization",
        ),
        _rule(
            "lake.ingest",
            "lake:write",
            global_roles=ADMIN,
            org_roles=frozenset({R.data_steward}),
            description="load versions of one's own organization's resources",
        ),
        _rule(
            "exchange.apply",
            "exchange:write",
            global_roles=frozenset(),
            org_roles=frozenset({R.analyst, R.data_steward, R.org_admin}),
            description="apply for another department's resource for one's own organization",
        ),
        _rule(
            "exchange.review",
            "exchange:review",
            org_roles=frozenset({R.approver}),
            description="decide requests for one's own organization's resources",
        ),
        _rule(
            "grant.manage",
            "exchange:review",
            org_roles=frozenset({R.approver, R.org_admin}),
            description="suspend, resume or revoke grants of one's own organization's resources",
        ),
        _rule(
            "exchange.read",
            "exchange:read",
            audience="authenticated",
            description="see one's organization's requests and grants (the door checks data)",
        ),
        _rule(
            "objection.read",
            "exchange:read",
            audience="authenticated",
            description="see objections one's organization raised or received",
        ),
        _rule(
            "objection.raise",
            "exchange:write",
            global_roles=frozenset(),
            org_roles=frozenset({R.analyst, R.data_steward, R.org_admin}),
            description="dispute data received under a grant; accept or reopen the answer",
        ),
        _rule(
            "objection.answer",
            "exchange:review",
            org_roles=frozenset({R.data_steward, R.approver}),
            description="answer objections to one's own organization's resources",
        ),
        _rule(
            "demand.read",
            "exchange:read",
            audience="authenticated",
            description="the marketplace of published data needs",
        ),
        _rule(
            "demand.publish",
            "exchange:write",
            global_roles=frozenset(),
            org_roles=frozenset({R.analyst, R.data_steward, R.org_admin}),
            description="publish a data need for one's organization, accept an answer, close",
        ),
        _rule(
            "demand.answer",
            "catalog:write",
            org_roles=frozenset({R.data_steward, R.org_admin}),
            description="answer a data need with a catalog resource or a plan",
        ),
        _rule(
            "job.read",
            "jobs:read",
            audience="authenticated",
            description="follow one's own background jobs (admins: everyone's)",
        ),
        _rule(
            "lake.preview",
            "lake:read",
            global_roles=ADMIN,
            org_roles=frozenset({R.data_steward, R.org_admin, R.approver, R.analyst}),
            description="the provider's own staff see the first rows (others go through a grant)",
        ),
        _rule(
            "audit.read",
            "audit:read",
            global_roles=frozenset({R.platform_admin, R.auditor}),
            org_roles=frozenset({R.data_steward, R.approver}),
            description="the audit log: all of it; a provider's staff, who used their data",
        ),
        _rule(
            "audit.verify",
            "audit:read",
            global_roles=frozenset({R.platform_admin, R.auditor}),
            description="recompute the audit log's hash chain (no rule writes the log)",
        ),
        _rule(
            "verify.read",
            "verify:read",
            org_roles=frozenset({R.analyst, R.data_steward, R.org_admin, R.approver}),
            description="see one's organization's verification jobs and their review queue",
        ),
        _rule(
            "verify.run",
            "verify:write",
            global_roles=frozenset(),
            org_roles=frozenset({R.analyst, R.data_steward, R.org_admin}),
            description="run and cancel verification jobs for one's own organization",
        ),
        _rule(
            "verify.review",
            "verify:review",
            org_roles=frozenset({R.approver, R.org_admin}),
            description="decide review items of one's own organization's verification jobs",
        ),
        _rule(
            "grid.read",
            "grid:read",
            audience="authenticated",
            description="the grid tree, its maps and the event catalogue",
        ),
        _rule(
            "grid.manage",
            "grid:write",
            global_roles=ADMIN,
            description="import the grid tree, the event catalogue and its routes",
        ),
        _rule(
            "grid.assign",
            "grid:write",
            global_roles=ADMIN,
            org_roles=frozenset({R.org_admin, R.commander}),
            description="assign grid workers to grids inside one's own command area",
        ),
        _rule(
            "grid.report",
            "grid:report",
            audience="public",
            description="report a problem (residents need no account; Open311 POST requests)",
        ),
        _rule(
            "grid.open311.read",
            "public",
            audience="public",
            description="Open311 GeoReport v2 reads: the catalogue as services, the public "
            "view of events (no personal data; reporters' text once registered)",
        ),
        _rule(
            "grid.event.read",
            "grid:read",
            audience="authenticated",
            description="events one may see: commanders their area's, handlers their "
            "department's, grid workers their grids' and every reporter their own",
        ),
        _rule(
            "grid.command",
            "grid:command",
            global_roles=ADMIN,
            org_roles=frozenset({R.commander}),
            description="register, reject, dispatch, transfer, merge and close events of "
            "one's own command area; import 12345 hotline tickets",
        ),
        _rule(
            "grid.handle",
            "grid:handle",
            global_roles=frozenset(),
            org_roles=frozenset({R.handler}),
            description="acknowledge (报到), handle or return events dispatched to one's "
            "own department",
        ),
        _rule(
            "grid.verify",
            "grid:handle",
            global_roles=frozenset(),
            org_roles=frozenset({R.grid_worker, R.commander}),
            description="verify a handled event on site (核查): its grid's workers, its commanders",
        ),
        _rule(
            "calendar.manage",
            "calendar:write",
            global_roles=ADMIN,
            description="load a year's holiday notice, correct single days",
        ),
    )
}

SCOPES: tuple[str, ...] = tuple(sorted({r.scope for r in RULES.values()} - {"public"}))
READ_SCOPES: tuple[str, ...] = tuple(s for s in SCOPES if s.endswith(":read") or s == "account")


def _target_path(target: Any) -> str | None:
    for attr in ("org_path", "path"):
        value = getattr(target, attr, None)
        if isinstance(value, str):
            return value
    return None


def can(actor: Actor, action: str, target: Any = None) -> bool:
    """Whether ``actor`` may perform ``action`` (on ``target``). Deny by default."""
    rule = RULES.get(action)
    if rule is None:
        return False
    if rule.audience == "public":
        return True
    if not actor.is_authenticated:
        return False
    if actor.scopes is not None and rule.scope not in actor.scopes:
        return False
    if rule.audience == "authenticated":
        return True
    if actor.roles & rule.global_roles:
        return True
    if rule.owner and (target is None or getattr(target, "user_id", None) == actor.user_id):
        return True
    if actor.roles & rule.org_roles:
        if target is None:
            return True
        path = _target_path(target)
        return bool(path and actor.org_path and path.startswith(actor.org_path))
    return False


def require(actor: Actor, action: str, target: Any = None) -> None:
    """Raise 401 for nobody, 403 for somebody not allowed; return when allowed."""
    if can(actor, action, target):
        return
    if not actor.is_authenticated and RULES.get(action) is not None:
        raise Unauthorized("auth.required", "login or an API token is required")
    rule = RULES.get(action)
    if rule is not None and actor.scopes is not None and rule.scope not in actor.scopes:
        raise Forbidden(
            "access.scope_missing",
            "this API token lacks scope {scope} needed for {action}",
            scope=rule.scope,
            action=action,
        )
    raise Forbidden("access.denied", "not allowed: {action}", action=action)
