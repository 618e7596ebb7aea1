"""API tokens: issue (the secret is in this one response only), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from zhili.access import SCOPES
from zhili.identity import tokens
from zhili.web.api.schemas import NewTokenOut, TokenIn, TokenOut
from zhili.web.deps import CurrentActor, DbSession, authorize

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])
GUARD = [Depends(authorize("token.manage"))]


@router.get("", dependencies=GUARD)
def list_tokens(actor: CurrentActor, session: DbSession, username: str | None = None) -> dict:
    owner = username or actor.username or ""
    items = [TokenOut.of(t) for t in tokens.list_tokens(session, actor, owner)]
    return {"items": items, "scopes": SCOPES}


@router.post("", dependencies=GUARD, status_code=201)
def create_token(body: TokenIn, actor: CurrentActor, session: DbSession) -> NewTokenOut:
    issued = tokens.create_token(
        session,
        actor,
        username=body.username or actor.username or "",
        name=body.name,
        scopes=body.scopes,
        days=body.days,
        system=body.system,
    )
    return NewTokenOut(**TokenOut.of(issued.token).model_dump(), token=issued.plaintext)


@router.delete("/{token_id}", dependencies=GUARD)
def revoke_token(token_id: int, actor: CurrentActor, session: DbSession) -> TokenOut:
    return TokenOut.of(tokens.revoke_token(session, actor, token_id))
