"""The one ASGI middleware every request passes: request id, body cap, rate-limit headers, log,
ETag / If-None-Match on API reads and the response side of Idempotency-Key on API writes.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on the hot path: only GET and
POST responses under /v1 are buffered, and POST ones only when an Idempotency-Key was claimed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botyard.api_keys import keyformat
from botyard.api_keys.cache import VerifiedKey
from botyard.api_keys.url_guard import check_url
from botyard.core import clock
from botyard.core.asgi import header
from botyard.core.errors import InvalidAPIKey, error_response
from botyard.core.ids import new_time_ordered_id
from botyard.core.route_marks import NO_STORE, has_mark
from botyard.idempotency import service as idempotency
from botyard.idempotency.guard import CLAIM_STATE
from botyard.ratelimit.enforce import rate_limit_headers
from botyard.requestlog.writer import LogEntry, RequestLogWriter

logger = logging.getLogger("botyard.middleware")

LOGGED_PREFIX = "/v1/"
USER_AGENT_MAX = 300
ETAG_HEX_LENGTH = 32
NOT_MODIFIED_DROPS = frozenset({b"content-length", b"content-type"})


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the {limit} bytes allowed.")


def _entity_tag(body: bytes) -> str:
    """A strong validator: equal bodies, equal tags."""
    return '"' + hashlib.sha256(body).hexdigest()[:ETAG_HEX_LENGTH] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/"x"`` matches ``"x"``; ``*`` matches any."""
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


NO_STORE_HEADER = (b"cache-control", b"no-store")


class ConditionalGet:
    """Adds an ETag to 200 JSON answers and turns them into 304 when the client has them.

    A route marked no-store (live state) gets ``Cache-Control: no-store`` and no validator."""

    __slots__ = ("chunks", "if_none_match", "scope", "send", "start")

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self.if_none_match = header(scope, b"if-none-match")
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if has_mark(self.scope.get("route"), NO_STORE):
                headers = [*message.get("headers", ()), NO_STORE_HEADER]
                await self.send({**message, "headers": headers})
                return
            if message["status"] == 200 and _is_json(message.get("headers", [])):
                self.start = message
                return
        elif message["type"] == "http.response.body" and self.start is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._answer(b"".join(self.chunks))
            return
        await self.send(message)

    async def _answer(self, body: bytes) -> None:
        assert self.start is not None
        etag = _entity_tag(body)
        headers = list(self.start.get("headers", []))
        if self.if_none_match is not None and _matches(self.if_none_match, etag):
            kept = [(k, v) for k, v in headers if k.lower() not in NOT_MODIFIED_DROPS]
            kept.append((b"etag", etag.encode()))
            await self.send({**self.start, "status": 304, "headers": kept})
            await self.send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"etag", etag.encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


class IdempotentCapture:
    """Keeps the response of a request that claimed an Idempotency-Key, before sending it.

    The record is completed before the client can see the response, so a retry that arrives
    the moment it is received finds the stored answer, not a claim still in progress.
    """

    def __init__(
        self,
        state: dict[str, Any],
        sessionmaker: async_sessionmaker[AsyncSession],
        send: Send,
    ) -> None:
        self.state = state
        self.sessionmaker = sessionmaker
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if CLAIM_STATE not in self.state:
            await self.send(message)
            return
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] == "http.response.body" and self.start is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(self.chunks)
            await self._settle(self.start["status"], body)
            await self.send(self.start)
            await self.send({"type": "http.response.body", "body": body})
            return
        await self.send(message)

    async def _settle(self, status: int, body: bytes) -> None:
        """Keep a success for replay; forget a failure, which changed nothing."""
        claim: idempotency.Claim = self.state.pop(CLAIM_STATE)
        try:
            if 200 <= status < 300:
                await idempotency.complete(self.sessionmaker, claim, status, body)
            else:
                await idempotency.release(self.sessionmaker, claim)
        except Exception:
            logger.exception("could not settle idempotency record %s", claim.record_id)

    async def release_unanswered(self) -> None:
        """A request that ended without a response (an unhandled error) releases its claim."""
        claim: idempotency.Claim | None = self.state.pop(CLAIM_STATE, None)
        if claim is None:
            return
        try:
            await idempotency.release(self.sessionmaker, claim)
        except Exception:
            logger.exception("could not release idempotency record %s", claim.record_id)


class ApiMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_time_ordered_id("req")
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_holder = [500]
        app_state = scope["app"].state

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                decision = state.get("rate_limit")
                if decision is not None:
                    if message["status"] == 304 and "rate_limit_buckets" in state:
                        decision = await app_state.limiter.refund(
                            state.pop("rate_limit_buckets"),
                            app_state.settings.rate_limit_window,
                            clock.timestamp(),
                        )
                    headers.extend(
                        rate_limit_headers(
                            decision, app_state.settings.rate_limit_window, clock.timestamp()
                        )
                    )
                message = {**message, "headers": headers}
            await send(message)

        is_api = scope["path"].startswith(LOGGED_PREFIX)
        responder: Send = send_wrapper
        capture: IdempotentCapture | None = None
        if is_api and scope["method"] == "GET":
            responder = ConditionalGet(scope, send_wrapper)
        elif is_api and scope["method"] == "POST":
            capture = IdempotentCapture(state, app_state.sessionmaker, send_wrapper)
            responder = capture
        try:
            if is_api and (scope["query_string"] or keyformat.PREFIX in scope["path"]):
                refused = await check_url(scope["path"], scope["query_string"], app_state.engine)
                if refused is not None:
                    await self._refuse_key_in_url(scope, receive, send_wrapper, *refused)
                    return
            await self.app(scope, self._capped(scope, receive), responder)
        finally:
            if capture is not None:
                await capture.release_unanswered()
            if is_api:
                self._log(scope, state, status_holder[0], started, request_id)

    @staticmethod
    async def _refuse_key_in_url(
        scope: Scope,
        receive: Receive,
        send: Send,
        error: InvalidAPIKey,
        exposed: VerifiedKey | None,
    ) -> None:
        """Answer before routing, so no handler, query or log line ever sees the URL's key."""
        state = scope["state"]
        if exposed is not None:
            state["key_id"] = exposed.id
            state["organization_id"] = exposed.organization_id
            state["authenticated"] = False
        response = error_response(
            Request(scope),
            error.status_code,
            type=error.type,
            code=error.code,
            message=error.message,
            headers=error.headers,
        )
        await response(scope, receive, send)

    def _capped(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse oversized bodies with 413, whether or not Content-Length is honest."""
        limit = self.max_body_bytes
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:

            async def refuse() -> Message:
                raise PayloadTooLarge(limit)

            return refuse
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(limit)
            return message

        return counting

    @staticmethod
    def _log(
        scope: Scope, state: dict[str, Any], status: int, started: float, request_id: str
    ) -> None:
        writer: RequestLogWriter | None = getattr(scope["app"].state, "request_log", None)
        if writer is None:
            return
        route = scope.get("route")
        client = scope.get("client")
        user_agent = header(scope, b"user-agent")
        writer.add(
            LogEntry(
                id="log_" + request_id.removeprefix("req_"),
                created_at=clock.now(),
                method=scope["method"],
                route=getattr(route, "path", None) or "(no route)",
                status=status,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                request_id=request_id,
                ip=client[0] if client else None,
                user_agent=user_agent[:USER_AGENT_MAX] if user_agent else None,
                organization_id=state.get("organization_id"),
                key_id=state.get("key_id"),
                error_code=state.get("error_code"),
                authenticated=state.get("authenticated", False),
            )
        )
