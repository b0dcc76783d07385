"""The one ASGI middleware every request passes: request id, security headers, body cap,
rate-limit headers, log, ETag / If-None-Match on API reads and the response side of
Idempotency-Key on API writes.

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
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botyard.api_keys import keyformat
from botyard.api_keys.cache import VerifiedKey
from botyard.api_keys.deps import client_ip
from botyard.api_keys.url_guard import check_url
from botyard.core import clock
from botyard.core.asgi import header
from botyard.core.errors import (
    BODY_PROBLEM,
    APIError,
    InvalidAPIKey,
    RateLimited,
    error_response,
    unexpected_error_response,
)
from botyard.core.ids import new_time_ordered_id
from botyard.core.outage import is_database_unavailable
from botyard.core.request_input import (
    NUL,
    InvalidCharacters,
    body_problem,
    nul_path_parameter,
    nul_query_parameter,
)
from botyard.core.route_marks import NO_STORE, has_mark
from botyard.core.security_headers import security_headers
from botyard.idempotency import service as idempotency
from botyard.idempotency.guard import CLAIM_STATE
from botyard.metrics.registry import Metrics
from botyard.ratelimit.enforce import limit_failed_attempts, rate_limit_headers
from botyard.ratelimit.limiter import Decision
from botyard.requestlog.refusals import REFUSED_STATUSES, RefusalSampler
from botyard.requestlog.writer import RequestLogWriter
from botyard.widget import cors

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
    """If-None-Match uses the weak comparison: ``W/"x"`` matches ``"x"``.

    ``*`` matches nothing here: RFC 9110 gives it a use on unsafe methods, and on a GET it
    would turn every read into an uncounted 304 without the client holding anything."""
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
VALIDATOR_MATCHED = "validator_matched"
"""Set in the request state when the client's ETag matched: the one 304 that is refunded."""


class ConditionalGet:
    """Adds an ETag to a 200 JSON answer and turns it into a 304 when the client has it.

    Created by the middleware only for such an answer to a GET that is not marked no-store,
    since it buffers the body to hash it."""

    __slots__ = ("chunks", "if_none_match", "send", "start", "state")

    def __init__(self, scope: Scope, start: Message, send: Send) -> None:
        self.if_none_match = header(scope, b"if-none-match")
        self.state: dict[str, Any] = scope["state"]
        self.send = send
        self.start = start
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self._answer(b"".join(self.chunks))

    async def _answer(self, body: bytes) -> None:
        etag = _entity_tag(body)
        headers = list(self.start.get("headers", []))
        if self.if_none_match is not None and _matches(self.if_none_match, etag):
            kept = [(k, v) for k, v in headers if k.lower() not in NOT_MODIFIED_DROPS]
            kept.append((b"etag", etag.encode()))
            self.state[VALIDATOR_MATCHED] = True
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
        except Exception as exc:
            _log_release_failure("settle", claim.record_id, exc)

    async def release_unanswered(self) -> None:
        """A request that ended without a response (an unhandled error) releases its claim."""
        claim: idempotency.Claim | None = self.state.pop(CLAIM_STATE, None)
        if claim is None:
            return
        try:
            await idempotency.release(self.sessionmaker, claim)
        except Exception as exc:
            _log_release_failure("release", claim.record_id, exc)


def _log_release_failure(action: str, record_id: str, exc: Exception) -> None:
    """A traceback for a bug; one line when the database is away (it expires the claim)."""
    if is_database_unavailable(exc):
        logger.warning(
            "could not %s idempotency record %s: database unavailable", action, record_id
        )
    else:
        logger.error("could not %s idempotency record %s", action, record_id, exc_info=exc)


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
REFUSED_MEDIA_TYPE = b"application/x-botyard-refused-body"
REFUSED_PLACEHOLDER = b"-"


def too_large(limit: int) -> APIError:
    return APIError(
        "payload_too_large",
        f"Request body is larger than the {limit} bytes allowed.",
        status_code=413,
        type="payload_too_large",
    )


