"""Every error's doc_url leads to a real page on this server with that code's row."""

import httpx

CONTRACT_CODES = [
    "missing_api_key",
    "malformed_authorization_header",
    "malformed_api_key",
    "unknown_api_key",
    "api_key_expired",
    "api_key_revoked",
    "api_key_in_url",
    "missing_scope",
    "plan_required",
    "ip_not_allowed",
    "rate_limit_exceeded",
]


async def test_reference_lists_every_contract_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/errors")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for code in CONTRACT_CODES:
        assert f'id="{code}"' in response.text, code


async def test_doc_url_points_at_the_reference(client: httpx.AsyncClient) -> None:
    error = (await client.get("/v1/bots")).json()["error"]
    assert error["doc_url"].endswith("/docs/errors#missing_api_key")
