"""The delivery worker: every ``botyard serve`` process runs one, off the request path.

It claims due deliveries in one statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's
single writer otherwise) and leases them for longer than an attempt can take, so with several
servers each delivery is attempted by one of them at a time; a server that dies mid-attempt
lets its lease run out and another one sends the delivery again, with the same ``webhook-id``.
Every attempt is recorded. Failures are retried on the contract's schedule with jitter, or
after the receiver's ``Retry-After``; a 410 or five days of failures disables the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import httpx
from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from botyard.audit.service import Actor, record
from botyard.core import clock
from botyard.core.database import UTCDateTime
from botyard.core.ids import new_id
from botyard.core.outage import BackgroundFailures
from botyard.core.secretbox import SecretBox
from botyard.webhooks import events, ssrf
from botyard.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from botyard.webhooks.service import secrets_in_use
from botyard.webhooks.signing import signature_header

logger = logging.getLogger("botyard.webhooks")

BACKOFF = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""The wait after each failed attempt; a delivery whose 8th attempt fails is given up."""
JITTER = 0.1
"""Each wait is stretched or shrunk by up to 10%, so failed deliveries do not retry in step."""
RETRY_AFTER_CAP = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=5)
ATTEMPT_TIMEOUT = 10.0
LEASE = timedelta(seconds=ATTEMPT_TIMEOUT + 5)
BATCH = 100
RESPONSE_BODY_MAX = 1024
RETENTION = timedelta(days=30)
PURGE_EVERY = 3600.0
USER_AGENT = "Botyard-Webhooks/1.0"
SYSTEM_ACTOR = Actor("system")

_deliveries: Table = WebhookDelivery.__table__  # type: ignore[assignment]
_INSERT_ATTEMPTS = insert(cast(Table, WebhookAttempt.__table__))
_FINISH_ATTEMPT = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("b_id"),
        _deliveries.c.locked_until == bindparam("b_lease", type_=UTCDateTime()),
    )
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
        attempt_count=_deliveries.c.attempt_count + 1,
        locked_until=None,
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)
"""One statement run for every delivery of a round (executemany); only the server holding a
delivery's lease may finish it."""


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: str
    lease: datetime
    attempt_number: int
    event_id: str
    body: bytes
    endpoint_id: str
    organization_id: str
    url: str
    secrets: list[str]


@dataclass(frozen=True, slots=True)
class Outcome:
    response_status: int | None
    duration_ms: int
    response_body: str
    error: str | None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


