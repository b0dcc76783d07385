"""Conversations, analytics, logs and audit pages over HTTP, from seeded data."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI

from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations import service as conversations
from botyard.core import clock
from botyard.organizations.models import Organization
from tests.dashboard.helpers import login
from tests.factories import auth, make_bot, make_key, make_org, make_user


async def seed_conversations(app: FastAPI, org: Organization, bot: Bot) -> list[str]:
    """Three conversations on three days: two answered questions and one fallback."""
    async with app.state.sessionmaker() as session:
        session.add(
            KnowledgeEntry(
                organization_id=org.id,
                bot_id=bot.id,
                question="How do I reset my password?",
                answer="Use the reset link.",
                tags=[],
            )
        )
        await session.flush()
        bot = await session.merge(bot)
        ids = []
        now = clock.now()
        for days_ago, text in ((2, "reset my password"), (1, "password reset?"), (0, "pizza?")):
            at = now - timedelta(days=days_ago, minutes=5)
            conversation, _ = await conversations.start_conversation(
                session, bot, external_user_id=f"user-{days_ago}", at=at
            )
            await conversations.post_message(session, conversation, text, at=at)
            ids.append(conversation.id)
        await session.commit()
        return ids


def svg_marks(html: str, tag: str) -> int:
    return len(re.findall(rf"<{tag}\b", html))


def at_noon(frozen_clock: clock.FrozenClock) -> None:
    """Seeded "today" stays today whatever time the suite runs."""
    frozen_clock.set(frozen_clock.now().replace(hour=12, minute=0, second=0))


async def test_conversations_list_filters_and_transcript(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: clock.FrozenClock
) -> None:
    at_noon(frozen_clock)
    org = await make_org(app)
    bot, other = await make_bot(app, org, name="Main"), await make_bot(app, org, name="Other")
    ids = await seed_conversations(app, org, bot)
    await login(client, await make_user(app, org, "member"))
    page = (await client.get("/dashboard/conversations")).text
    assert all(f"/dashboard/conversations/{i}" in page for i in ids)
    filtered = (await client.get(f"/dashboard/conversations?bot_id={other.id}")).text
    assert "No conversations match" in filtered
    today = clock.now().date().isoformat()
    today_only = (await client.get(f"/dashboard/conversations?since={today}")).text
    assert f"/dashboard/conversations/{ids[2]}" in today_only
    assert f"/dashboard/conversations/{ids[0]}" not in today_only
    bad = await client.get("/dashboard/conversations?since=yesterday")
    assert bad.status_code == 400

    transcript = (await client.get(f"/dashboard/conversations/{ids[0]}")).text
    assert "reset my password" in transcript
    assert "Use the reset link." in transcript
    assert "How do I reset my password?" in transcript  # the entry that answered


async def test_closing_a_conversation(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    ids = await seed_conversations(app, org, await make_bot(app, org))
    csrf = await login(client, await make_user(app, org, "member"))
    closed = await client.post(
        f"/dashboard/conversations/{ids[0]}/close", data={"csrf_token": csrf}
    )
    assert closed.status_code == 303
    page = (await client.get(f"/dashboard/conversations/{ids[0]}")).text
    assert '<span class="badge closed">closed</span>' in page
    open_only = (await client.get("/dashboard/conversations?status=open")).text
    assert f"/dashboard/conversations/{ids[0]}" not in open_only


async def test_analytics_renders_totals_and_charts(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: clock.FrozenClock
) -> None:
    at_noon(frozen_clock)
    org = await make_org(app)
    bot = await make_bot(app, org)
    await seed_conversations(app, org, bot)
    await login(client, await make_user(app, org, "member"))
    page = (await client.get("/dashboard/analytics")).text
    assert 'id="total-conversations">3<' in page
    assert "67%" in page  # two of three replies answered from knowledge
    assert svg_marks(page, "svg") == 4
    assert svg_marks(page, "rect") >= 3 + 3 * 2  # conversation bars and stacked message bars
    assert svg_marks(page, "circle") >= 3
    for range_name in ("24h", "30d", "90d"):
        response = await client.get(f"/dashboard/analytics?range={range_name}&bot_id={bot.id}")
        assert response.status_code == 200
    assert (await client.get("/dashboard/analytics?bot_id=bot_nope")).status_code == 404


async def test_logs_show_usage_charts_and_filter_requests(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    key, plaintext = await make_key(app, org, name="Charted key")
    for _ in range(3):
        assert (await client.get("/v1/bots", headers=auth(plaintext))).status_code == 200
    assert (await client.get("/v1/bots/bot_missing", headers=auth(plaintext))).status_code == 404
    await app.state.request_log.flush()
    await login(client, await make_user(app, org, "admin"))
    page = (await client.get("/dashboard/logs")).text
    assert 'id="usage-total">4<' in page
    assert svg_marks(page, "svg") == 2
    assert svg_marks(page, "rect") >= 2
    assert "Charted key" in page and "2xx" in page and "4xx" in page
    assert page.count("<code>GET /v1/bots") == 4
    failures = (await client.get(f"/dashboard/logs?status=4xx&key_id={key.id}")).text
    assert failures.count("<code>GET /v1/bots/{bot_id}</code>") == 1
    assert "<code>GET /v1/bots</code>" not in failures
    bad = await client.get("/dashboard/logs?status=abc")
    assert bad.status_code == 400
    assert "status must be an HTTP status code" in bad.text


async def test_logs_and_audit_are_for_admins_and_owners(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    await login(client, await make_user(app, org, "member"))
    for path in ("/dashboard/logs", "/dashboard/audit"):
        response = await client.get(path)
        assert response.status_code == 403
        assert "Admins and Owners" in response.text


async def test_audit_lists_team_and_key_events_with_names(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    key, _ = await make_key(app, org, name="Audited key")
    csrf = await login(client, owner)
    await client.post(f"/dashboard/settings/api/keys/{key.id}/revoke", data={"csrf_token": csrf})
    await client.post(
        "/dashboard/settings/team/invitations",
        data={"csrf_token": csrf, "email": "audited@example.com", "role": "admin"},
    )
    page = (await client.get("/dashboard/audit")).text
    assert "API key revoked" in page and "Audited key" in page
    assert "Member invited" in page and "audited@example.com" in page
    assert "command line" in page  # the key was created by the CLI actor
    only = (await client.get("/dashboard/audit?action=member.invited")).text
    assert "API key revoked" not in only.split("<tbody>")[1]
