"""No organization reaches another's data: a test generated from the app's own route table.

Organization A gets one object of every kind (bot, knowledge entry, conversation with messages,
API key, team member, invitation); organization B gets the same and an admin key. Then, for
every /v1 route that takes an id, B's key is used with A's ids, and with well-formed ids that
do not exist: both must answer the same 404 (body identical apart from the request id). Lists,
logs, the audit log and analytics of B never show anything of A, even when filtered by A's ids.
A's rows, read straight from the database, are the same before and after all of B's calls.

Nothing here names the routes: a new route with an id is exercised as soon as it exists, and
fails the suite unless it is scoped to the caller's organization. A new kind of id parameter
fails the suite until ``KINDS`` says which object it names.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

import botyard.models  # noqa: F401  (every table registered in the metadata)
from botyard.core import clock
from botyard.core.database import Base
from botyard.core.ids import new_id
from botyard.core.timefmt import rfc3339
from tests.factories import auth, make_key, make_org, make_user, unique

PARAM = re.compile(r"\{([^}]+)\}")

KINDS = {
    "bot_id": "bot",
    "kb_id": "knowledge",
    "conversation_id": "conversation",
    "key_id": "key",
    "usr_id": "user",
    "user_id": "user",
    "invitation_id": "invitation",
    "actor_id": "key",
    "target_id": "key",
    "webhook_id": "webhook",
    "delivery_id": "delivery",
}
"""Which object an id parameter (in a path or a query filter) names."""

SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/bots/{}"): {"name": "Taken over"},
    ("PATCH", "/v1/bots/{}/settings"): {"welcome_message": "Taken over"},
    ("POST", "/v1/bots/{}/knowledge"): {"question": "Planted?", "answer": "Planted."},
    ("PATCH", "/v1/bots/{}/knowledge/{}"): {"answer": "Taken over"},
    ("POST", "/v1/bots/{}/conversations"): {"external_user_id": "intruder"},
    ("POST", "/v1/conversations/{}/messages"): {"text": "hello from another organization"},
    ("PATCH", "/v1/conversations/{}"): {"status": "closed"},
    ("POST", "/v1/bots/{}/publishable-keys"): {"allowed_origins": ["https://intruder.example"]},
    ("PATCH", "/v1/team/members/{}"): {"role": "admin"},
    ("POST", "/v1/api-keys/{}/rotate"): {"grace_period": 0},
    ("PATCH", "/v1/webhooks/{}"): {"description": "Taken over"},
}
"""Valid bodies, so that a refusal is the 404 of the id and not a 422 of the body."""


def shape(path: str) -> str:
    return PARAM.sub("{}", path)


@dataclass
class Tenant:
    org_id: str
    admin_key: str
    admin_key_id: str
    ids: dict[str, str] = field(default_factory=dict)
    marker: str = ""
    user_ids: set[str] = field(default_factory=set)
    key_ids: set[str] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.admin_key)


async def build_tenant(app: FastAPI, client: httpx.AsyncClient) -> Tenant:
    """One object of every kind, made through the API where the API makes them."""
    org = await make_org(app)
    admin, plaintext = await make_key(app, org, ["admin"])
    tenant = Tenant(org.id, plaintext, admin.id, marker=unique("marker").replace(" ", "-"))
    headers = tenant.headers

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(path, headers=headers, json=body)
        assert response.status_code == 201, (path, response.text)
        return dict(response.json())

    bot = await post("/v1/bots", {"name": f"Bot {tenant.marker}"})
    knowledge = await post(
        f"/v1/bots/{bot['id']}/knowledge",
        {"question": f"What is {tenant.marker}?", "answer": f"{tenant.marker} is a secret."},
    )
    conversation = await post(
        f"/v1/bots/{bot['id']}/conversations", {"external_user_id": f"user-{tenant.marker}"}
    )
    await post(
        f"/v1/conversations/{conversation['id']}/messages", {"text": f"What is {tenant.marker}?"}
    )
    key = await post("/v1/api-keys", {"name": f"Key {tenant.marker}", "scopes": ["read"]})
    invitation = await post("/v1/team/members", {"email": f"{uuid_part(tenant)}@example.com"})
    member = await make_user(app, org, "member")
    owner = await make_user(app, org, "owner")
    webhook = await post(
        "/v1/webhooks",
        {"url": "https://93.184.215.14/hooks", "description": f"Hook {tenant.marker}"},
    )
    test = await client.post(f"/v1/webhooks/{webhook['id']}/test", headers=headers)
    assert test.status_code == 202, test.text
    # Disabled, so no delivery worker of another test ever tries to send it.
    paused = await client.patch(
        f"/v1/webhooks/{webhook['id']}", headers=headers, json={"enabled": False}
    )
    assert paused.status_code == 200, paused.text
    tenant.ids = {
        "webhook": webhook["id"],
        "delivery": test.json()["id"],
        "bot": bot["id"],
        "knowledge": knowledge["id"],
        "conversation": conversation["id"],
        "key": key["id"],
        "user": member.id,
        "invitation": invitation["id"],
    }
    tenant.user_ids = {member.id, owner.id}
    tenant.key_ids = {admin.id, key["id"]}
    return tenant


def uuid_part(tenant: Tenant) -> str:
    return tenant.marker.rsplit("-", 1)[-1] + "-invitee"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: tuple[str, ...]
    query_ids: tuple[str, ...]
    has_body: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _query_names(dependant: Dependant) -> list[str]:
    names = [p.alias for p in dependant.query_params]
    for sub in dependant.dependencies:
        names.extend(_query_names(sub))
    return names


WIDGET_PREFIX = "/v1/widget/"


def v1_routes(app: FastAPI) -> list[Route]:
    routes = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        path = context.path or ""
        if not isinstance(original, APIRoute) or not path.startswith("/v1/"):
            continue
        if path.startswith(WIDGET_PREFIX):
            continue  # a publishable key's routes (tests/widget covers their tenancy)
        dependant = getattr(context, "dependant", None) or original.dependant
        body = getattr(context, "body_field", None) or original.body_field
        query_ids = tuple(n for n in _query_names(dependant) if n.endswith("_id"))
        for method in sorted(context.methods or original.methods or ()):
            if method == "HEAD":
                continue
            routes.append(
                Route(method, path, tuple(PARAM.findall(path)), query_ids, body is not None)
            )
    assert routes, "no /v1 route found in the app's route table"
    return routes


def kind_of(param: str, route: Route) -> str:
    kind = KINDS.get(param)
    assert kind is not None, (
        f"{route.label} takes {param!r}, which this test cannot fill: add it to KINDS with the "
        "kind of object it names (and build one in build_tenant if it is a new kind)."
    )
    return kind


def nonexistent(real_id: str) -> str:
    return new_id(real_id.split("_", 1)[0])


def without_request_id(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    body.get("error", {}).pop("request_id", None)
    return response.status_code, body


async def call(
    client: httpx.AsyncClient, tenant: Tenant, route: Route, values: dict[str, str]
) -> httpx.Response:
    url = route.path
    for name, value in values.items():
        url = url.replace("{" + name + "}", value)
    body = SAMPLE_BODIES.get((route.method, shape(route.path)), {} if route.has_body else None)
    return await client.request(route.method, url, headers=tenant.headers, json=body)


async def a_rows(app: FastAPI, a: Tenant) -> dict[str, list[str]]:
    """Every row of A's, in every table, as sorted JSON text (flushed request log included)."""
    await app.state.request_log.flush()
    rows: dict[str, list[str]] = {}
    async with app.state.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            columns = table.c
            if "organization_id" in columns:
                condition = columns["organization_id"] == a.org_id
            elif table.name == "organizations":
                condition = columns["id"] == a.org_id
            elif table.name == "users":
                condition = columns["id"].in_(a.user_ids)
            elif "user_id" in columns:
                condition = columns["user_id"].in_(a.user_ids)
            elif "key_id" in columns:
                condition = columns["key_id"].in_(a.key_ids)
            elif "delivery_id" in columns:
                condition = columns["delivery_id"] == a.ids["delivery"]
            else:
                raise AssertionError(f"table {table.name} is not covered: say whose rows it holds")
            result = await session.execute(select(table).where(condition))
            rows[table.name] = sorted(
                json.dumps(dict(r._mapping), default=str, sort_keys=True) for r in result
            )
    return rows