def _replaying(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    """A receive that hands out ``body`` (or ``first``) once, then what the client sends."""
    pending: Message | None = first or {"type": "http.request", "body": body, "more_body": False}

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replay


def _is_form(scope: Scope) -> bool:
    content_type = header(scope, b"content-type") or ""
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


def _nul_in_url(scope: Scope) -> str | None:
    """The path or query parameter holding a NUL, which no database column can store."""
    found = nul_query_parameter(scope["query_string"])
    if found is not None or NUL not in scope["path"]:
        return found
    for route in scope["app"].router.routes:
        match, child = route.matches(scope)
        if match is not Match.NONE:
            return nul_path_parameter(child.get("path_params", {})) or "path"
    return "path"


async def _refuse(scope: Scope, receive: Receive, send: Send, error: APIError) -> None:
    """Answer ``error`` before routing, so no handler or query sees the request."""
    response = error_response(
        Request(scope),
        error.status_code,
        type=error.type,
        code=error.code,
        message=error.message,
        param=error.param,
        headers=error.headers,
    )
    await response(scope, receive, send)


class ApiMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        request_log: RequestLogWriter | None = None,
        metrics: Metrics | None = None,
        refusals: RefusalSampler | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.request_log = request_log
        self.metrics = metrics
        self.refusals = refusals

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
        is_api = scope["path"].startswith(LOGGED_PREFIX)
        conditional = is_api and scope["method"] == "GET"
        validator: ConditionalGet | None = None
        started_response = False
        transport_headers = security_headers(scope["scheme"])

        async def with_headers(message: Message, *extra: tuple[bytes, bytes]) -> Message:
            """The response start with the request id and rate-limit headers (a 304 refunded)."""
            nonlocal started_response
            started_response = True
            status = status_holder[0] = message["status"]
            headers = [
                *message.get("headers", ()),
                (b"x-request-id", request_id.encode()),
                *transport_headers,
                *extra,
            ]
            decision: Decision | None = state.get("rate_limit")
            if decision is not None:
                if (
                    status == 304
                    and state.pop(VALIDATOR_MATCHED, False)
                    and "rate_limit_buckets" in state
                ):
                    decision = await app_state.rate_limits.limiter.refund(
                        state.pop("rate_limit_buckets"), decision.window, clock.timestamp()
                    )
                headers += rate_limit_headers(decision, clock.timestamp())
            cors_origin = state.get(cors.STATE_KEY)
            if cors_origin is not None:  # a widget route, called from an allowed origin
                headers += cors.response_headers(cors_origin)
            return {**message, "headers": headers}

        async def finish(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = await with_headers(message)
            await send(message)

        async def respond(message: Message) -> None:
            """What the app sends to. One layer on the usual path: only a response that can
            carry an ETag goes through the buffering ``ConditionalGet``."""
            nonlocal validator
            if validator is not None:
                await validator(message)
                return
            if message["type"] == "http.response.start":
                if not conditional:
                    message = await with_headers(message)
                elif has_mark(scope.get("route"), NO_STORE):
                    message = await with_headers(message, NO_STORE_HEADER)
                elif message["status"] == 200 and _is_json(message.get("headers", [])):
                    validator = ConditionalGet(scope, message, finish)
                    return
                else:
                    message = await with_headers(message)
            await send(message)

        responder: Send = respond
        capture: IdempotentCapture | None = None
        if is_api and scope["method"] == "POST":
            capture = IdempotentCapture(state, app_state.sessionmaker, finish)
            responder = capture
        try:
            if is_api and (scope["query_string"] or keyformat.PREFIX in scope["path"]):
                refused = await check_url(scope["path"], scope["query_string"], app_state.engine)
                if refused is not None:
                    await self._refuse_key_in_url(scope, receive, finish, *refused)
                    return
            unstorable = _nul_in_url(scope)
            if unstorable is not None:
                await _refuse(scope, receive, finish, InvalidCharacters(unstorable))
                return
            if is_api and scope["method"] in BODY_METHODS:
                receive = await self._read_body(scope, receive)
            elif scope["method"] == "POST" and _is_form(scope):
                receive, unstorable = await self._read_form(scope, receive)
                if unstorable is not None:
                    await _refuse(scope, receive, finish, InvalidCharacters(unstorable))
                    return
            else:
                receive = self._capped(scope, receive)
            await self.app(scope, receive, responder)
        except Exception as exc:
            if started_response:
                raise  # too late for an error response: the server closes the connection
            # Answered here, the exception never reaches the server, which would close the
            # keep-alive connection after the 500 without saying `Connection: close`.
            request = Request(scope)
            if is_database_unavailable(exc):
                app_state.db_outage.failed(exc)
                response = app_state.db_outage.response(request)
            else:
                response = unexpected_error_response(request, stamped=True)
            await response(scope, receive, finish)
        finally:
            if capture is not None:
                await capture.release_unanswered()
            if (
                is_api
                and self.request_log is not None
                and self._worth_a_row(scope, state, status_holder[0])
            ):
                self._log(self.request_log, scope, state, status_holder[0], started, request_id)
            if self.metrics is not None:
                route = scope.get("route")
                self.metrics.observe(
                    route.path if route is not None else "(no route)",
                    scope["method"],
                    status_holder[0],
                    time.perf_counter() - started,
                    state.get("error_code"),
                )

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
        request = Request(scope)
        refusal: APIError = error
        try:
            await limit_failed_attempts(request, client_ip(request))
        except RateLimited as throttled:
            refusal = throttled
        await _refuse(scope, receive, send, refusal)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read an API write's body up front, and hide it from the endpoint if it is unusable.

        FastAPI parses a JSON body before it runs any dependency, so a malformed one was
        answered before authentication. Here a body that is too large, not JSON, not sent as
        JSON or holding a NUL is replaced by a placeholder of a private media type that no
        body model accepts: the endpoint's dependencies (authentication first) run as usual,
        then the validation handler answers with the problem kept in the request's state.
        """
        limit = self.max_body_bytes
        declared = header(scope, b"content-length")
        problem: APIError | None = None
        chunks: list[bytes] = []
        if declared is not None and declared.isdigit() and int(declared) > limit:
            problem = too_large(limit)
        else:
            seen = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return _replaying(b"", receive, first=message)
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    problem = too_large(limit)
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        body = b"".join(chunks)
        if problem is None:
            problem = body_problem(body, header(scope, b"content-type"))
        if problem is None:
            return _replaying(body, receive)
        scope["state"][BODY_PROBLEM] = problem
        scope["headers"] = [
            *((name, value) for name, value in scope["headers"] if name != b"content-type"),
            (b"content-type", REFUSED_MEDIA_TYPE),
        ]
        return _replaying(REFUSED_PLACEHOLDER, receive)

    async def _read_form(self, scope: Scope, receive: Receive) -> tuple[Receive, str | None]:
        """Read a dashboard form up front, for the field holding a NUL if one does.

        A form body is encoded like a query string, so the same check applies; an oversized
        one is left for the endpoint to refuse with 413 when it reads it.
        """
        limit = self.max_body_bytes
        declared = header(scope, b"content-length")
        chunks: list[bytes] = []
        seen = 0
        while declared is None or not declared.isdigit() or int(declared) <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return _replaying(b"", receive, first=message), None
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                break
            chunks.append(chunk)
            if not message.get("more_body", False):
                body = b"".join(chunks)
                return _replaying(body, receive), nul_query_parameter(body)

        async def refuse() -> Message:
            raise PayloadTooLarge(limit)

        return refuse, None

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

    def _worth_a_row(self, scope: Scope, state: dict[str, Any], status: int) -> bool:
        """Every API request gets a row, except refused unauthenticated ones past the
        sampler's threshold for their address, which are only counted."""
        if self.refusals is None or status not in REFUSED_STATUSES or state.get("authenticated"):
            return True
        client = scope.get("client")
        return self.refusals.keep(client[0] if client else None)

    @staticmethod
    def _log(
        writer: RequestLogWriter,
        scope: Scope,
        state: dict[str, Any],
        status: int,
        started: float,
        request_id: str,
    ) -> None:
        route = scope.get("route")
        client = scope.get("client")
        user_agent = header(scope, b"user-agent")
        # A plain tuple in LogEntry's field order (see LogRow): this runs on every API request.
        writer.add(
            (
                "log" + request_id[3:],
                clock.now(),
                scope["method"],
                route.path if route is not None else "(no route)",
                status,
                (time.perf_counter() - started) * 1000,  # rounded by the writer
                request_id,
                client[0] if client else None,
                user_agent[:USER_AGENT_MAX] if user_agent else None,
                state.get("organization_id"),
                state.get("key_id"),
                state.get("error_code"),
                state.get("authenticated", False),
            )
        )
