"""Telling a database that is down or hung from a bug, and answering it with one 503.

A request that fails because the database cannot be reached gets 503 ``service_unavailable``
with ``Retry-After`` instead of a 500 with a traceback. The outage is logged once when it
starts and once when a statement succeeds again, with how many requests were refused.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import socket
import sqlite3
import time

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse

from botyard.core.errors import error_response

logger = logging.getLogger("botyard.database")

_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")
_ASYNCPG_UNAVAILABLE = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed", "another operation is in progress"
)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8 and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be reached or did not answer in time,
    rather than that a statement was wrong."""
    for cause in _causes(exc):
        if isinstance(cause, sa_exc.TimeoutError | TimeoutError | socket.gaierror):
            return True  # pool checkout, connect or statement timeout; unknown host
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, _ASYNCPG_UNAVAILABLE):
            return True
        if isinstance(cause, sqlite3.OperationalError):
            return str(cause).lower().startswith(_SQLITE_UNAVAILABLE)
        if isinstance(cause, OSError) and (
            cause.errno in _UNREACHABLE_ERRNOS or str(cause).startswith("Multiple exceptions")
        ):
            return True
    return False


def describe(exc: BaseException) -> str:
    """The innermost cause in one line, e.g. ``ConnectionRefusedError: Connect call failed``
    (a timeout's own cancellation left out: the timeout says more)."""
    causes = [c for c in _causes(exc) if not isinstance(c, asyncio.CancelledError)] or [exc]
    cause = causes[-1]
    text = " ".join(str(cause).split())[:200]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def masked_url(url: str) -> str:
    """The database URL with its password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def database_name(url: str) -> str:
    """Where the database is, for log lines: host, port and database, never credentials."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite {parsed.database}"
    return f"{parsed.get_backend_name()} {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


class DatabaseOutage:
    """Whether the app's database is currently unreachable, and what that has cost."""

    def __init__(self, engine: AsyncEngine, timeout: float) -> None:
        self.name = database_name(engine.url.render_as_string(hide_password=True))
        self.retry_after = max(1, math.ceil(timeout))
        self.active = False
        self.started_at = 0.0
        self.refused = 0
        self.total_refused = 0
        self.outages = 0
        # A statement that succeeds ends the outage; checking a flag costs every statement
        # almost nothing.
        event.listen(engine.sync_engine, "after_cursor_execute", self._statement_succeeded)

    def _statement_succeeded(self, *_: object) -> None:
        if self.active:
            self.ended()

    def failed(self, exc: BaseException) -> None:
        """A request was refused because of the database: log the first of an outage only."""
        if not self.active:
            self.active = True
            self.started_at = time.monotonic()
            self.refused = 0
            self.outages += 1
            logger.error(
                "database unavailable (%s, %s): answering 503 service_unavailable until it "
                "answers again",
                self.name,
                describe(exc),
            )
        self.refused += 1
        self.total_refused += 1

    def ended(self) -> None:
        self.active = False
        logger.warning(
            "database available again (%s) after %.1f s; %d requests were answered 503",
            self.name,
            time.monotonic() - self.started_at,
            self.refused,
        )

    def response(self, request: Request) -> JSONResponse:
        return error_response(
            request,
            503,
            type="service_unavailable",
            code="service_unavailable",
            message="The service is temporarily unavailable: its database is not answering. "
            f"Retry in {self.retry_after} seconds.",
            headers={"Retry-After": str(self.retry_after)},
        )


class BackgroundFailures:
    """How a background loop reports failed rounds: a bug gets its traceback every time; the
    database being away gets one line when it starts failing and one when it works again."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.failing = False

    def failed(self, exc: BaseException) -> None:
        if not is_database_unavailable(exc):
            self.logger.error("%s failed; retrying", self.what, exc_info=exc)
            return
        if not self.failing:
            self.failing = True
            self.logger.error("%s: database unavailable (%s); retrying", self.what, describe(exc))

    def succeeded(self) -> None:
        if self.failing:
            self.failing = False
            self.logger.warning("%s: database available again", self.what)
