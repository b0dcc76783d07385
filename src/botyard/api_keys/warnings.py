"""Key hygiene warnings: what a team should look at on each key, computed for a page of keys.

Thresholds (all measured from the ``now`` passed in, so tests move a frozen clock):

- ``unused``: never used and created more than 7 days ago, or last used more than 90 days ago.
- ``rotation_due``: created more than 90 days ago (the guide says rotate every 3–6 months).
- ``expires_soon``: expires within the next 7 days (a rotated key in its grace period too).
- ``new_ip``: used from an address first seen for this key in the last 7 days that is not the
  first address the key was ever used from (the key's first address is where it was set up).
- ``revoked_key_in_use``: someone presented the key after it was revoked.
- ``exposed_in_url``: the key was sent in a URL query string, where logs keep it.
- ``leaked``: a leak report (``POST /v1/credentials/revoke`` or GitHub secret scanning)
  revoked the key.
- ``exposed_in_browser``: a browser sent the key (another site's ``Origin``, or a widget route).
- ``spike``: within the last 24 complete hours, an hour with more than 100 requests and more
  than 10 times the key's usual hour: the median of the hours in which it was used at all
  during the 7 days before those 24 hours. Using only active hours keeps a nightly batch job
  from looking like a spike every night. Keys younger than a day have no usual yet.

Revoked keys only get ``leaked`` and ``revoked_key_in_use``; expired keys get nothing (they cannot be used).
Three queries cover any number of keys: first addresses, recent addresses, hourly counts.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys.models import ApiKey, ApiKeyAddress
from botyard.api_keys.service import leaked_warning
from botyard.core.timefmt import rfc3339
from botyard.requestlog.models import RequestLog
from botyard.requestlog.service import epoch_hour, hour_of

UNUSED_GRACE = timedelta(days=7)
UNUSED_AFTER = timedelta(days=90)
ROTATE_AFTER = timedelta(days=90)
EXPIRES_SOON = timedelta(days=7)
NEW_IP_WINDOW = timedelta(days=7)
SPIKE_LOOKBACK_HOURS = 24
SPIKE_BASELINE_HOURS = 7 * 24
SPIKE_MIN_REQUESTS = 100
SPIKE_FACTOR = 10
SPIKE_MIN_KEY_AGE = timedelta(days=1)

Warning = dict[str, str]


def _warning(code: str, message: str) -> Warning:
    return {"code": code, "message": message}


def _day(value: datetime) -> str:
    return value.date().isoformat()


def _days(delta: timedelta) -> int:
    return int(delta.total_seconds() // 86400)


def _is_active(key: ApiKey, now: datetime) -> bool:
    if key.revoked_at is not None and key.revoked_at <= now:
        return False
    return key.expires_at is None or key.expires_at > now


def _unused(key: ApiKey, now: datetime) -> Warning | None:
    if key.last_used_at is None:
        if now - key.created_at > UNUSED_GRACE:
            return _warning(
                "unused",
                f"This key has never been used since it was created on {_day(key.created_at)}. "
                "If nothing needs it, revoke it: an unused key is only a risk.",
            )
        return None
    if now - key.last_used_at > UNUSED_AFTER:
        return _warning(
            "unused",
            f"This key has not been used for {_days(now - key.last_used_at)} days (last used "
            f"{rfc3339(key.last_used_at)}). If nothing needs it any more, revoke it.",
        )
    return None


def _rotation_due(key: ApiKey, now: datetime) -> Warning | None:
    age = now - key.created_at
    if age <= ROTATE_AFTER:
        return None
    return _warning(
        "rotation_due",
        f"This key is {_days(age)} days old (created {_day(key.created_at)}). Rotate keys every "
        "3 to 6 months: rotation gives a new key and keeps this one working during a grace period.",
    )


def _expires_soon(key: ApiKey, now: datetime) -> Warning | None:
    if key.expires_at is None or not now < key.expires_at <= now + EXPIRES_SOON:
        return None
    if key.rotated_to:
        advice = f"It was rotated: move every integration to {key.rotated_to} before then."
    else:
        advice = "Rotate it, or generate a new key, before then."
    return _warning("expires_soon", f"This key expires at {rfc3339(key.expires_at)}. {advice}")


def _revoked_in_use(key: ApiKey) -> Warning | None:
    if key.revoked_use_at is None:
        return None
    return _warning(
        "revoked_key_in_use",
        f"This key was revoked but was presented again, last at {rfc3339(key.revoked_use_at)}. "
        "Those requests were refused; find the integration still sending it, and check the "
        "request log for where they came from.",
    )


def _exposed_in_url(key: ApiKey) -> Warning | None:
    if key.exposed_in_url_at is None:
        return None
    return _warning(
        "exposed_in_url",
        f"This key was sent in a URL at {rfc3339(key.exposed_in_url_at)}, where server logs, "
        "proxies and browser history keep it. Rotate it, and send keys only in the "
        "Authorization header.",
    )


def _exposed_in_browser(key: ApiKey) -> Warning | None:
    if key.exposed_in_browser_at is None:
        return None
    return _warning(
        "exposed_in_browser",
        f"This key was sent from a web browser at {rfc3339(key.exposed_in_browser_at)}, so "
        "anyone who opened that page could copy it. Rotate it, keep secret keys on your "
        "server, and give web pages a publishable key from the bot's Website widget card.",
    )


def _new_ip(first_ever: datetime | None, recent: list[tuple[str, datetime]]) -> Warning | None:
    if first_ever is None:
        return None
    new = sorted((at, ip) for ip, at in recent if at > first_ever)
    if not new:
        return None
    shown = ", ".join(f"{ip} (first seen {rfc3339(at)})" for at, ip in new[:3])
    more = f" and {len(new) - 3} more" if len(new) > 3 else ""
    return _warning(
        "new_ip",
        f"This key was used from an address never seen for it before: {shown}{more}. If you do "
        "not recognise it, revoke the key; otherwise consider an IP allow-list.",
    )


def _spike(key: ApiKey, counts: dict[int, int], now: datetime) -> Warning | None:
    current_hour = int(now.timestamp() // 3600)
    if now - key.created_at < SPIKE_MIN_KEY_AGE or not counts:
        return None
    window_start = current_hour - SPIKE_LOOKBACK_HOURS
    born = int(key.created_at.timestamp() // 3600)
    baseline = [
        n
        for h, n in counts.items()
        if max(window_start - SPIKE_BASELINE_HOURS, born) <= h < window_start and n > 0
    ]
    usual = statistics.median(baseline) if baseline else 0
    threshold = max(SPIKE_MIN_REQUESTS, SPIKE_FACTOR * usual)
    peaks = [
        (n, h) for h, n in counts.items() if window_start <= h < current_hour and n > threshold
    ]
    if not peaks:
        return None
    requests, hour = max(peaks)
    usual_text = f"a usual {usual:g} per hour" if baseline else "no use in the week before"
    return _warning(
        "spike",
        f"This key made {requests} requests in the hour from {rfc3339(hour_of(hour))}, against "
        f"{usual_text}. If that was not you, revoke it and check the request log.",
    )


async def warnings_for(
    session: AsyncSession, keys: list[ApiKey], now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """For each key id, its warnings as ``{"code", "message"}``, in a fixed order."""
    result: dict[str, list[dict[str, Any]]] = {key.id: [] for key in keys}
    active = [key for key in keys if _is_active(key, now)]
    for key in keys:
        if key.revoked_at is not None and key.revoked_at <= now:
            if key.leaked_at is not None:
                result[key.id].append(leaked_warning(key))
            found = _revoked_in_use(key)
            if found:
                result[key.id].append(found)
    if not active:
        return result

    ids = [key.id for key in active]
    first_seen = dict(
        (
            await session.execute(
                select(ApiKeyAddress.key_id, func.min(ApiKeyAddress.first_seen_at))
                .where(ApiKeyAddress.key_id.in_(ids))
                .group_by(ApiKeyAddress.key_id)
            )
        ).all()
    )
    recent: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for key_id, ip, at in (
        await session.execute(
            select(ApiKeyAddress.key_id, ApiKeyAddress.ip, ApiKeyAddress.first_seen_at).where(
                ApiKeyAddress.key_id.in_(ids),
                ApiKeyAddress.first_seen_at > now - NEW_IP_WINDOW,
            )
        )
    ).all():
        recent[key_id].append((ip, at))

    current_hour = int(now.timestamp() // 3600)
    since = hour_of(current_hour - SPIKE_LOOKBACK_HOURS - SPIKE_BASELINE_HOURS)
    hour = epoch_hour(RequestLog.created_at).label("hour")
    hourly: dict[str, dict[int, int]] = defaultdict(dict)
    for logged_key, h, n in (
        await session.execute(
            select(RequestLog.key_id, hour, func.count())
            .where(
                RequestLog.key_id.in_(ids),
                RequestLog.created_at >= since,
                RequestLog.created_at < hour_of(current_hour),
            )
            .group_by(RequestLog.key_id, hour)
        )
    ).all():
        if logged_key is not None:
            hourly[logged_key][int(h)] = int(n)

    for key in active:
        found_all = [
            _unused(key, now),
            _rotation_due(key, now),
            _expires_soon(key, now),
            _new_ip(first_seen.get(key.id), recent.get(key.id, [])),
            _spike(key, hourly.get(key.id, {}), now),
            _exposed_in_url(key),
            _exposed_in_browser(key),
            _revoked_in_use(key),
        ]
        result[key.id].extend(w for w in found_all if w is not None)
    return result
