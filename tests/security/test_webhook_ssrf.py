"""Webhook URLs may not reach the server's own network: every address class is refused, at
creation (through the API) and at delivery, after resolving the name (DNS rebinding)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from botyard.webhooks import ssrf
from tests.factories import auth, make_key, make_org

REFUSED = {
    "loopback": "https://127.0.0.1/hook",
    "loopback, another address of the block": "https://127.8.9.10:8443/hook",
    "IPv6 loopback": "https://[::1]/hook",
    "private 10/8": "https://10.0.0.5/hook",
    "private 172.16/12": "https://172.16.3.4/hook",
    "private 192.168/16": "https://192.168.1.1/hook",
    "IPv6 unique local": "https://[fd12:3456::1]/hook",
    "link-local": "https://169.254.10.20/hook",
    "IPv6 link-local": "https://[fe80::1]/hook",
    "metadata": "https://169.254.169.254/latest/meta-data/",
    "IPv6 metadata (AWS)": "https://[fd00:ec2::254]/hook",
    "CGNAT": "https://100.64.0.1/hook",
    "CGNAT metadata (Alibaba)": "https://100.100.100.200/hook",
    "unspecified": "https://0.0.0.0/hook",
    "IPv6-mapped IPv4 loopback": "https://[::ffff:127.0.0.1]/hook",
    "IPv6-mapped IPv4 private": "https://[::ffff:10.1.2.3]/hook",
    "IPv6-mapped metadata": "https://[::ffff:169.254.169.254]/hook",
    "NAT64 of loopback": "https://[64:ff9b::7f00:1]/hook",
    "6to4 of private": "https://[2002:c0a8:0101::1]/hook",
    "multicast": "https://224.0.0.1/hook",
    "hostname resolving to 127.0.0.1": "https://localhost/hook",
    "plain http": "http://93.184.215.14/hook",
    "credentials in the URL": "https://user:pw@93.184.215.14/hook",
}


async def admin_headers(app: FastAPI) -> dict[str, str]:
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["admin"])
    return auth(plaintext)


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
async def test_each_address_class_is_refused_at_creation(
    app: FastAPI, client: httpx.AsyncClient, url: str
) -> None:
    headers = await admin_headers(app)
    response = await client.post("/v1/webhooks", headers=headers, json={"url": url})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_webhook_url", "url")


async def test_an_update_to_a_private_url_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = await admin_headers(app)
    created = await client.post(
        "/v1/webhooks", headers=headers, json={"url": "https://93.184.215.14/hook"}
    )
    assert created.status_code == 201
    response = await client.patch(
        f"/v1/webhooks/{created.json()['id']}",
        headers=headers,
        json={"url": "https://192.168.0.10/hook"},
    )
    assert response.json()["error"]["code"] == "invalid_webhook_url"


def resolving_to(*addresses: str) -> ssrf.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "addresses",
    [("127.0.0.1",), ("93.184.215.14", "10.0.0.1"), ("::ffff:127.0.0.1",), ("100.64.1.1",)],
)
async def test_a_name_is_refused_when_any_address_it_resolves_to_is_not_public(
    addresses: tuple[str, ...],
) -> None:
    with pytest.raises(ssrf.UnsafeURL, match="resolves to"):
        await ssrf.vet(
            "https://hooks.example.com/x", allow_private=False, resolver=resolving_to(*addresses)
        )


async def test_a_public_name_is_allowed_and_pinned_to_the_checked_address() -> None:
    target = await ssrf.vet(
        "https://hooks.example.com:8443/x",
        allow_private=False,
        resolver=resolving_to("93.184.215.14"),
    )
    assert (target.host, target.port, target.address) == (
        "hooks.example.com",
        8443,
        "93.184.215.14",
    )


async def test_the_private_network_setting_lifts_both_rules() -> None:
    target = await ssrf.vet("http://127.0.0.1:9/hook", allow_private=True)
    assert target.address == "127.0.0.1"
    with pytest.raises(ssrf.UnsafeURL):
        await ssrf.vet("ftp://127.0.0.1/hook", allow_private=True)
