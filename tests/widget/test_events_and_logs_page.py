"""Widget conversations raise the conversations service's webhook events, and the dashboard's
request log marks widget traffic."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.dashboard.helpers import login
from tests.factories import make_user
from tests.webhooks.support import PUBLIC_URL, deliveries_of, make_endpoint
from tests.widget.support import QUESTION, make_site, start


async def test_a_widget_conversation_fires_the_conversation_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    endpoint, _ = await make_endpoint(app, site.org, PUBLIC_URL)
    started = await start(client, site)
    path = f"/v1/widget/conversations/{started['conversation']['id']}/messages"
    posted = await client.post(
        path, headers=site.headers(**{"X-Visitor-Token": started["visitor_token"]}),
        json={"text": QUESTION},
    )  # fmt: skip
    assert posted.status_code == 201
    types = [d.event_type for d in await deliveries_of(app, endpoint.id)]
    assert types.count("conversation.created") == 1
    assert types.count("message.created") >= 2  # the visitor's message and the bot's reply
    assert all(
        started["visitor_token"] not in str(d.__dict__)
        for d in await deliveries_of(app, endpoint.id)
    )


async def test_the_dashboard_log_marks_widget_requests(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    await start(client, site)
    await app.state.request_log.flush()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await login(browser, await make_user(app, site.org, "owner"))
        page = await browser.get("/dashboard/logs")
    assert page.status_code == 200
    assert 'class="badge widget"' in page.text
    assert "Shop (publishable byp_" in page.text
