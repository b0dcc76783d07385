"""Issue 17.13: a key in the URL is refused however the URL spells it, and never reaches the
access log, plainly or percent-encoded.

Before: ``/v1/bots?byk_…`` (the key as a parameter's name) was served, and ``?x=%62yk_…`` was
refused but written whole to uvicorn's access log."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from botyard.api_keys.models import ApiKey
from tests.factories import auth, make_key, make_org
from tests.security.support import Server, serve_sqlite


def _percent_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


def smuggled(key: str) -> dict[str, str]:
    """Query strings that each carry ``key`` somewhere the old check did not look."""
    body = key.removeprefix("byk_")
    return {
        "name": key,
        "name with a value": f"{key}=1&limit=5",
        "encoded name": f"{_percent_encoded('byk_')}{body}=x",
        "encoded value": f"x=%62yk_{body}",
        "fully encoded value": f"x={_percent_encoded(key)}",
        "doubly encoded value": f"x={quote(_percent_encoded(key))}",
        "encoded parameter name": f"%6Bey={body}",
        "plus for space": f"q=hello+{key}",
    }


async def test_every_spelling_of_a_key_in_the_query_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for label in smuggled("byk_" + "A" * 38):
        key_row, key = await make_key(app, await make_org(app))
        response = await client.get(f"/v1/bots?{smuggled(key)[label]}", headers=auth(key))
        assert response.status_code == 401, (label, response.text)
        assert response.json()["error"]["code"] == "api_key_in_url", label
        assert key not in response.text and key[4:] not in response.text, label
        if label != "encoded parameter name":  # `key=` without the key's prefix
            await app.state.request_log.flush()
            async with app.state.sessionmaker() as session:
                stored = await session.get(ApiKey, key_row.id)
                assert stored is not None and stored.exposed_in_url_at is not None, label

    _, key = await make_key(app, await make_org(app))
    assert (await client.get("/v1/bots?limit=5", headers=auth(key))).status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_sqlite(tmp_path_factory.mktemp("serve-key-in-url"))


@pytest.mark.slow
def test_the_access_log_never_holds_the_key(server: Server) -> None:
    org = server.cli.ok("orgs", "create", "Leaky", "--plan", "professional").stdout.strip()
    key = server.cli.ok(
        "keys", "create", "--org", org, "--name", "Leaky", "--scope", "read"
    ).stdout.strip()
    body = key.removeprefix("byk_")
    sent = 0
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for label, query in smuggled(key).items():
            response = client.get(f"/v1/bots?{query}")
            assert response.status_code == 401, label
            sent += 1
        # The path too, encoded where the access log re-encodes it.
        assert client.get(f"/v1/bots/{_percent_encoded(key)}").status_code == 401
        sent += 1
    log = server.log.read_text()
    assert log.count("/v1/bots") >= sent, log  # the lines are there, redacted
    assert body not in log and body[-12:] not in log
    assert _percent_encoded(body[:12]) not in log
    assert "[redacted]" in log
