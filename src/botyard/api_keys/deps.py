"""Bearer authentication as a FastAPI security dependency.

Checks run in the contract's order: header → format and checksum → lookup → revoked / expired →
IP allow-list → plan → rate limit → scope. Each failure has its own code and a message that
says which cause applies and what to do about it.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import SecurityScopes
from starlette.types import Scope

from botyard.api_keys import keyformat
from botyard.api_keys.cache import VerifiedKey, key_cache
from botyard.audit.service import Actor
from botyard.core import clock
from botyard.core.asgi import header
from botyard.core.errors import InsufficientPermissions, InvalidAPIKey
from botyard.core.timefmt import rfc3339
from botyard.idempotency.guard import check_idempotency
from botyard.ratelimit.enforce import enforce_rate_limit, limit_failed_attempts
from botyard.ratelimit.limiter import Decision

COPY_HINT = "Copy the entire key without spaces, exactly as it was shown when it was created."
NEW_KEY_HINT = "Generate a new key in Settings > API."
IN_BROWSER_ADVICE = (
    "a secret API key (byk_…) was sent from a browser. Secret keys belong on your server only: "
    "anyone who opens the page can copy it. Rotate this key in Settings > API now, and use a "
    "publishable key (byp_…) from the bot's Website widget card in web pages."
)

SECURITY_SCHEME_NAME = "ApiKey"
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A Botyard API key (`byk_…`) from Settings > API, sent as "
    "`Authorization: Bearer <key>`.",
}


class Principal(NamedTuple):
    """The authenticated caller of an API request, and what this request left of its budget.

    A named tuple: as immutable as a frozen dataclass, and made twice as fast on every call."""

    key: VerifiedKey
    ip: str
    rate_limit: Decision

    @property
    def organization_id(self) -> str:
        return self.key.organization_id

    @property
    def scopes(self) -> frozenset[str]:
        return self.key.scopes

    @property
    def actor(self) -> Actor:
        return Actor("api_key", self.key.id, self.ip)


def client_ip(request: Request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def _describe_scheme(scheme: str) -> str:
    """Name the scheme that was sent without ever echoing what may be a secret."""
    if scheme.isalpha() and len(scheme) <= 12:
        return f"a {scheme!r} header"
    if scheme.startswith(keyformat.PREFIX):
        return "a key without the `Bearer ` in front of it"
    return "a header with no recognisable scheme"


def authorization_header(scope: Scope) -> str | None:
    """The one Authorization header; several are refused rather than one picked, since a proxy
    and the application could each pick a different one."""
    found: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found is not None:
                raise InvalidAPIKey(
                    "malformed_authorization_header",
                    "the request has more than one Authorization header. Send exactly one: "
                    "`Authorization: Bearer YOUR_API_KEY`.",
                )
            found = value.decode("latin-1")
    return found


def token_from_header(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise InvalidAPIKey(
            "missing_api_key",
            "no API key was sent. Send it in the Authorization header: "
            "`Authorization: Bearer YOUR_API_KEY`.",
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidAPIKey(
            "malformed_authorization_header",
            f"the Authorization header must be `Bearer <key>` (got {_describe_scheme(scheme)}). "
            "Use the Bearer scheme followed by one space and the key.",
        )
    if not token.startswith(keyformat.PREFIX) and keyformat.WHITESPACE.search(token):
        raise InvalidAPIKey(
            "malformed_authorization_header",
            "the Authorization header must hold exactly one token after `Bearer`.",
        )
    return token


async def authenticate(security_scopes: SecurityScopes, request: Request) -> Principal:
    """Resolve the caller's key or raise the error that names what is wrong with it.

    The OpenAPI document declares the Bearer scheme and each route's scopes from this
    dependency (see ``required_scopes``), so no per-request security class is solved here.
    A cached key is checked without awaiting anything but the rate limiter."""
    try:
        token = token_from_header(authorization_header(request.scope))
        key_hash = keyformat.hash_key(token)
        # Only well-formed keys ever reach the cache, so a hit has passed the format check.
        verified = key_cache.cached(key_hash) or await _load_key(request, token, key_hash)
        ip = _admit(request, verified)
        decision = await enforce_rate_limit(request, verified)
        if not verified.scopes.issuperset(security_scopes.scopes):
            missing = [s for s in security_scopes.scopes if s not in verified.scopes]
            raise InsufficientPermissions(
                "missing_scope",
                f"this endpoint needs the {missing[0]!r} scope, and this key has "
                f"{', '.join(repr(s) for s in verified.granted_scopes)}. Create a key with "
                f"the {missing[0]!r} scope in Settings > API.",
            )
    except (InvalidAPIKey, InsufficientPermissions):
        # Every refusal counts against the address, not only guesses: replaying a revoked
        # key or probing from a blocked address is as cheap to repeat. Past the limit: 429.
        await limit_failed_attempts(request, client_ip(request))
        raise
    principal = Principal(verified, ip, decision)
    if request.scope["method"] == "POST":  # only POSTs carry an Idempotency-Key
        await check_idempotency(request, principal)
    return principal


async def _load_key(request: Request, token: str, key_hash: str) -> VerifiedKey:
    """A key the cache does not hold: refuse a malformed one, else ask the database."""
    if token.startswith(keyformat.PUBLISHABLE_PREFIX):
        raise InvalidAPIKey(
            "publishable_key_not_allowed",
            "this is a publishable key (byp_…), which only the website widget's routes under "
            "/v1/widget/ accept. For this endpoint use a secret key from your server.",
        )
    problem = keyformat.format_problem(token)
    if problem is not None:
        raise InvalidAPIKey("malformed_api_key", f"{problem}. {COPY_HINT}")
    verified = await key_cache.load(key_hash, request.app.state.engine)
    if verified is None:
        raise InvalidAPIKey(
            "unknown_api_key",
            "no key matches the one sent. It may have been mistyped, deleted, or created on "
            "another Botyard server. Check your keys in Settings > API.",
        )
    return verified


def _admit(request: Request, verified: VerifiedKey) -> str:
    """The checks a real key must pass before it is charged; returns the client's IP.

    Tells the request log which key and organization the request belongs to, written straight
    into the scope's state dict (what ``request.state`` wraps, several times dearer per write)."""
    state = request.scope.setdefault("state", {})
    state["key_id"] = verified.id
    state["organization_id"] = verified.organization_id
    state["authenticated"] = False
    if verified.revoked_at is not None and verified.revoked_at <= clock.now():
        raise InvalidAPIKey(
            "api_key_revoked",
            f"this key was revoked at {rfc3339(verified.revoked_at)}. {NEW_KEY_HINT}",
        )
    if verified.expires_at is not None and verified.expires_at <= clock.now():
        raise InvalidAPIKey(
            "api_key_expired",
            f"this key expired at {rfc3339(verified.expires_at)}. {NEW_KEY_HINT}",
        )
    origin = header(request.scope, b"origin")
    if origin is not None and origin != request.app.state.public_origin:
        # A browser on someone's page holds this key (the writer flags it exposed_in_browser).
        raise InsufficientPermissions("secret_key_in_browser", IN_BROWSER_ADVICE)
    ip = client_ip(request)
    if verified.allowed_networks is not None and not verified.ip_allowed(ip):
        raise InsufficientPermissions(
            "ip_not_allowed",
            f"requests from {ip} are not allowed for this key. Its IP allow-list is "
            f"{', '.join(str(n) for n in verified.allowed_networks)}; change it in "
            "Settings > API.",
        )
    if not verified.plan.has_api_access:
        raise InsufficientPermissions(
            "plan_required",
            f"API access requires the Professional plan (or Enterprise); "
            f"{verified.organization_name} is on the {verified.plan.label} plan. "
            "An owner can upgrade the plan to use this key again.",
        )
    state["authenticated"] = True
    return ip


def required_scopes(dependant: Dependant) -> list[str] | None:
    """The scopes a route demands through ``authenticate``; None for a public route."""
    if dependant.call is authenticate:
        return [*(dependant.parent_oauth_scopes or ()), *(dependant.own_oauth_scopes or ())]
    found: list[str] | None = None
    for sub in dependant.dependencies:
        scopes = required_scopes(sub)
        if scopes is not None:
            found = sorted({*(found or ()), *scopes})
    return found


AnyKey = Annotated[Principal, Security(authenticate)]
ReadKey = Annotated[Principal, Security(authenticate, scopes=["read"])]
WriteKey = Annotated[Principal, Security(authenticate, scopes=["write"])]
AdminKey = Annotated[Principal, Security(authenticate, scopes=["admin"])]
