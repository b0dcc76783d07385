"""Every /v1 route, taken from the app's own route table, needs exactly the contract's scope.

The contract (DESIGN.md, "Endpoints") is written out below. A route the app serves but the
table does not know fails the suite, so nobody can add an unscoped or wrongly scoped route;
a route the table knows but the app lacks fails ``test_every_contract_route_exists``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from botyard.api_keys.deps import authenticate, required_scopes
from botyard.audit.service import CLI_ACTOR
from botyard.bots.models import KnowledgeEntry
from botyard.conversations.models import Conversation
from botyard.core.ids import new_id
from botyard.widget import service as widget
from botyard.widget.deps import uses_publishable_key
from tests.factories import auth, make_bot, make_key, make_org, make_user

ANY = "any"
PUBLIC = "public"
"""Routes that take no key at all, by design (whoever found a leaked key reports it)."""
PUBLISHABLE = "publishable"
"""Widget routes: a publishable key only; every secret key is refused (secret_key_in_browser)."""
SCOPE_RANK = {ANY: 0, "read": 1, "write": 2, "admin": 3}
KEY_KINDS = ("read", "write", "admin")

CONTRACT: dict[tuple[str, str], str] = {
    ("GET", "/v1/me"): ANY,
    ("GET", "/v1/rate_limit"): ANY,
    ("GET", "/v1/bots"): "read",
    ("GET", "/v1/bots/{bot_id}"): "read",
    ("POST", "/v1/bots"): "write",
    ("PATCH", "/v1/bots/{bot_id}"): "write",
    ("DELETE", "/v1/bots/{bot_id}"): "write",
    ("GET", "/v1/bots/{bot_id}/settings"): "read",
    ("PATCH", "/v1/bots/{bot_id}/settings"): "write",
    ("GET", "/v1/bots/{bot_id}/knowledge"): "read",
    ("POST", "/v1/bots/{bot_id}/knowledge"): "write",
    ("GET", "/v1/bots/{bot_id}/knowledge/{kb_id}"): "read",
    ("PATCH", "/v1/bots/{bot_id}/knowledge/{kb_id}"): "write",
    ("DELETE", "/v1/bots/{bot_id}/knowledge/{kb_id}"): "write",
    ("GET", "/v1/conversations"): "read",
    ("GET", "/v1/conversations/{conversation_id}"): "read",
    ("GET", "/v1/conversations/{conversation_id}/messages"): "read",
    ("POST", "/v1/bots/{bot_id}/conversations"): "write",
    ("POST", "/v1/conversations/{conversation_id}/messages"): "write",
    ("PATCH", "/v1/conversations/{conversation_id}"): "write",
    ("GET", "/v1/analytics"): "read",
    ("GET", "/v1/team/members"): "admin",
    ("POST", "/v1/team/members"): "admin",
    ("PATCH", "/v1/team/members/{user_id}"): "admin",
    ("DELETE", "/v1/team/members/{user_id}"): "admin",
    ("GET", "/v1/api-keys"): "admin",
    ("POST", "/v1/api-keys"): "admin",
    ("GET", "/v1/api-keys/{key_id}"): "admin",
    ("DELETE", "/v1/api-keys/{key_id}"): "admin",
    ("PATCH", "/v1/api-keys/{key_id}"): "admin",
    ("POST", "/v1/api-keys/{key_id}/rotate"): "admin",
    ("GET", "/v1/webhooks"): "admin",
    ("POST", "/v1/webhooks"): "admin",
    ("GET", "/v1/webhooks/{webhook_id}"): "admin",
    ("PATCH", "/v1/webhooks/{webhook_id}"): "admin",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "admin",
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): "admin",
    ("POST", "/v1/webhooks/{webhook_id}/test"): "admin",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "admin",
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): "admin",
    ("POST", "/v1/credentials/revoke"): PUBLIC,
    ("POST", "/v1/secret-scanning/github"): PUBLIC,
    ("GET", "/v1/logs"): "admin",
    ("GET", "/v1/logs/usage"): "admin",
    ("GET", "/v1/audit-log"): "admin",
    # Beyond the endpoint table: pending invitations are team management, which DESIGN.md's
    # scope list gives to `admin`.
    ("GET", "/v1/team/invitations"): "admin",
    ("DELETE", "/v1/team/invitations/{invitation_id}"): "admin",
    # Part 2, publishable keys and the website widget: managed with a write key; the
    # identity secret is as sensitive as a key, so admin (DESIGN.md names it so).
    ("GET", "/v1/bots/{bot_id}/publishable-keys"): "write",
    ("POST", "/v1/bots/{bot_id}/publishable-keys"): "write",
    ("DELETE", "/v1/bots/{bot_id}/publishable-keys/{key_id}"): "write",
    ("POST", "/v1/bots/{bot_id}/publishable-keys/{key_id}/rotate"): "write",
    ("GET", "/v1/bots/{bot_id}/identity-secret"): "admin",
    ("POST", "/v1/bots/{bot_id}/identity-secret/rotate"): "admin",
    ("GET", "/v1/widget/config"): PUBLISHABLE,
    ("POST", "/v1/widget/conversations"): PUBLISHABLE,
    ("GET", "/v1/widget/conversations/{conversation_id}/messages"): PUBLISHABLE,
    ("POST", "/v1/widget/conversations/{conversation_id}/messages"): PUBLISHABLE,
}

PARAM = re.compile(r"\{[^}]*\}")


def shape(path: str) -> str:
    """A template with its parameter names erased: the contract fixes paths, not param names."""
    return PARAM.sub("{}", path)


CONTRACT_BY_SHAPE = {(method, shape(path)): scope for (method, path), scope in CONTRACT.items()}


@dataclass(frozen=True)
class V1Route:
    method: str
    path: str
    dependant: Dependant

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def contract_scope(self) -> str | None:
        return CONTRACT_BY_SHAPE.get((self.method, shape(self.path)))


def v1_routes(app: FastAPI) -> list[V1Route]:
    """Every (method, path) the app answers under /v1/, from its own route table."""
    routes = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        path = context.path or ""
        if not isinstance(original, APIRoute) or not path.startswith("/v1/"):
            continue
        dependant = getattr(context, "dependant", None) or original.dependant
        for method in sorted(context.methods or original.methods or ()):
            routes.append(V1Route(method, path, dependant))
    return routes


def declared_scope(route: V1Route) -> str | None:
    """The scope the route really demands: the highest of all its ``authenticate`` uses."""
    if uses_publishable_key(route.dependant):
        return None if required_scopes(route.dependant) is not None else PUBLISHABLE
    scopes = required_scopes(route.dependant)
    if scopes is None:
        return None
    return max(scopes or [ANY], key=lambda s: SCOPE_RANK.get(s, 99))


async def test_every_v1_route_is_in_the_contract_table(app: FastAPI) -> None:
    unknown = [r.label for r in v1_routes(app) if r.contract_scope is None]
    assert not unknown, (
        "these /v1 routes are not in the contract's endpoint table (DESIGN.md); add them to "
        f"CONTRACT in tests/test_scopes.py with their scope: {unknown}"
    )


async def test_every_v1_route_declares_the_contract_scope(app: FastAPI) -> None:
    wrong = []
    for route in v1_routes(app):
        expected = route.contract_scope
        if expected is None:
            continue
        declared = declared_scope(route)
        if expected == PUBLIC:
            if declared is not None:
                wrong.append(f"{route.label}: public in the contract, but asks for a key")
        elif declared is None:
            wrong.append(f"{route.label}: no authenticate dependency (use AnyKey/ReadKey/…)")
        elif declared != expected:
            wrong.append(f"{route.label}: declares {declared!r}, contract says {expected!r}")
    assert not wrong, "\n".join(wrong)


def authenticate_uses(dependant: Dependant) -> int:
    return (dependant.call is authenticate) + sum(
        authenticate_uses(sub) for sub in dependant.dependencies
    )


async def test_every_v1_route_authenticates_exactly_once(app: FastAPI) -> None:
    """authenticate checks the scopes its route declares, and counts the request once."""
    wrong = [
        f"{route.label}: {uses} uses"
        for route in v1_routes(app)
        if (uses := authenticate_uses(route.dependant)) not in (0, 1)
    ]
    assert not wrong, "\n".join(wrong)


async def test_every_contract_route_exists(app: FastAPI) -> None:
    served = {(r.method, shape(r.path)) for r in v1_routes(app)}
    missing = [
        f"{method} {path}" for (method, path) in CONTRACT if (method, shape(path)) not in served
    ]
    assert not missing, f"{len(missing)} contract routes are not served yet: {missing}"


@dataclass
class World:
    """Real objects of one organization, so path parameters point at things that exist."""

    keys: dict[str, str]
    ids: dict[str, str]

    def fill(self, path: str) -> str:
        """Replace each parameter by the id of a real object of the collection it follows."""
        segments = path.split("/")
        for index, segment in enumerate(segments):
            if PARAM.fullmatch(segment):
                collection = segments[index - 1]
                segments[index] = self.ids.get(collection) or new_id("none")
        return "/".join(segments)


async def build_world(app: FastAPI) -> World:
    org = await make_org(app, rate_limit=1_000_000)
    keys = {kind: (await make_key(app, org, [kind]))[1] for kind in KEY_KINDS}
    bot = await make_bot(app, org)
    victim_key, _ = await make_key(app, org, ["read"], name="Key the admin calls act on")
    member = await make_user(app, org, role="member")
    async with app.state.sessionmaker() as session:
        entry = KnowledgeEntry(
            organization_id=org.id, bot_id=bot.id, question="Opening hours?", answer="9 to 5."
        )
        conversation = Conversation(organization_id=org.id, bot_id=bot.id)
        session.add_all([entry, conversation])
        await session.commit()
    async with app.state.sessionmaker() as session:
        publishable = await widget.create_key(
            session, bot, name="Scopes", allowed_origins=["https://shop.example"], actor=CLI_ACTOR
        )
        await session.commit()
    keys[PUBLISHABLE] = publishable.key
    ids = {
        "publishable-keys": publishable.id,
        "bots": bot.id,
        "knowledge": entry.id,
        "conversations": conversation.id,
        "members": member.id,
        "api-keys": victim_key.id,
    }
    return World(keys, ids)


async def call(
    client: httpx.AsyncClient, route: V1Route, path: str, key: str | None
) -> httpx.Response:
    headers = auth(key) if key else {}
    body: dict[str, object] | None = {} if route.method in ("POST", "PUT", "PATCH") else None
    return await client.request(route.method, path, headers=headers, json=body)


def destructive_last(routes: list[V1Route]) -> list[V1Route]:
    """DELETE last, children before parents, so the real objects exist for every other call."""
    return sorted(
        routes,
        key=lambda r: (
            r.method == "DELETE",
            -r.path.count("/") * (r.method == "DELETE"),
            r.path,
            r.method,
        ),
    )


async def test_no_key_is_refused_everywhere(app: FastAPI, client: httpx.AsyncClient) -> None:
    world = await build_world(app)
    wrong = []
    for route in v1_routes(app):
        if route.contract_scope == PUBLIC:
            continue
        response = await call(client, route, world.fill(route.path), None)
        code = response.json().get("error", {}).get("code") if response.content else None
        if (response.status_code, code) != (401, "missing_api_key"):
            wrong.append(f"{route.label}: {response.status_code} {code}")
    assert not wrong, "without a key, every /v1 route must answer 401 missing_api_key:\n" + (
        "\n".join(wrong)
    )


@pytest.mark.parametrize("kind", KEY_KINDS)
async def test_each_key_reaches_exactly_its_scope(
    app: FastAPI, client: httpx.AsyncClient, kind: str
) -> None:
    world = await build_world(app)
    wrong = []
    checked = 0
    for route in destructive_last(v1_routes(app)):
        needed = route.contract_scope
        if needed is None or needed == PUBLIC:
            continue
        response = await call(client, route, world.fill(route.path), world.keys[kind])
        checked += 1
        status = response.status_code
        error = response.json().get("error", {}) if response.content else {}
        if needed == PUBLISHABLE:
            if (status, error.get("code")) != (403, "secret_key_in_browser"):
                wrong.append(f"{route.label}: expected 403 secret_key_in_browser, got {status}")
        elif SCOPE_RANK[kind] < SCOPE_RANK[needed]:
            if (status, error.get("code")) != (403, "missing_scope"):
                wrong.append(f"{route.label}: expected 403 missing_scope, got {status} {error}")
            elif needed not in error.get("message", ""):
                wrong.append(f"{route.label}: message does not name {needed!r}: {error}")
        elif status in (401, 403) or status >= 500:
            wrong.append(f"{route.label}: a {kind} key must get through, got {status} {error}")
    assert checked, "no /v1 route was checked"
    assert not wrong, f"{kind} key:\n" + "\n".join(wrong)


async def test_a_publishable_key_reaches_the_widget_routes_alone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await build_world(app)
    wrong = []
    for route in destructive_last(v1_routes(app)):
        if route.contract_scope == PUBLIC:
            continue
        response = await call(client, route, world.fill(route.path), world.keys[PUBLISHABLE])
        error = response.json().get("error", {}) if response.content else {}
        if route.contract_scope == PUBLISHABLE:
            if response.status_code in (401, 403) or response.status_code >= 500:
                wrong.append(f"{route.label}: must get through, got {response.status_code} {error}")
        elif (response.status_code, error.get("code")) != (401, "publishable_key_not_allowed"):
            wrong.append(f"{route.label}: {response.status_code} {error.get('code')}")
        elif "secret key" not in error.get("message", ""):
            wrong.append(f"{route.label}: the message must point to a secret key: {error}")
    assert not wrong, "publishable key:\n" + "\n".join(wrong)
