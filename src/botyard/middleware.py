"""The one ASGI middleware every request passes: request id, body cap, rate-limit headers, log.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on the hot path.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botyard.core import clock
from botyard.core.ids import new_id
from botyard.ratelimit.enforce import rate_limit_headers
from botyard.requestlog.writer import LogEntry, RequestLogWriter

LOGGED_PREFIX = "/v1/"
USER_AGENT_MAX = 300


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the {limit} bytes allowed.")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class ApiMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_id("req")
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

        try:
            await self.app(scope, self._capped(scope, receive), send_wrapper)
        finally:
            if scope["path"].startswith(LOGGED_PREFIX):
                self._log(scope, state, status_holder[0], started, request_id)

    def _capped(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse oversized bodies with 413, whether or not Content-Length is honest."""
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
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
        user_agent = _header(scope, b"user-agent")
        writer.add(
            LogEntry(
                id=new_id("log"),
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
