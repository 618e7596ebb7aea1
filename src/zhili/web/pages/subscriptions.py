"""The 订阅 card of the grant page and its forms: subscribe a callback URL (the secret is
shown once, on its own page), remove a subscription, redeliver a dead-lettered delivery.

Same services as ``web/api/subscriptions.py``. The paths sit outside
``/exchange/grants/{id}/…`` so they never meet the grant action form's route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.errors import ZhiliError
from zhili.exchange import grants as grant_service
from zhili.exchange import subscriptions as service
from zhili.exchange.models import Grant
from zhili.exchange.subscription_models import OPEN_DELIVERY
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
APPLY = [Depends(authorize("exchange.apply"))]

#: The badge of each delivery status (the exchange's state colours).
BADGES = {
    "pending": "state-submitted",
    "retrying": "state-needs_info",
    "delivered": "state-active",
    "dead": "overdue",
    "cancelled": "state-withdrawn",
}


def panel(session: Session, actor: Actor, grant: Grant) -> dict[str, Any]:
    """What the grant page's 订阅 card shows: the subscriptions with their latest
    deliveries, whether the actor may manage them, and where the changes feed starts."""
    subs = service.list_subscriptions(session, grant)
    current = grant.resource.current_version
    return {
        "items": subs,
        "deliveries": service.deliveries_by_subscription(session, subs),
        "can_subscribe": service.may_subscribe(actor, grant),
        "consumer": actor.org_id == grant.consumer_org_id,
        "badges": BADGES,
        "open": tuple(OPEN_DELIVERY),
        "since": max(current - 1, 0) if current is not None else None,
    }


def _created_page(
    request: Request, grant: Grant, status_code: int = 200, **context: Any
) -> Response:
    return render(
        request, "exchange_subscription.html", {"g": grant, **context}, status_code=status_code
    )


@router.post("/exchange/subscriptions", dependencies=APPLY)
def subscribe(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    grant_id: Annotated[int, Form()],
    url: Annotated[str, Form()] = "",
) -> Response:
    """Create the subscription and show its secret once (or the form again, with why)."""
    grant = grant_service.get_grant(session, actor, grant_id)
    try:
        sub, secret = service.create_subscription(session, actor, grant, url, settings)
    except ZhiliError as exc:
        session.rollback()
        return _created_page(
            request,
            grant_service.get_grant(session, actor, grant_id),
            status_code=exc.status,
            error=exc.message(locale),
            url=url,
        )
    session.commit()
    return _created_page(request, grant, sub=sub, secret=secret, status_code=201)


@router.post("/exchange/subscriptions/{subscription_id}/remove", dependencies=APPLY)
def remove(subscription_id: int, actor: CurrentActor, session: DbSession) -> Response:
    sub = service.get_subscription(session, actor, subscription_id)
    service.remove_subscription(session, actor, sub)
    session.commit()
    return RedirectResponse(f"/exchange/grants/{sub.grant_id}#subscriptions", status_code=303)


@router.post("/exchange/deliveries/{delivery_id}/redeliver", dependencies=APPLY)
def redeliver(delivery_id: int, actor: CurrentActor, session: DbSession) -> Response:
    delivery = service.get_delivery(session, actor, delivery_id)
    service.redeliver(session, actor, delivery)
    session.commit()
    grant_id = delivery.subscription.grant_id
    return RedirectResponse(f"/exchange/grants/{grant_id}#subscriptions", status_code=303)
