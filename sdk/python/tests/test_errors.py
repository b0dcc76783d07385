"""Error answers become one exception class per kind, carrying the API's envelope."""

from __future__ import annotations

import httpx
import pytest

from botyard_sdk import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    Botyard,
    BotyardError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from sdk_support import API_KEY, FakeServer, Script, envelope, sync_client


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, APIError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, APIError),
        (503, APIError),
    ],
)
def test_each_status_maps_to_its_exception_with_the_envelope(
    status: int, kind: type[APIError]
) -> None:
    answer = envelope(
        status,
        "some_code",
        "Something precise.",
        type="some_type",
        param="name",
        request_id="req_abc",
        doc_url="http://botyard.test/docs/errors#some_code",
    )
    with sync_client(Script(answer), max_retries=0) as client, pytest.raises(APIError) as raised:
        client.bots.create(name="x")
    error = raised.value
    assert type(error) is kind
    assert (error.status, error.type, error.code) == (status, "some_type", "some_code")
    assert (error.message, error.param, error.request_id) == (
        "Something precise.",
        "name",
        "req_abc",
    )
    assert error.doc_url == "http://botyard.test/docs/errors#some_code"
    assert (
        str(error) == f"{status} some_code: Something precise. (param: name) [request_id: req_abc]"
    )


def test_invalid_api_key_and_insufficient_permissions_are_told_apart() -> None:
    expired = envelope(
        401,
        "api_key_expired",
        "Invalid API Key: this key expired at 2026-05-01T00:00:00Z.",
        type="invalid_api_key",
    )
    scope = envelope(
        403,
        "missing_scope",
        "Insufficient Permissions: this endpoint needs the write scope.",
        type="insufficient_permissions",
    )
    with sync_client(Script(expired, scope)) as client:
        with pytest.raises(AuthenticationError) as invalid:
            client.bots.list().first_page()
        with pytest.raises(PermissionDeniedError) as denied:
            client.bots.create(name="x")
    assert invalid.value.message.startswith("Invalid API Key:")
    assert invalid.value.code == "api_key_expired"
    assert denied.value.message.startswith("Insufficient Permissions:")
    assert denied.value.code == "missing_scope"
    assert not isinstance(invalid.value, PermissionDeniedError)


def test_an_answer_outside_the_envelope_still_gives_status_and_request_id() -> None:
    proxy = httpx.Response(502, text="<html>Bad gateway</html>", headers={"X-Request-Id": "req_px"})
    with sync_client(Script(proxy), max_retries=0) as client, pytest.raises(APIError) as raised:
        client.me()
    assert raised.value.status == 502
    assert raised.value.code is None
    assert raised.value.request_id == "req_px"
    assert "Bad gateway" in raised.value.message


def test_a_success_that_is_not_json_is_an_api_error() -> None:
    with (
        sync_client(Script(httpx.Response(200, text="oops"))) as client,
        pytest.raises(APIError, match="not JSON"),
    ):
        client.me()


def test_every_api_error_is_a_botyard_error_and_connection_errors_are_api_errors() -> None:
    assert issubclass(APIError, BotyardError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, APIError)


def test_a_real_timeout_is_api_timeout_error() -> None:
    with FakeServer() as server:
        server.answer(200, {}, delay=0.6)
        with (
            Botyard(API_KEY, server.url, timeout=0.2, max_retries=0) as client,
            pytest.raises(APITimeoutError),
        ):
            client.me()


def test_an_unreachable_server_is_api_connection_error() -> None:
    with FakeServer() as server:
        url = server.url
    with Botyard(API_KEY, url, max_retries=0) as client, pytest.raises(APIConnectionError):
        client.me()


def test_empty_ids_are_refused_before_any_request() -> None:
    script = Script(httpx.Response(200, json={}))
    with sync_client(script) as client:
        with pytest.raises(ValueError, match="bot_id"):
            client.bots.retrieve("")
        with pytest.raises(ValueError, match="kb_id"):
            client.bots.knowledge.delete("bot_1", "")
    assert script.requests == []


def test_ids_are_escaped_into_the_path() -> None:
    script = Script(envelope(404, "resource_missing", "No such bot.", type="not_found"))
    with sync_client(script) as client, pytest.raises(NotFoundError):
        client.bots.retrieve("../api-keys")
    assert script.requests[0].url.raw_path == b"/v1/bots/..%2Fapi-keys"
