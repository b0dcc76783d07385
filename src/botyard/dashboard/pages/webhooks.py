"""Settings > Webhooks: add endpoints and choose their events, see every delivery with the
receiver's answers, resend, rotate the signing secret, disable and enable.

Everything goes through the webhooks service, so the SSRF rule and the audit log apply here
exactly as over the API. A new or rotated secret is shown once, in the response to the form.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.core.secretbox import app_secret_box
from botyard.dashboard.deps import CurrentManager, DashboardContext, not_found
from botyard.dashboard.web import DashboardRoute, redirect, render
from botyard.webhooks import service
from botyard.webhooks.events import ALL_EVENTS, EVENT_TYPES
from botyard.webhooks.models import WebhookEndpoint

router = APIRouter(route_class=DashboardRoute)

PAGE_URL = "/dashboard/settings/webhooks"
PAGE_SIZE = 100
DELIVERIES_SHOWN = 50
CHOOSABLE = [t for t in EVENT_TYPES if t != "webhook.test"]
"""``webhook.test`` is sent by the button, to one endpoint, whatever it subscribes to."""
NOTICES = {
    "disabled": "Endpoint disabled: nothing is sent to it until you enable it.",
    "enabled": "Endpoint enabled: due deliveries are sent again.",
    "tested": "A webhook.test event is on its way.",
    "resent": "The delivery is being sent again, with the same webhook-id.",
}


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_urls)


async def list_page(
    request: Request,
    session: AsyncSession,
    context: DashboardContext,
    *,
    error: str | None = None,
    notice: str | None = None,
    secret: dict[str, Any] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    endpoints, _, _ = await service.list_endpoints(
        session, context.organization_id, limit=PAGE_SIZE, cursor=None
    )
    return render(
        request,
        "dashboard/settings_webhooks.html",
        context,
        status_code=status_code,
        active="webhooks",
        endpoints=endpoints,
        event_types=CHOOSABLE,
        error=error,
        notice=notice,
        secret=secret,
        form=form or {"url": "", "description": "", "events": [ALL_EVENTS]},
    )


async def endpoint_of(
    session: AsyncSession, context: DashboardContext, endpoint_id: str
) -> WebhookEndpoint:
    try:
        return await service.get_endpoint(session, context.organization_id, endpoint_id)
    except APIError:
        raise not_found("webhook endpoint") from None


async def endpoint_page(
    request: Request,
    session: AsyncSession,
    context: DashboardContext,
    endpoint: WebhookEndpoint,
    *,
    error: str | None = None,
    notice: str | None = None,
    secret: str | None = None,
    status_code: int = 200,
) -> Response:
    deliveries, has_more, _ = await service.list_deliveries(
        session, endpoint, limit=DELIVERIES_SHOWN, cursor=None
    )
    attempts = await service.attempts_of(session, [d.id for d in deliveries])
    return render(
        request,
        "dashboard/webhook.html",
        context,
        status_code=status_code,
        active="webhooks",
        endpoint=endpoint,
        deliveries=[(d, attempts[d.id]) for d in deliveries],
        more=has_more,
        event_types=CHOOSABLE,
        error=error,
        notice=notice,
        secret=secret,
    )


@router.get("/settings/webhooks")
async def show_webhooks(
    request: Request, session: DBSession, context: CurrentManager, done: str | None = None
) -> Response:
    return await list_page(request, session, context, notice=NOTICES.get(done or ""))


@router.post("/settings/webhooks")
async def add_webhook(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    chosen = events or []
    form = {"url": url, "description": description, "events": chosen}
    wanted = [ALL_EVENTS] if ALL_EVENTS in chosen else [e for e in chosen if e in EVENT_TYPES]
    if not wanted:
        return await list_page(
            request,
            session,
            context,
            error="Choose at least one event, or All events.",
            form=form,
            status_code=422,
        )
    try:
        endpoint, secret = await service.create_endpoint(
            session,
            app_secret_box(request.app.state),
            context.organization_id,
            url=url.strip(),
            events_wanted=wanted,
            description=description[:500],
            enabled=True,
            actor=context.actor,
            allow_private=_allow_private(request),
        )
    except APIError as exc:
        return await list_page(
            request, session, context, error=exc.message, form=form, status_code=exc.status_code
        )
    return await list_page(
        request, session, context, secret={"endpoint": endpoint, "value": secret}
    )


@router.get("/settings/webhooks/{endpoint_id}")
async def show_webhook(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    endpoint_id: str,
    done: str | None = None,
) -> Response:
    endpoint = await endpoint_of(session, context, endpoint_id)
    return await endpoint_page(request, session, context, endpoint, notice=NOTICES.get(done or ""))


@router.post("/settings/webhooks/{endpoint_id}/enabled")
async def set_enabled(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    endpoint_id: str,
    enabled: Annotated[str, Form()],
) -> Response:
    endpoint = await endpoint_of(session, context, endpoint_id)
    turn_on = enabled == "true"
    await service.update_endpoint(
        session,
        endpoint,
        actor=context.actor,
        allow_private=_allow_private(request),
        enabled=turn_on,
    )
    return redirect(f"{PAGE_URL}/{endpoint.id}?done={'enabled' if turn_on else 'disabled'}")


@router.post("/settings/webhooks/{endpoint_id}/events")
async def set_events(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    endpoint_id: str,
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    endpoint = await endpoint_of(session, context, endpoint_id)
    chosen = events or []
    wanted = [ALL_EVENTS] if ALL_EVENTS in chosen else [e for e in chosen if e in EVENT_TYPES]
    if not wanted:
        return await endpoint_page(
            request,
            session,
            context,
            endpoint,
            error="Choose at least one event, or All events.",
            status_code=422,
        )
    await service.update_endpoint(
        session,
        endpoint,
        actor=context.actor,
        allow_private=_allow_private(request),
        events_wanted=wanted,
    )
    return redirect(f"{PAGE_URL}/{endpoint.id}")


@router.post("/settings/webhooks/{endpoint_id}/rotate")
async def rotate_secret(
    request: Request, session: DBSession, context: CurrentManager, endpoint_id: str
) -> Response:
    endpoint = await endpoint_of(session, context, endpoint_id)
    secret = await service.rotate_secret(
        session, app_secret_box(request.app.state), endpoint, context.actor
    )
    return await endpoint_page(request, session, context, endpoint, secret=secret)


@router.post("/settings/webhooks/{endpoint_id}/test")
async def send_test(
    request: Request, session: DBSession, context: CurrentManager, endpoint_id: str
) -> Response:
    endpoint = await endpoint_of(session, context, endpoint_id)
    try:
        await service.send_test(session, endpoint)
    except APIError as exc:
        return await endpoint_page(
            request, session, context, endpoint, error=exc.message, status_code=exc.status_code
        )
    return redirect(f"{PAGE_URL}/{endpoint.id}?done=tested")


@router.post("/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry")
async def resend(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    endpoint_id: str,
    delivery_id: str,
) -> Response:
    endpoint = await endpoint_of(session, context, endpoint_id)
    try:
        delivery = await service.get_delivery(session, endpoint, delivery_id)
        await service.retry_delivery(session, endpoint, delivery)
    except APIError as exc:
        if exc.status_code == 404:
            raise not_found("delivery") from None
        return await endpoint_page(
            request, session, context, endpoint, error=exc.message, status_code=exc.status_code
        )
    return redirect(f"{PAGE_URL}/{endpoint.id}?done=resent")
