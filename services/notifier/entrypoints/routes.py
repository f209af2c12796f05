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
from shared.auth.dependency import Authenticated
from shared.auth.principal import Principal
from shared.auth.roles import ALL_PROJECTS, Role
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


def _plain(glob: str) -> bool:
    return not any(char in glob for char in "*?[")


def _rule_scope(spec: Any) -> tuple[str, str | None]:
    """A subscription's project and domain for access control.

    A glob other than one plain project name reaches projects the principal may
    not see: it needs a grant on ``*``.
    """
    fields = spec if isinstance(spec, dict) else spec.model_dump()
    project, domain = str(fields.get("project", "*")), str(fields.get("domain", "*"))
    if not _plain(project):
        return ALL_PROJECTS, None
    return project, domain if _plain(domain) else None


def _delivery_scope(row: DeliveryRow) -> tuple[str, str | None]:
    """The project and domain of the delivery's execution (``*``: a test send, no execution)."""
    parts = (row.execution or "").split("/")
    return (parts[0], parts[1]) if len(parts) == 3 else (ALL_PROJECTS, None)


def _require(principal: Principal, role: Role, scope: tuple[str, str | None]) -> None:
    principal.require(role, *scope)


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
async def create_subscription(
    spec: SubscriptionSpec, svc: Service, principal: Authenticated
) -> Subscription:
    _require(principal, Role.EDITOR, _rule_scope(spec))
    return _subscription(await svc.create(spec))


@subscriptions.get("", response_model=SubscriptionPage, summary="Subscriptions, newest first")
async def list_subscriptions(
    svc: Service,
    principal: Authenticated,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    token: str | None = None,
) -> SubscriptionPage:
    page = await svc.page(limit, token)
    # Only those the principal may read (a page may hold fewer than limit).
    readable = [r for r in page.items if principal.can(Role.VIEWER, *_rule_scope(r.spec))]
    return SubscriptionPage(items=[_subscription(r) for r in readable], next_token=page.next_token)


@subscriptions.get("/{subscription_id}", response_model=Subscription, responses=_ERRORS)
async def get_subscription(
    subscription_id: str, svc: Service, principal: Authenticated
) -> Subscription:
    row = await svc.get(subscription_id)
    _require(principal, Role.VIEWER, _rule_scope(row.spec))
    return _subscription(row)


@subscriptions.put(
    "/{subscription_id}", response_model=Subscription, responses=_ERRORS, summary="Replace"
)
async def replace_subscription(
    subscription_id: str, spec: SubscriptionSpec, svc: Service, principal: Authenticated
) -> Subscription:
    _require(principal, Role.EDITOR, _rule_scope((await svc.get(subscription_id)).spec))
    _require(principal, Role.EDITOR, _rule_scope(spec))
    return _subscription(await svc.replace(subscription_id, spec))


@subscriptions.patch(
    "/{subscription_id}", response_model=Subscription, responses=_ERRORS, summary="Pause or resume"
)
async def pause_subscription(
    subscription_id: str, update: SubscriptionUpdate, svc: Service, principal: Authenticated
) -> Subscription:
    _require(principal, Role.EDITOR, _rule_scope((await svc.get(subscription_id)).spec))
    return _subscription(await svc.set_paused(subscription_id, update.paused))


@subscriptions.delete("/{subscription_id}", status_code=204, responses=_ERRORS)
async def delete_subscription(subscription_id: str, svc: Service, principal: Authenticated) -> None:
    _require(principal, Role.EDITOR, _rule_scope((await svc.get(subscription_id)).spec))
    await svc.delete(subscription_id)


@subscriptions.post(
    "/{subscription_id}/test",
    status_code=202,
    response_model=TestSend,
    responses=_ERRORS,
    summary="Send a sample alert to each channel",
)
async def test_subscription(
    subscription_id: str, svc: Service, principal: Authenticated
) -> TestSend:
    _require(principal, Role.EDITOR, _rule_scope((await svc.get(subscription_id)).spec))
    return TestSend(deliveries=await svc.test_send(subscription_id))


@deliveries.get("", response_model=DeliveryPage, summary="Deliveries, newest first")
async def list_deliveries(
    svc: Service,
    principal: Authenticated,
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
    # Only those the principal may read (a page may hold fewer than limit).
    readable = [r for r in page.items if principal.can(Role.VIEWER, *_delivery_scope(r))]
    return DeliveryPage(items=[_delivery(r) for r in readable], next_token=page.next_token)


@deliveries.get("/{delivery_id}", response_model=Delivery, responses=_ERRORS)
async def get_delivery(delivery_id: str, svc: Service, principal: Authenticated) -> Delivery:
    row = await svc.delivery(delivery_id)
    _require(principal, Role.VIEWER, _delivery_scope(row))
    return _delivery(row)


@deliveries.post(
    "/{delivery_id}/retry",
    response_model=Delivery,
    responses={**_ERRORS, 409: {"model": ErrorBody, "description": "Not dead."}},
    summary="Send a dead delivery again",
)
async def retry_delivery(delivery_id: str, svc: Service, principal: Authenticated) -> Delivery:
    _require(principal, Role.EDITOR, _delivery_scope(await svc.delivery(delivery_id)))
    return _delivery(await svc.retry(delivery_id))
