"""Pydantic shapes of the identity API (what goes over the wire, not the tables)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from zhili.identity.models import ApiToken, Organization, User

T = TypeVar("T")


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class OrgOut(BaseModel):
    code: str
    name: str
    name_en: str | None
    level: str
    kind: str
    parent_code: str | None
    region_code: str | None

    @classmethod
    def of(cls, org: Organization) -> OrgOut:
        return cls(
            code=org.code,
            name=org.name,
            name_en=org.name_en,
            level=org.level,
            kind=org.kind,
            parent_code=org.parent.code if org.parent else None,
            region_code=org.region_code,
        )


class OrgIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = None
    level: str
    kind: str
    parent_code: str | None = None
    region_code: str | None = None
    geometry: dict[str, Any] | None = None


class Page(BaseModel, Generic[T]):
    total: int
    limit: int
    offset: int
    items: list[T]


class UserOut(BaseModel):
    username: str
    display_name: str
    org_code: str
    org_name: str
    roles: list[str]
    is_active: bool
    last_login_at: dt.datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            username=user.username,
            display_name=user.display_name,
            org_code=user.org.code,
            org_name=user.org.name,
            roles=sorted(user.roles),
            is_active=user.is_active,
            last_login_at=user.last_login_at,
        )


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(default="", max_length=100)
    org_code: str
    roles: list[str] = Field(default_factory=list)
    password: str = Field(min_length=1, max_length=200)


class UserPatch(BaseModel):
    roles: list[str] | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, max_length=200)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = None
    days: int = 90
    system: str | None = Field(default=None, max_length=100)
    username: str | None = Field(default=None, description="Owner; default yourself.")


class TokenOut(BaseModel):
    id: int
    prefix: str
    name: str
    username: str
    scopes: list[str]
    system: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    last_used_ip: str | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            prefix=token.prefix,
            name=token.name,
            username=token.user.username,
            scopes=list(token.scopes),
            system=token.system,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
            last_used_ip=token.last_used_ip,
        )


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret: shown this once, never again.")
