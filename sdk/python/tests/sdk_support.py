"""Fakes for unit tests: scripted answers through httpx.MockTransport, recorded sleeps, and a
real HTTP server in a thread for what needs a socket (timeouts, logs of a real exchange)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

from botyard_sdk import AsyncBotyard, Botyard

API_KEY = "byk_" + "Ab1" * 12 + "Zz"
BASE_URL = "http://botyard.test"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def envelope(
    status: int,
    code: str,
    message: str,
    *,
    type: str = "invalid_request",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    """An error answer in the API's envelope."""
    error = {"type": type, "code": code, "message": message, "request_id": "req_test", **fields}
    return httpx.Response(status, json={"error": error}, headers=headers)


def bot_json(bot_id: str = "bot_1", name: str = "Support", **extra: Any) -> dict[str, Any]:
    return {
        "object": "bot",
        "id": bot_id,
        "name": name,
        "description": "",
        "status": "active",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
        **extra,
    }


class Script:
    """Answers requests in order (the last answer repeats) and keeps every request."""

    def __init__(self, *answers: Answer) -> None:
        assert answers
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            # A fresh copy each time: a response's body stream can be read only once.
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.read())
        return answer(request)


class Sleeps(list[float]):
    """Stands in for ``time.sleep`` / ``asyncio.sleep``: records, never waits."""

    def sync(self, seconds: float) -> None:
        self.append(seconds)

    async def asynchronous(self, seconds: float) -> None:
        self.append(seconds)


def sync_client(script: Script, sleeps: Sleeps | None = None, **options: Any) -> Botyard:
    return Botyard(
        API_KEY,
        BASE_URL,
        http_client=httpx.Client(transport=httpx.MockTransport(script)),
        sleep=(sleeps if sleeps is not None else Sleeps()).sync,
        **options,
    )


def async_client(script: Script, sleeps: Sleeps | None = None, **options: Any) -> AsyncBotyard:
    return AsyncBotyard(
        API_KEY,
        BASE_URL,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(script)),
        sleep=(sleeps if sleeps is not None else Sleeps()).asynchronous,
        **options,
    )


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        status, headers, content, delay = self.server.reply
        time.sleep(delay)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``seen`` instead."""


class FakeServer(ThreadingHTTPServer):
    """A real HTTP server on a free loopback port, in a thread, answering one fixed reply
    (status, headers, body, seconds to wait first) and keeping what it received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.reply: tuple[int, dict[str, str], bytes, float] = (200, {}, b"{}", 0.0)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(
        self, status: int, body: Any, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        content = json.dumps(body).encode()
        self.reply = (
            status,
            {"Content-Type": "application/json", **(headers or {})},
            content,
            delay,
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
