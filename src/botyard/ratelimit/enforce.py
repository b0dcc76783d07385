"""Applying the limiter to API requests: the organization's hourly budget and brute-force guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from botyard.api_keys.cache import VerifiedKey
from botyard.core import clock
from botyard.core.config import Settings
from botyard.core.errors import RateLimited
from botyard.core.route_marks import has_mark
from botyard.ratelimit.limiter import Bucket, Decision, Limiter

NOT_COUNTED: dict[str, Any] = {"x-rate-limit": "not counted"}
"""``openapi_extra`` for routes that read the budget without spending it (GET /v1/rate_limit)."""


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """An app's limiter and limits, kept together in ``app.state.rate_limits`` (the app's one
    reference to its limiter): every API request needs all of them, and each read of app state
    or settings costs a failed attribute lookup and a Python call."""

    limiter: Limiter
    default_limit: int
    window: int
    failed_auth_limit: int

    @classmethod
    def of(cls, limiter: Limiter, settings: Settings) -> RateLimitPolicy:
        return cls(
            limiter, settings.default_rate_limit, settings.rate_limit_window,
            settings.auth_failure_limit,
        )  # fmt: skip


def organization_bucket(organization_id: str, limit: int) -> Bucket:
    """The bucket all of an organization's keys share."""
    return Bucket(f"org:{organization_id}", limit)


def buckets_for(verified: VerifiedKey, default_limit: int) -> list[Bucket]:
    """All keys of an organization share one bucket; a key may add a lower limit of its own."""
    org_limit = verified.organization_rate_limit or default_limit
    buckets = [organization_bucket(verified.organization_id, org_limit)]
    if verified.key_rate_limit is not None and verified.key_rate_limit < org_limit:
        buckets.append(Bucket(f"key:{verified.id}", verified.key_rate_limit))
    return buckets


async def enforce_rate_limit(request: Request, verified: VerifiedKey) -> Decision:
    """Charge the request to its organization (and key) and leave the decision in the
    request's state, where the middleware turns it into headers."""
    scope = request.scope
    policy: RateLimitPolicy = scope["app"].state.rate_limits
    buckets = buckets_for(verified, policy.default_limit)
    state = scope["state"]
    if has_mark(scope.get("route"), NOT_COUNTED):
        # Reading the budget must work most of all when it is spent, so this never refuses.
        decision = state["rate_limit"] = await policy.limiter.peek(
            buckets, policy.window, clock.timestamp()
        )
        return decision
    decision = state["rate_limit"] = await policy.limiter.hit(
        buckets, policy.window, clock.timestamp()
    )
    state["rate_limit_buckets"] = buckets
    if not decision.allowed:
        raise RateLimited(
            "rate_limit_exceeded",
            f"{verified.organization_name} has used all {decision.limit} requests of its "
            f"hourly API limit. Retry after {decision.retry_after} seconds, backing off "
            "exponentially if it happens again; contact support for a higher limit.",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return decision


async def limit_failed_attempts(request: Request, ip: str) -> None:
    """Every refused authentication (guessed, revoked or expired keys, blocked addresses,
    missing scopes, keys in URLs) is limited per client IP, never charged to an organization."""
    policy: RateLimitPolicy = request.app.state.rate_limits
    decision = await policy.limiter.hit(
        [Bucket(f"authfail:{ip}", policy.failed_auth_limit)], policy.window, clock.timestamp()
    )
    if not decision.allowed:
        raise RateLimited(
            "rate_limit_exceeded",
            f"Too many refused requests (invalid API keys or permissions) from {ip}. Retry "
            f"after {decision.retry_after} seconds with a valid key.",
            headers={"Retry-After": str(decision.retry_after)},
        )


async def limit_per_ip(request: Request, name: str, ip: str, limit: int) -> None:
    """An unauthenticated endpoint's own budget per client IP, like failed authentication."""
    policy: RateLimitPolicy = request.app.state.rate_limits
    decision = await policy.limiter.hit(
        [Bucket(f"{name}:{ip}", limit)], policy.window, clock.timestamp()
    )
    if not decision.allowed:
        raise RateLimited(
            "rate_limit_exceeded",
            f"Too many requests to this endpoint from {ip}. Retry after "
            f"{decision.retry_after} seconds.",
            headers={"Retry-After": str(decision.retry_after)},
        )


POLICY_NAMES = {60: b"minute", 3600: b"hourly", 86400: b"daily"}
"""The RateLimit-Policy name of a window (the API's is hourly; the widget's visitors' a minute)."""


def rate_limit_headers(decision: Decision, now: float) -> list[tuple[bytes, bytes]]:
    """The contract's X-RateLimit-* headers and the IETF draft's RateLimit / RateLimit-Policy.

    Formatted straight to bytes: this runs on every authenticated response."""
    limit, remaining = decision.limit, decision.remaining
    name = POLICY_NAMES.get(decision.window, b"window")
    return [
        (b"x-ratelimit-limit", b"%d" % limit),
        (b"x-ratelimit-remaining", b"%d" % remaining),
        (b"x-ratelimit-used", b"%d" % decision.used),
        (b"x-ratelimit-reset", b"%d" % decision.reset),
        (b"ratelimit-policy", b'"%s";q=%d;w=%d' % (name, limit, decision.window)),
        (b"ratelimit", b'"%s";r=%d;t=%d' % (name, remaining, decision.resets_in(now))),
    ]
