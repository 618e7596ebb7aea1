"""Who is acting: a user through a browser session, a machine through an API token, or
nobody (anonymous). Built once per request by the web edge, passed to every service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Actor:
    """The subject of an access decision. ``scopes`` is None for a browser session (all
    of the user's roles apply) and the token's scopes for a machine."""

    kind: Literal["anonymous", "user", "token"]
    user_id: int | None = None
    username: str | None = None
    org_id: int | None = None
    org_path: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] | None = None
    token_id: int | None = None
    system: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    def has_role(self, role: str) -> bool:
        return role in self.roles


ANONYMOUS = Actor(kind="anonymous")


def system_actor(username: str = "system") -> Actor:
    """The platform itself (CLI administration, demo seeding): a platform admin."""
    return Actor(kind="user", username=username, roles=frozenset({"platform_admin"}))
