"""The event workflow as data: which action moves an event from which states to which,
who may take it, what it needs, and which stage's clock runs in each state.

intake → 立案 register (or reject) → 吹哨 dispatch → 报到 acknowledge → 处置 in progress →
handled → 核查 verify on site → 结案 close. A department may return an event to the
command centre, a commander may transfer it to other departments, a failed on-site check
reopens it, and a duplicate is merged into the event it repeats. Keeping this a table
lets the pages offer exactly the actions the service will accept.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhili.apps.grid.event_models import EventState as S

#: which stage's time limit runs in a state (the stages of the category's time limits)
STAGE_OF: dict[str, str | None] = {
    S.reported: "register",
    S.registered: "dispatch",
    S.dispatched: "acknowledge",
    S.acknowledged: "handle",
    S.in_progress: "handle",
    S.handled: "verify",
    S.verified: None,
    S.rejected: None,
    S.closed: None,
    S.merged: None,
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One action of the workflow.

    ``role``: who takes it — ``command`` (the event's command centre: policy
    ``grid.command``), ``handle`` (a department it was dispatched to: ``grid.handle``),
    ``verify`` (its grid's workers or commanders: ``grid.verify``). ``reason``: a note is
    required. ``departments``: the action names departments (and a lead).
    """

    action: str
    sources: frozenset[str]
    target: str
    role: str
    reason: bool = False
    departments: bool = False
    photos: bool = False


def _t(action: str, sources: set[str], target: str, role: str, **kw: bool) -> Transition:
    return Transition(action, frozenset(sources), target, role, **kw)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("register", {S.reported}, S.registered, "command"),
        _t("reject", {S.reported}, S.rejected, "command", reason=True),
        _t("dispatch", {S.registered}, S.dispatched, "command", departments=True),
        _t(
            "transfer",
            {S.dispatched, S.acknowledged, S.in_progress},
            S.dispatched,
            "command",
            reason=True,
            departments=True,
        ),
        _t("merge", {S.reported, S.registered}, S.merged, "command", reason=True),
        _t("acknowledge", {S.dispatched}, S.acknowledged, "handle"),
        _t("return", {S.dispatched, S.acknowledged}, S.registered, "handle", reason=True),
        _t("start", {S.acknowledged}, S.in_progress, "handle"),
        _t("handle", {S.acknowledged, S.in_progress}, S.handled, "handle", photos=True),
        _t("verify", {S.handled}, S.verified, "verify", photos=True),
        _t("reopen", {S.handled}, S.in_progress, "verify", reason=True, photos=True),
        _t("close", {S.verified}, S.closed, "command"),
    )
}

#: the policy action behind each role
POLICY = {"command": "grid.command", "handle": "grid.handle", "verify": "grid.verify"}

#: actions the system itself records (no one chooses them on a page)
SYSTEM_ACTIONS = ("report", "escalate", "rate", "follow")


def actions_from(state: str) -> list[Transition]:
    """The actions that can be taken on an event in ``state``, in workflow order."""
    return [t for t in TRANSITIONS.values() if state in t.sources]
