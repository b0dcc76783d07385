"""Settings > Webhooks over HTTP: add with chosen events (the secret shown once), the SSRF rule,
deliveries with the receiver's answers, resend, test, rotate, disable; members kept out."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from botyard.conversations import service as conversations
from botyard.core.secretbox import app_secret_box
from botyard.organizations.models import Organization
from botyard.webhooks.worker import DeliveryWorker
from tests.dashboard.helpers import login
from tests.factories import make_bot, make_org, make_user
from tests.webhooks.receiver import Answer, running_receiver
from tests.webhooks.support import PUBLIC_URL, delete_endpoints, deliveries_of, make_endpoint

PAGE = "/dashboard/settings/webhooks"
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{44}")


async def test_add_an_endpoint_with_chosen_events_and_see_the_secret_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "admin"))
    page = await client.get(PAGE)
    assert page.status_code == 200 and "Add an endpoint" in page.text
    added = await client.post(
        PAGE,
        data={
            "csrf_token": csrf,
            "url": PUBLIC_URL,
            "description": "CRM",
            "events": ["conversation.created", "message.unanswered"],
        },
    )
    assert added.status_code == 200
    (secret,) = set(SECRET.findall(added.text))
    assert "shown only now" in added.text
    assert "conversation.created, message.unanswered" in added.text
    again = await client.get(PAGE)
    assert secret not in again.text and PUBLIC_URL in again.text

    refused = await client.post(
        PAGE, data={"csrf_token": csrf, "url": "https://10.0.0.8/hook", "events": ["*"]}
    )
    assert refused.status_code == 400 and "private address" in refused.text
    nothing = await client.post(PAGE, data={"csrf_token": csrf, "url": PUBLIC_URL})
    assert nothing.status_code == 422 and "Choose at least one event" in nothing.text


async def test_deliveries_show_answers_and_can_be_resent_tested_rotated_and_disabled(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "owner"))
    try:
        await check_deliveries_page(app, client, org, csrf)
    finally:
        await delete_endpoints(app, org)


async def check_deliveries_page(
    app: FastAPI, client: httpx.AsyncClient, org: Organization, csrf: str
) -> None:
    with running_receiver() as receiver:
        receiver.answer_with(Answer(503, b"maintenance until noon"))
        endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
        bot = await make_bot(app, org)
        async with app.state.sessionmaker() as session:
            await conversations.start_conversation(session, bot)
            await session.commit()
        worker = DeliveryWorker(
            app.state.sessionmaker, lambda: app_secret_box(app.state), allow_private=True
        )
        await worker.run_once()
        await worker.close()
        path = f"{PAGE}/{endpoint.id}"
        page = (await client.get(path)).text
        assert "HTTP 503" in page and "maintenance until noon" in page
        (delivery,) = await deliveries_of(app, endpoint.id)

        resent = await client.post(
            f"{path}/deliveries/{delivery.id}/retry", data={"csrf_token": csrf}
        )
        assert resent.status_code == 303
        (delivery,) = await deliveries_of(app, endpoint.id)
        assert delivery.status == "pending" and delivery.next_attempt_at is not None

        tested = await client.post(f"{path}/test", data={"csrf_token": csrf})
        assert tested.status_code == 303
        assert {d.event_type for d in await deliveries_of(app, endpoint.id)} == {
            "conversation.created",
            "webhook.test",
        }
        rotated = await client.post(f"{path}/rotate", data={"csrf_token": csrf})
        assert len(set(SECRET.findall(rotated.text))) == 1

        chosen = await client.post(f"{path}/events", data={"csrf_token": csrf, "events": ["*"]})
        assert chosen.status_code == 303
        disabled = await client.post(
            f"{path}/enabled", data={"csrf_token": csrf, "enabled": "false"}, follow_redirects=True
        )
        assert "Endpoint disabled" in disabled.text and "Disabled" in disabled.text
        listing = (await client.get(PAGE)).text
        assert "All events" in listing and "Disabled" in listing


async def test_members_cannot_manage_webhooks(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    await login(client, await make_user(app, org, "member"))
    assert (await client.get(PAGE)).status_code == 403
