"""The notifier's API: subscriptions (CRUD, pause, test send) and deliveries (list, retry).

Destinations are shown redacted: an email address as is, a URL without its
path (where webhook secrets live), a routing key by its first characters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from services.notifier.bootstrap import NotifierServices
from services.notifier.service_layer.subscriptions import (
    SubscriptionService,
    SubscriptionSpec,
    SubscriptionUpdate,
    redact_target,
)
from services.notifier.service_layer.unit_of_work import (
    DeliveryFilter,
    DeliveryRow,
    SubscriptionRow,
)
from shared.service.errors import ErrorBody

subscriptions = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])
deliveries = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A field is invalid (details name it)."},
    404: {"model": ErrorBody, "description": "No such subscription or delivery."},
}


def _service(request: Request) -> SubscriptionService:
    svc: NotifierServices = request.app.state.notifier
    return SubscriptionService(svc.uow_factory, svc.settings.webhook_allowed_hosts)


Service = Annotated[SubscriptionService, Depends(_service)]


class Subscription(BaseModel):
    id: str
    paused: bool
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SubscriptionPage(BaseModel):
    items: list[Subscription]
    next_token: str | None


class Delivery(BaseModel):
    id: str
    rule_id: str
    channel: str
    target: str
    execution: str | None
    phase: str | None
    alert: str
    status: str
    attempts: int
    digest: bool
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_token: str | None


class TestSend(BaseModel):
    deliveries: list[str]


def _subscription(row: SubscriptionRow) -> Subscription:
    spec = dict(row.spec)
    spec["channels"] = [
        {"kind": c["kind"], "target": redact_target(c["kind"], c["target"])}
        for c in spec.get("channels", [])
    ]
    return Subscription(
        id=row.rule_id,
        paused=row.paused,
        spec=spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.delivery_id,
        rule_id=row.rule_id,
        channel=row.channel,
        target=redact_target(row.channel, row.target),
        execution=row.execution,
        phase=row.phase,
        alert=row.alert,
        status=row.status,
        attempts=row.attempts,
        digest=row.digest_window is not None,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
    )


@subscriptions.post(
    "", status_code=201, response_model=Subscription, responses=_ERRORS, summary="Subscribe"
)
async def create_subscription(spec: SubscriptionSpec, svc: Service) -> Subscription:
    return _subscription(await svc.create(spec))


@subscriptions.get("", response_model=SubscriptionPage, summary="Subscriptions, newest first")
async def list_subscriptions(
    svc: Service,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    token: str | None = None,
) -> SubscriptionPage:
    page = await svc.page(limit, token)
    return SubscriptionPage(
        items=[_subscription(r) for r in page.items], next_token=page.next_token
    )


@subscriptions.get("/{subscription_id}", response_model=Subscription, responses=_ERRORS)
async def get_subscription(subscription_id: str, svc: Service) -> Subscription:
    return _subscription(await svc.get(subscription_id))


@subscriptions.put(
    "/{subscription_id}", response_model=Subscription, responses=_ERRORS, summary="Replace"
)
async def replace_subscription(
    subscription_id: str, spec: SubscriptionSpec, svc: Service
) -> Subscription:
    return _subscription(await svc.replace(subscription_id, spec))


@subscriptions.patch(
    "/{subscription_id}", response_model=Subscription, responses=_ERRORS, summary="Pause or resume"
)
async def pause_subscription(
    subscription_id: str, update: SubscriptionUpdate, svc: Service
) -> Subscription:
    return _subscription(await svc.set_paused(subscription_id, update.paused))


@subscriptions.delete("/{subscription_id}", status_code=204, responses=_ERRORS)
async def delete_subscription(subscription_id: str, svc: Service) -> None:
    await svc.delete(subscription_id)


@subscriptions.post(
    "/{subscription_id}/test",
    status_code=202,
    response_model=TestSend,
    responses=_ERRORS,
    summary="Send a sample alert to each channel",
)
async def test_subscription(subscription_id: str, svc: Service) -> TestSend:
    return TestSend(deliveries=await svc.test_send(subscription_id))


@deliveries.get("", response_model=DeliveryPage, summary="Deliveries, newest first")
async def list_deliveries(
    svc: Service,
    execution: Annotated[str | None, Query(description="project/domain/name")] = None,
    rule: Annotated[str | None, Query(description="A subscription id or launch plan rule")] = None,
    channel: str | None = None,
    status: Annotated[str | None, Query(pattern="^(pending|sent|failed|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    token: str | None = None,
) -> DeliveryPage:
    page = await svc.deliveries(
        DeliveryFilter(execution=execution, rule_id=rule, channel=channel, status=status),
        limit,
        token,
    )
    return DeliveryPage(items=[_delivery(r) for r in page.items], next_token=page.next_token)


@deliveries.get("/{delivery_id}", response_model=Delivery, responses=_ERRORS)
async def get_delivery(delivery_id: str, svc: Service) -> Delivery:
    return _delivery(await svc.delivery(delivery_id))


@deliveries.post(
    "/{delivery_id}/retry",
    response_model=Delivery,
    responses={**_ERRORS, 409: {"model": ErrorBody, "description": "Not dead."}},
    summary="Send a dead delivery again",
)
async def retry_delivery(delivery_id: str, svc: Service) -> Delivery:
    return _delivery(await svc.retry(delivery_id))