def backoff(attempt_number: int, rng: Callable[[], float] = random.random) -> timedelta | None:
    """The wait after failed attempt ``attempt_number`` (1-based), None once they are used up."""
    if attempt_number > len(BACKOFF):
        return None
    base = BACKOFF[attempt_number - 1]
    return base * (1 + JITTER * (2 * rng() - 1))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` in seconds or as an HTTP date, capped at 24 hours."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            at = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if at.tzinfo is None:
            return None
        delay = at - now
    return min(max(delay, timedelta(0)), RETRY_AFTER_CAP)


_OUTCOME_NAMES = {"succeeded": "delivered", "pending": "retrying", "failed": "given_up"}
"""What an attempt's new delivery status means, as /metrics names it."""


class DeliveryWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        secret_box: Callable[[], SecretBox],
        *,
        allow_private: bool,
        poll_interval: float = 1.0,
        resolver: ssrf.Resolver = ssrf.system_resolver,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._secret_box = secret_box
        self._allow_private = allow_private
        self._poll_interval = poll_interval
        self._failures = BackgroundFailures(logger, "the webhook delivery worker")
        self.attempts: dict[str, int] = {}
        """Delivery attempts this process made, by outcome (delivered, retrying, given_up)."""
        self._resolver = resolver
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_purge = 0.0

    def _client_for(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(ATTEMPT_TIMEOUT),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=BATCH, max_keepalive_connections=20),
                trust_env=False,
            )
        return self._client

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        events.add_waker(self.wake)
        self._task = asyncio.create_task(self._run(), name="botyard-webhook-worker")

    def wake(self) -> None:
        """Look for due deliveries now (called after a commit that queued some)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def stop(self) -> None:
        events.remove_waker(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.close()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                sent = await self.run_once()
                if time.monotonic() - self._last_purge > PURGE_EVERY:
                    await self.purge()
                self._failures.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures.failed(exc)
                sent = 0
            if sent >= BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    async def run_once(self) -> int:
        """Claim what is due, send it, record the outcomes; returns how many were sent."""
        claimed = await self.claim()
        if claimed:
            outcomes = await asyncio.gather(*(self._attempt(c) for c in claimed))
            await self.record_outcomes(list(zip(claimed, outcomes, strict=True)))
        return len(claimed)

    async def claim(self, limit: int = BATCH) -> list[Claimed]:
        now = clock.now()
        lease = now + LEASE
        enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
        due = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
                WebhookDelivery.endpoint_id.in_(enabled),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._sessionmaker() as session, session.begin():
            ids = list(
                (
                    await session.scalars(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(due.scalar_subquery()))
                        .values(locked_until=lease)
                        .returning(WebhookDelivery.id)
                    )
                ).all()
            )
            if not ids:
                return []
            rows = (
                await session.execute(
                    select(WebhookDelivery, WebhookEvent.body, WebhookEndpoint)
                    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(ids))
                )
            ).all()
        box = self._secret_box()
        opened: dict[str, list[str]] = {}  # one decryption per endpoint, not per delivery
        for _, _, endpoint in rows:
            if endpoint.id not in opened:
                opened[endpoint.id] = secrets_in_use(box, endpoint, now)
        return [
            Claimed(
                delivery_id=delivery.id,
                lease=lease,
                attempt_number=delivery.attempt_count + 1,
                event_id=delivery.event_id,
                body=body.encode(),
                endpoint_id=endpoint.id,
                organization_id=endpoint.organization_id,
                url=endpoint.url,
                secrets=opened[endpoint.id],
            )
            for delivery, body, endpoint in rows
        ]

    async def _attempt(self, claimed: Claimed) -> Outcome:
        try:
            return await self.send(claimed)
        except Exception as exc:  # a bug must not leave the lease held forever
            logger.exception("sending delivery %s failed", claimed.delivery_id)
            return Outcome(None, 0, "", f"internal error: {type(exc).__name__}")

    async def send(self, claimed: Claimed) -> Outcome:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            target = await ssrf.vet(
                claimed.url, allow_private=self._allow_private, resolver=self._resolver
            )
        except ssrf.UnsafeURL as exc:
            return Outcome(None, elapsed(), "", f"refused: {exc}"[:300])
        timestamp = int(clock.timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": claimed.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                claimed.secrets, claimed.event_id, timestamp, claimed.body
            ),
        }
        url = httpx.URL(claimed.url)
        extensions: dict[str, str] = {}
        if url.host != target.address:
            # Connect to the address that was checked, not to whatever the name resolves to a
            # moment later; TLS still checks the certificate against the name.
            headers["host"] = url.netloc.decode("ascii")
            extensions["sni_hostname"] = url.host
            url = url.copy_with(host=target.address)
        client = self._client_for()
        request = client.build_request(
            "POST", url, content=claimed.body, headers=headers, extensions=extensions
        )
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT):
                response = await client.send(request, stream=True)
                try:
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= RESPONSE_BODY_MAX:
                            break
                finally:
                    await response.aclose()
        except TimeoutError:
            return Outcome(None, elapsed(), "", f"timed out after {ATTEMPT_TIMEOUT:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, elapsed(), "", f"{type(exc).__name__}: {exc}"[:300])
        return Outcome(
            response.status_code,
            elapsed(),
            body[:RESPONSE_BODY_MAX].decode("utf-8", errors="replace"),
            None,
            parse_retry_after(response.headers.get("retry-after"), clock.now()),
        )

    async def record_outcomes(self, results: list[tuple[Claimed, Outcome]]) -> None:
        """Every attempt of a round in one transaction and a few statements: one commit, not
        one per delivery (on SQLite, concurrent writers would queue on the file lock)."""
        now = clock.now()
        rows = []
        for claimed, outcome in results:
            if outcome.succeeded:
                status, next_at = "succeeded", None
            elif outcome.response_status == 410:
                status, next_at = "failed", None
            else:
                wait = outcome.retry_after
                if wait is None:
                    wait = backoff(claimed.attempt_number)
                status, next_at = ("failed", None) if wait is None else ("pending", now + wait)
            rows.append(
                {
                    "b_id": claimed.delivery_id,
                    "b_lease": claimed.lease,
                    "b_status": status,
                    "b_next": next_at,
                    "b_now": now,
                }
            )
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                _INSERT_ATTEMPTS,
                [
                    {
                        "id": new_id("att"),
                        "delivery_id": claimed.delivery_id,
                        "at": now,
                        "response_status": outcome.response_status,
                        "duration_ms": outcome.duration_ms,
                        "response_body": outcome.response_body,
                        "error": outcome.error,
                    }
                    for claimed, outcome in results
                ],
            )
            await session.execute(_FINISH_ATTEMPT, rows)
            answered = {c.endpoint_id for c, o in results if o.succeeded}
            if answered:
                await session.execute(
                    update(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.id.in_(answered),
                        WebhookEndpoint.failing_since.is_not(None),
                    )
                    .values(failing_since=None)
                )
            for claimed, outcome in results:
                if outcome.response_status == 410:
                    await self._disable(
                        session, claimed, "the endpoint answered 410 Gone", now, reason_code="gone"
                    )
                elif not outcome.succeeded:
                    await self._note_failure(session, claimed, now)
        for row in rows:  # committed: count each attempt by what became of its delivery
            outcome_name = _OUTCOME_NAMES[str(row["b_status"])]
            self.attempts[outcome_name] = self.attempts.get(outcome_name, 0) + 1

    async def _note_failure(self, session: AsyncSession, claimed: Claimed, now: datetime) -> None:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == claimed.endpoint_id)
            .values(failing_since=func.coalesce(WebhookEndpoint.failing_since, now))
        )
        failing_since = await session.scalar(
            select(WebhookEndpoint.failing_since).where(WebhookEndpoint.id == claimed.endpoint_id)
        )
        if failing_since is not None and now - failing_since >= DISABLE_AFTER:
            await self._disable(
                session,
                claimed,
                "every delivery failed for 5 days",
                now,
                reason_code="failing",
            )

    async def _disable(
        self,
        session: AsyncSession,
        claimed: Claimed,
        reason: str,
        now: datetime,
        *,
        reason_code: str,
    ) -> None:
        """Disable once: only the update that turns the endpoint off writes the audit entry."""
        result = await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == claimed.endpoint_id, WebhookEndpoint.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            events.forget_subscriptions(session)
            logger.warning("disabled webhook endpoint %s: %s", claimed.endpoint_id, reason)
            await record(
                session,
                organization_id=claimed.organization_id,
                action="webhook.disabled",
                actor=SYSTEM_ACTOR,
                target_type="webhook_endpoint",
                target_id=claimed.endpoint_id,
                data={"reason": reason_code, "message": reason, "delivery_id": claimed.delivery_id},
            )

    async def purge(self) -> None:
        """Forget attempts, and finished deliveries, older than 30 days."""
        self._last_purge = time.monotonic()
        cutoff = clock.now() - RETENTION
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(WebhookAttempt).where(WebhookAttempt.at < cutoff))
            await session.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.status != "pending", WebhookDelivery.updated_at < cutoff
                )
            )
            await session.execute(
                delete(WebhookEvent).where(
                    WebhookEvent.created_at < cutoff,
                    ~select(WebhookDelivery.id)
                    .where(WebhookDelivery.event_id == WebhookEvent.id)
                    .exists(),
                )
            )
