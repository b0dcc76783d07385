"""The HTTP/1.1 protocol ``botyard serve`` runs: uvicorn's httptools protocol with a bound on
the size of a request's head and on the time it may take to arrive.

uvicorn bounds neither with httptools (its ``h11_max_incomplete_event_size`` applies only to
h11, which is slower): a 100 MB header was read whole, re-copied as it grew, and stalled every
other request on the event loop; connections that trickle a header byte at a time were held
forever. Here the head is fed to the parser in slices that never take it past
``BOTYARD_MAX_HEADER_BYTES`` (431, then the connection is closed), and a deadline of
``BOTYARD_HEADER_TIMEOUT`` seconds runs from a head's first byte, or from connecting, until
the head is complete (408, then closed). The deadline is not reset by new bytes, so trickling
cannot stretch it. A body has ``BOTYARD_BODY_TIMEOUT`` seconds from the end of its head.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from botyard.core.config import get_settings
from botyard.core.security_headers import NOSNIFF

logger = logging.getLogger("botyard.http")


def _refusal(status: int, code: str, message: str) -> bytes:
    """A complete response closing the connection, in the API's error envelope."""
    error = {"type": "invalid_request", "code": code, "message": message}
    body = json.dumps({"error": error}).encode()
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"%s: %s\r\n" % NOSNIFF,
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.head_timeout = settings.header_timeout
        self.head_bytes = 0
        self.reading_head = True
        self.head_deadline: asyncio.TimerHandle | None = None
        self.body_timeout = settings.body_timeout
        self.body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        self._disarm_body_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while data:
            if not self.reading_head:
                super().data_received(data)
                return
            if self.head_deadline is None:
                self._arm_head_deadline()
            allowance = self.max_head_bytes - self.head_bytes + 1
            piece, data = data[:allowance], data[allowance:]
            self.head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
            if self.reading_head and self.head_bytes > self.max_head_bytes:
                self._refuse(
                    431,
                    "request_header_fields_too_large",
                    f"The request line and headers are over {self.max_head_bytes} bytes.",
                )
                return

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP, in the API's envelope with nosniff."""
        self._disarm_head_deadline()
        self.transport.write(_refusal(400, "invalid_http_request", msg))
        self.transport.close()

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self._disarm_head_deadline()
        super().on_headers_complete()
        self._disarm_body_deadline()
        self.body_deadline = self.loop.call_later(self.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm_body_deadline()
        super().on_message_complete()
        self.reading_head = True
        self.head_bytes = 0

    def _disarm_body_deadline(self) -> None:
        if self.body_deadline is not None:
            self.body_deadline.cancel()
            self.body_deadline = None

    def _body_timed_out(self) -> None:
        """A body still incomplete: 408 if nothing was answered yet, then close, which tells
        the application waiting for the rest that the client is gone."""
        self.body_deadline = None
        if self.transport.is_closing():
            return
        if self.pipeline:
            # A pipelined request's body is not read while the one before it is answered.
            self.body_deadline = self.loop.call_later(self.body_timeout, self._body_timed_out)
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        if self.cycle is not None:
            # The application reading the body sees the client gone and can write nothing.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._refuse(
            408,
            "request_timeout",
            f"The request's body did not arrive within {self.body_timeout:g} seconds.",
        )

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self.head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head waits while the request before it is answered.
            self._arm_head_deadline()
            return
        if self.head_bytes == 0:
            self.transport.close()  # connected and never said anything
            return
        self._refuse(
            408,
            "request_timeout",
            f"The request's headers did not arrive within {self.head_timeout:g} seconds.",
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client"
        logger.warning("%s refused with %d: %s", client, status, message)
        self._disarm_head_deadline()
        self.transport.write(_refusal(status, code, message))
        self.transport.close()
