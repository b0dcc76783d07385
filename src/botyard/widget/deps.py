"""Who may call the widget routes: a publishable key of the bot, from one of its origins.

A secret key is refused here (it must never be in a browser) and flagged; a preflight carries
no key, so it is answered for any origin some active publishable key allows. Widget traffic
has its own limits, per bot and per visitor address, and never touches an organization's API
budget.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant

from botyard.api_keys import keyformat
from botyard.api_keys.cache import key_cache
from botyard.api_keys.deps import (
    COPY_HINT,
    IN_BROWSER_ADVICE,
    authorization_header,
    client_ip,
    token_from_header,
)
from botyard.core import clock
from botyard.core.asgi import header
from botyard.core.errors import InsufficientPermissions, InvalidAPIKey, RateLimited
from botyard.core.timefmt import rfc3339
from botyard.ratelimit.enforce import limit_failed_attempts
from botyard.ratelimit.limiter import Bucket, Decision
from botyard.widget import cors
from botyard.widget.service import ActiveKey, publishable_keys

BOT_WINDOW = 3600
VISITOR_WINDOW = 60


class WidgetCaller(NamedTuple):
    """A widget request that passed its key, origin and per-bot limit."""

    key: ActiveKey
    ip: str
    origin: str | None

    @property
    def organization_id(self) -> str:
        return self.key.organization_id

    @property
    def bot_id(self) -> str:
        return self.key.bot_id


async def refuse_secret_key(request: Request, token: str) -> InsufficientPermissions:
    """The error for a secret key on a widget route, after telling the log whose key it was
    (the request-log writer then flags the key ``exposed_in_browser``)."""
    if keyformat.format_problem(token) is None:
        verified = await key_cache.lookup(keyformat.hash_key(token), request.app.state.engine)
        if verified is not None:
            state = request.scope["state"]
            state["key_id"] = verified.id
            state["organization_id"] = verified.organization_id
            state["authenticated"] = False
    return InsufficientPermissions("secret_key_in_browser", IN_BROWSER_ADVICE)


async def authenticate_widget(request: Request) -> WidgetCaller:
    try:
        return await _authenticate_widget(request)
    except (InvalidAPIKey, InsufficientPermissions):
        # Every refusal counts against the visitor's address, like the API's (17.11).
        await limit_failed_attempts(request, client_ip(request))
        raise


async def _authenticate_widget(request: Request) -> WidgetCaller:
    scope = request.scope
    state = scope["state"]
    state["widget"] = True
    token = token_from_header(authorization_header(scope))
    if token.startswith(keyformat.PREFIX):
        raise await refuse_secret_key(request, token)
    problem = keyformat.format_problem(token, keyformat.PUBLISHABLE_PREFIX)
    if problem is not None:
        raise InvalidAPIKey(
            "malformed_api_key",
            f"{problem}. Widget routes take a publishable key (byp_…). {COPY_HINT}",
        )
    key = await publishable_keys.lookup(request.app.state.engine, token)
    if key is None:
        raise InvalidAPIKey(
            "unknown_api_key",
            "no publishable key matches the one sent. Copy the embed snippet again from the "
            "bot's Website widget card in the dashboard.",
        )
    # The request log files the request under the key's organization. Not "authenticated":
    # that marks a secret key's use, whose last-use and addresses the writer keeps.
    state["key_id"] = key.id
    state["organization_id"] = key.organization_id
    if key.revoked_at is not None and key.revoked_at <= clock.now():
        raise InvalidAPIKey(
            "api_key_revoked",
            f"this publishable key was revoked at {rfc3339(key.revoked_at)}. Paste the "
            "current embed snippet from the bot's Website widget card.",
        )
    origin = header(scope, b"origin")
    if origin is not None:
        if not key.origins.allows(origin):
            raise InsufficientPermissions(
                "origin_not_allowed",
                f"this publishable key may not be used from {origin[:200]}. Add the origin to "
                "the key's allowed origins in the bot's Website widget card.",
            )
        state[cors.STATE_KEY] = origin
    ip = client_ip(request)
    limits = request.app.state.rate_limits
    settings = request.app.state.settings
    decision = state["rate_limit"] = await limits.limiter.hit(
        [Bucket(f"widget-bot:{key.bot_id}", settings.widget_bot_limit)],
        BOT_WINDOW,
        clock.timestamp(),
    )
    if not decision.allowed:
        raise _refused(decision, "This chat is very busy right now")
    return WidgetCaller(key, ip, origin)


async def limit_visitor(request: Request, caller: WidgetCaller) -> Decision:
    """Posts (a new conversation or a message) per visitor address and minute."""
    limits = request.app.state.rate_limits
    settings = request.app.state.settings
    state = request.scope["state"]
    decision = await limits.limiter.hit(
        [Bucket(f"widget-visitor:{caller.ip}", settings.widget_visitor_limit)],
        VISITOR_WINDOW,
        clock.timestamp(),
    )
    bot_decision: Decision = state["rate_limit"]
    if not decision.allowed or decision.remaining < bot_decision.remaining:
        state["rate_limit"] = decision
    if not decision.allowed:
        raise _refused(decision, "You are sending messages too quickly")
    return decision


def _refused(decision: Decision, what: str) -> RateLimited:
    return RateLimited(
        "rate_limit_exceeded",
        f"{what}; try again in {decision.retry_after} seconds.",
        headers={"Retry-After": str(decision.retry_after)},
    )


async def authenticate_visitor_post(
    request: Request, caller: Annotated[WidgetCaller, Depends(authenticate_widget)]
) -> WidgetCaller:
    await limit_visitor(request, caller)
    return caller


PUBLISHABLE_SCHEME_NAME = "PublishableKey"
PUBLISHABLE_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A bot's publishable key (`byp_…`), as the website widget sends it: "
    "`Authorization: Bearer byp_…`. Secret keys are refused on these routes.",
}


def uses_publishable_key(dependant: Dependant) -> bool:
    """Whether a route authenticates with a publishable key (the widget's routes)."""
    return dependant.call is authenticate_widget or any(
        uses_publishable_key(sub) for sub in dependant.dependencies
    )


Widget = Annotated[WidgetCaller, Depends(authenticate_widget)]
WidgetPost = Annotated[WidgetCaller, Depends(authenticate_visitor_post)]