async def test_another_organizations_ids_answer_exactly_like_missing_ones(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await build_tenant(app, client)
    b = await build_tenant(app, client)
    before = await a_rows(app, a)
    checked: list[str] = []
    for route in v1_routes(app):
        if not route.params:
            continue
        kinds = {p: kind_of(p, route) for p in route.params}
        variants: list[tuple[dict[str, str], dict[str, str]]] = [
            (
                {p: a.ids[k] for p, k in kinds.items()},
                {p: nonexistent(a.ids[k]) for p, k in kinds.items()},
            )
        ]
        if len(kinds) > 1:
            for target in kinds:
                own = {p: b.ids[k] for p, k in kinds.items()}
                variants.append(
                    (
                        {**own, target: a.ids[kinds[target]]},
                        {**own, target: nonexistent(a.ids[kinds[target]])},
                    )
                )
        for foreign, missing in variants:
            foreign_response = await call(client, b, route, foreign)
            missing_response = await call(client, b, route, missing)
            assert missing_response.status_code == 404, (
                f"{route.label} with ids that do not exist answered {missing_response.status_code}"
                f" {missing_response.text}; if it needs a body, add one to SAMPLE_BODIES"
            )
            assert without_request_id(foreign_response) == without_request_id(missing_response), (
                f"{route.label} with another organization's ids {foreign} answered "
                f"{foreign_response.status_code} {foreign_response.text}"
            )
            assert a.marker not in foreign_response.text
        checked.append(route.label)
    assert len(checked) >= 10, checked
    assert await a_rows(app, a) == before, "B's calls changed A's rows"


async def test_lists_logs_audit_and_analytics_never_show_another_organization(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await build_tenant(app, client)
    b = await build_tenant(app, client)
    assert (await client.get("/v1/bots", headers=a.headers)).status_code == 200
    await app.state.request_log.flush()
    a_values = [a.marker, a.org_id, *a.ids.values(), *a.user_ids, *a.key_ids]
    b_values = [b.marker, b.org_id, *b.ids.values(), *b.user_ids, *b.key_ids]
    checked: list[str] = []
    for route in v1_routes(app):
        if route.method != "GET" or route.params:
            continue
        queries: list[dict[str, str]] = [{}]
        for name in route.query_ids:
            queries.append({name: a.ids[kind_of(name, route)]})
        for params in queries:
            response = await client.get(route.path, headers=b.headers, params=params)
            assert response.status_code in (200, 404), (route.label, params, response.text)
            text = response.text
            if params:
                # Filtering by A's id answers as filtering by an id that does not exist.
                ((name, value),) = params.items()
                ghost = nonexistent(value)
                missing = await client.get(route.path, headers=b.headers, params={name: ghost})
                placeholder = "<id>"
                foreign_body = without_request_id(response)
                missing_body = without_request_id(missing)
                assert json.loads(json.dumps(foreign_body).replace(value, placeholder)) == (
                    json.loads(json.dumps(missing_body).replace(ghost, placeholder))
                ), (route.label, params, response.text, missing.text)
                text = text.replace(value, placeholder)
            leaked = [v for v in a_values if v in text]
            assert not leaked, f"{route.label} {params} shows A's {leaked}"
            if not params and response.json().get("object") == "list":
                assert any(v in response.text for v in b_values), (
                    f"{route.label} lists nothing of B's own, so it proves nothing"
                )
            checked.append(f"{route.label} {params}")
    assert any(label.startswith("GET /v1/analytics") for label in checked), checked
    assert len(checked) >= 8, checked


async def test_another_organizations_activity_leaves_analytics_unchanged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await build_tenant(app, client)
    b = await build_tenant(app, client)
    now = clock.now()
    period = {
        "from": rfc3339(now - timedelta(days=2)),
        "to": rfc3339(now + timedelta(days=2)),
        "interval": "day",
    }

    async def analytics(tenant: Tenant) -> httpx.Response:
        return await client.get("/v1/analytics", headers=tenant.headers, params=period)

    b_before = await analytics(b)
    a_before = await analytics(a)
    assert b_before.status_code == a_before.status_code == 200, b_before.text
    conversation = await client.post(
        f"/v1/bots/{a.ids['bot']}/conversations", headers=a.headers, json={}
    )
    for text in itertools.islice(itertools.cycle(["hi", "What is it?", "thanks"]), 5):
        await client.post(
            f"/v1/conversations/{conversation.json()['id']}/messages",
            headers=a.headers,
            json={"text": text},
        )
    assert (await analytics(a)).json() != a_before.json()
    assert (await analytics(b)).json() == b_before.json()
