"""The OpenAPI document tells the truth: an in-process schemathesis run over every /v1 operation.

With an admin key, schemathesis generates requests from the document itself (path, query,
headers and bodies), half of them on ids that exist, and checks that no answer is a server
error, that every status code is documented and that every body matches its schema. A second
test sends every operation that takes an id ids that do not exist: each answers 404.

SQLite only: the run exercises the application, not the database, and must stay short.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
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
UNAUTHENTICATED = {"/v1/credentials/revoke", "/v1/secret-scanning/github"}
"""Where whoever finds a leaked key reports it: no key is needed (GitHub's scheme)."""
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
def schema(sqlite_only: str, tmp_path: Path) -> Iterator[Any]:
    """A separate app on the same database: schemathesis serves it from its own event loop.

    GitHub secret scanning is configured (with a key pair of the test's own), as an operator
    who offers it would: unconfigured, the endpoint answers 503 by design.
    """
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys_file = tmp_path / "github-keys.json"
    keys_file.write_text(
        json.dumps({"public_keys": [{"key_identifier": "k1", "key": pem.decode()}]})
    )
    application = create_app(make_settings(sqlite_only, secret_scanning_keys=str(keys_file)))
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


STATEFUL_SCENARIOS = 30
STATEFUL_STEPS = 6
STATEFUL_RUNS = 6
STATEFUL_LINKED_STEPS = 40
"""Steps that followed a link (with the created object's id filled in) a run must take."""


def test_stateful_runs_along_the_documents_links(schema: Any, known: Known) -> None:
    """Sequences of calls that follow the OpenAPI links: create, then act on what was created.

    Only the document's own links are followed (schemathesis' guesses are switched off), so
    the run checks that they lead somewhere real: each link's target must be reached with the
    created object's id at least once, and no step may answer a server error or break its
    operation's documented schema.
    """
    schema.config.phases.stateful.inference.algorithms = []
    followed: dict[str, int] = {}
    failures: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: Any) -> Any:
            if (
                input.transition is not None
                and input.is_applied
                and not input.transition.is_inferred
            ):
                followed[input.case.operation.label] = (
                    followed.get(input.case.operation.label, 0) + 1
                )
            return super().step(input)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": known.headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, headers=known.headers)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{case.operation.label}: {exc}")

    # Steps depend on what earlier ones created in the shared database, so Hypothesis may
    # find that a scenario it is generating no longer draws as a previous one did, and stop
    # that run (FlakyStrategyDefinition). Every step taken until then was checked above;
    # further runs, each from a new seed, go on until the step budget is spent.
    for _ in range(STATEFUL_RUNS):
        with warnings.catch_warnings(), contextlib.suppress(FlakyStrategyDefinition):
            warnings.simplefilter("ignore")
            Workflow.run(
                settings=settings(
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=STATEFUL_STEPS,
                    phases=[Phase.generate],  # no shrinking: a replay would not draw the same
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
        if sum(followed.values()) >= STATEFUL_LINKED_STEPS:
            break
    assert not failures, "\n\n".join(failures[:10])
    families = {label.split(" ", 1)[1].split("}", 1)[0] + "}" for label in followed}
    assert {"/v1/bots/{bot_id}", "/v1/api-keys/{key_id}"} <= families, followed
    assert len(followed) >= 5, followed
    assert sum(followed.values()) >= STATEFUL_LINKED_STEPS, followed


def test_every_creation_links_to_what_can_be_done_with_its_object(
    client: httpx.AsyncClient,
) -> None:
    """The links the stateful run follows, checked against the route table itself."""
    document = client._transport.app.openapi()  # type: ignore[attr-defined]
    paths = document["paths"]
    operation_ids = {op["operationId"] for item in paths.values() for op in item.values()}
    links = {
        path: item["post"]["responses"]["201"].get("links", {})
        for path, item in paths.items()
        if "201" in item.get("post", {}).get("responses", {}) and not path.startswith("/v1/widget/")
    }
    for path, found in links.items():
        for name, link in found.items():
            assert link["operationId"] in operation_ids, (path, name)
            assert "$response.body#/id" in link["parameters"].values(), (path, name)
    assert len(links["/v1/bots"]) >= 10
    assert {"get_conversation_v1_conversations__conversation_id__get"} <= set(
        links["/v1/bots/{bot_id}/conversations"]
    )


BODIES = {
    **SAMPLE_BODIES,
    ("PATCH", "/v1/api-keys/{}"): {"name": "Renamed"},
    ("PATCH", "/v1/webhooks/{}"): {"description": "Renamed"},
}
"""Valid bodies, so that the answer is the 404 of the id rather than a 422 of the body."""

OTHER_ID_PREFIXES = {"webhook_id": "wh", "delivery_id": "dlv"}
"""Prefixes of ids whose objects ``known`` does not build (only a well-formed id is needed)."""


def id_prefix(name: str, known: Known) -> str:
    if KINDS.get(name) in known.ids:
        return known.ids[KINDS[name]].split("_")[0]
    assert name in OTHER_ID_PREFIXES, f"add the id prefix of {name!r} to OTHER_ID_PREFIXES"
    return OTHER_ID_PREFIXES[name]


def test_unknown_ids_answer_404_on_every_operation_that_takes_one(
    schema: Any, known: Known
) -> None:
    checked = []
    for operation in v1_operations(schema):
        names = [p.name for p in operation.path_parameters]
        if not names or operation.path.startswith(WIDGET_PREFIX):
            continue  # widget routes take a publishable key: tests/widget checks their 404s
        missing = {name: f"{id_prefix(name, known)}_doesNotExist0000000" for name in names}
        body = BODIES.get((operation.method.upper(), shape(operation.path)))
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
        if "security" not in operation:
            assert path in UNAUTHENTICATED, label
            continue
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
