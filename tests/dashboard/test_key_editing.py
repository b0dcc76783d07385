"""Settings > API: a key's row edits its name, IP allow-list and limit (issue 16 item 11),
a rotation's pair is labelled as one (item 13), and a plan without API access says who can
change it and what each plan gives (item 12)."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from tests.dashboard.helpers import keys_of, login
from tests.factories import auth, make_key, make_org, make_user

PAGE = "/dashboard/settings/api"


def from_address(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_an_admin_edits_the_allow_list_and_limit_from_the_key_row(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    key, plaintext = await make_key(app, org, allowed_ips=["198.51.100.0/24"])
    csrf = await login(client, await make_user(app, org, "admin"))
    page = await client.get(PAGE)
    assert f'href="/dashboard/settings/api/keys/{key.id}/edit"' in page.text

    form = await client.get(f"/dashboard/settings/api/keys/{key.id}/edit")
    assert "198.51.100.0/24" in form.text and 'name="rate_limit"' in form.text
    saved = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/edit",
        data={
            "csrf_token": csrf,
            "name": "Office server",
            "allowed_ips": "203.0.113.0/24\n192.0.2.7",
            "rate_limit": "40",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200, saved.text
    assert "Saved “Office server”" in saved.text
    [stored] = [k for k in await keys_of(app, org) if k.id == key.id]
    assert stored.allowed_ips == ["203.0.113.0/24", "192.0.2.7/32"]
    assert (stored.rate_limit, stored.name) == (40, "Office server")
    async with from_address(app, "203.0.113.50") as office:
        answer = await office.get("/v1/me", headers=auth(plaintext))
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-RateLimit-Limit"] == "40"

    bad = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/edit",
        data={"csrf_token": csrf, "name": "Office server", "allowed_ips": "the office"},
    )
    assert bad.status_code == 400
    assert "not an IP address or CIDR range" in bad.text

    cleared = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/edit",
        data={"csrf_token": csrf, "name": "Office server", "allowed_ips": "", "rate_limit": ""},
    )
    assert cleared.status_code == 303
    [stored] = [k for k in await keys_of(app, org) if k.id == key.id]
    assert (stored.allowed_ips, stored.rate_limit) == (None, None)


async def test_members_cannot_edit_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    key, _ = await make_key(app, org)
    csrf = await login(client, await make_user(app, org, "member"))
    refused = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/edit",
        data={"csrf_token": csrf, "name": "Mine now"},
    )
    assert refused.status_code == 403
    [stored] = await keys_of(app, org)
    assert stored.name == key.name


async def test_a_rotated_pair_is_labelled_old_and_new(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    key, _ = await make_key(app, org, name="Billing sync")
    csrf = await login(client, await make_user(app, org, "owner"))
    await client.post(
        f"/dashboard/settings/api/keys/{key.id}/rotate", data={"csrf_token": csrf, "grace": "1h"}
    )
    page = (await client.get(PAGE)).text
    [successor] = [k for k in await keys_of(app, org) if k.rotated_from == key.id]
    new_row = page[page.index(f'id="{successor.id}"') :].split("</tr>")[0]
    old_row = page[page.index(f'id="{key.id}"') :].split("</tr>")[0]
    assert f"replaces <code>{key.hint}</code>" in new_row
    assert re.search(r"rotated, expires", old_row), old_row
    assert "/edit" not in old_row, "a rotated key is no longer edited"


async def test_a_free_owner_learns_who_sets_plans_and_what_each_gives(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, plan="free")
    await login(client, await make_user(app, org, "owner"))
    page = (await client.get(PAGE)).text
    assert f'botyard orgs set-plan "{org.name}" professional' in page
    assert "operator of the server sets plans" in page
    assert page.count("API access is not included in the Free plan") == 1
    plans = page[page.index('id="plans"') :].split("</table>")[0]
    rows = re.findall(r"<tr[^>]*><td>(\w+).*?</td><td>Yes</td><td>(Yes|No)</td></tr>", plans)
    assert rows == [
        ("Free", "No"),
        ("Starter", "No"),
        ("Professional", "Yes"),
        ("Enterprise", "Yes"),
    ]
