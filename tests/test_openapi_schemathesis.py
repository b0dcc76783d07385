"""The OpenAPI document tells the truth: an in-process schemathesis run over every /v1 operation.

With an admin key, schemathesis generates requests from the document itself (path, query,
headers and bodies), half of them on ids that exist, and checks that no answer is a server
error, that every status code is documented and that every body matches its schema. A second
test sends every operation that takes an id ids that do not exist: each answers 404.

SQLite only: the run exercises the application, not the database, and must stay short.
"""

from __future__ import annotations

import hashlib
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from botyard.bots.models import KnowledgeEntry
from botyard.conversations.models import Conversation
from botyard.core import clock
from botyard.main import create_app
from botyard.team.models import Invitation
from tests.conftest import make_settings
from tests.factories import make_bot, make_key, make_org, make_user
from tests.test_cross_org import KINDS, SAMPLE_BODIES, WIDGET_PREFIX, shape

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Known:
    """Objects of one organization whose ids are substituted into generated requests."""

    headers: dict[str, str]
    ids: dict[str, str]


@pytest.fixture
def sqlite_only(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("the schemathesis run uses the SQLite backend only")
    return database_url


@pytest.fixture
async def known(app: FastAPI, sqlite_only: str) -> Known:
    org = await make_org(app, rate_limit=1_000_000)
    _, admin = await make_key(app, org, ["admin"])
    target_key, _ = await make_key(app, org, ["read"])
    bot = await make_bot(app, org)
    member = await make_user(app, org, "member")
    await make_user(app, org, "owner")
    async with app.state.sessionmaker() as session:
        entry = KnowledgeEntry(
            organization_id=org.id, bot_id=bot.id, question="Opening hours?", answer="9 to 5."
        )
        conversation = Conversation(organization_id=org.id, bot_id=bot.id)
        invitation = Invitation(
            organization_id=org.id,
            email="invitee@example.com",
            role="member",
            token_hash=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
            expires_at=clock.now() + timedelta(days=7),
        )
        session.add_all([entry, conversation, invitation])
        await session.commit()
        ids = {
            "bot": bot.id,
            "knowledge": entry.id,
            "conversation": conversation.id,
            "key": target_key.id,
            "user": member.id,
            "invitation": invitation.id,
        }
    return Known({"Authorization": f"Bearer {admin}"}, ids)


@pytest.fixture
def schema(sqlite_only: str) -> Iterator[Any]:
    """A separate app on the same database: schemathesis serves it from its own event loop."""
    application = create_app(make_settings(sqlite_only))
    yield schemathesis.openapi.from_asgi("/openapi.json", application)
    asgi.shutdown_lifespans()


def v1_operations(schema: Any) -> list[Any]:
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/v1/")
    ]
    # Deletions last, so the known objects exist for as long as possible.
    return sorted(operations, key=lambda op: (op.method.upper() == "DELETE", op.path, op.method))


def known_path_parameters(operation: Any, known: Known) -> dict[str, str]:
    names = [p.name for p in operation.path_parameters]
    return {name: known.ids[KINDS[name]] for name in names if KINDS.get(name) in known.ids}


def test_every_operation_conforms_to_its_schema(schema: Any, known: Known) -> None:
    failures: list[str] = []
    operations = v1_operations(schema)
    assert len(operations) >= 30, [op.label for op in operations]
    for operation in operations:
        strategies = [operation.as_strategy()]
        fixed = known_path_parameters(operation, known)
        if fixed:
            strategies.append(operation.as_strategy(path_parameters=fixed))

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=known.headers, checks=CHECKS)

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
        except (Exception, BaseExceptionGroup) as exc:  # report every operation's failures
            failures.append(f"{operation.label}:\n{exc}")
    assert not failures, "\n\n".join(failures)


def test_unknown_ids_answer_404_on_every_operation_that_takes_one(
    schema: Any, known: Known
) -> None:
    checked = []
    for operation in v1_operations(schema):
        names = [p.name for p in operation.path_parameters]
        if not names or operation.path.startswith(WIDGET_PREFIX):
            continue  # widget routes take a publishable key: tests/widget checks their 404s
        missing = {
            name: f"{known.ids[KINDS[name]].split('_')[0]}_doesNotExist0000000" for name in names
        }
        body = SAMPLE_BODIES.get((operation.method.upper(), shape(operation.path)))
        case = operation.Case(
            path_parameters=missing,
            headers=known.headers,
            **({"body": body, "media_type": "application/json"} if body is not None else {}),
        )
        response = case.call()
        assert response.status_code == 404, (operation.label, response.text)
        assert response.json()["error"]["code"] == "resource_missing", operation.label
        checked.append(operation.label)
    assert len(checked) >= 15, checked


async def test_the_document_declares_bearer_keys_scopes_and_conventions(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
    ]
    assert len(operations) >= 30
    for method, path, operation in operations:
        label = f"{method.upper()} {path}"
        (requirement,) = operation["security"]
        if path.startswith(WIDGET_PREFIX):
            assert requirement == {"PublishableKey": []}, label
            assert operation["description"].startswith("**Key:** a publishable key"), label
            continue
        scopes = requirement["ApiKey"]
        assert scopes in ([], ["read"], ["write"], ["admin"]), label
        expected = f"`{scopes[0]}`" if scopes else "any valid API key"
        assert operation["description"].startswith(f"**Scope:** {expected}"), label
        for status in ("401", "403", "422", "429"):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (label, status)
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if method == "post":
            assert "Idempotency-Key" in headers, label
        if method == "get":
            assert "If-None-Match" in headers and "304" in operation["responses"], label
    assert "HTTPValidationError" not in document["components"]["schemas"]

    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert 'id="swagger-ui"' in docs.text
