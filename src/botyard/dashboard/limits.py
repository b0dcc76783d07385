"""How many changes a dashboard user, and an organization's users together, may make per hour.

The API charges every request to the organization's hourly budget; the dashboard had none, so
a member of any organization (a free one too) could post knowledge entries and "try it"
messages as fast as a script sends them (issue 17). Each change made from the bot pages now
counts against the user and the organization in one step of the app's limiter (in process or
Redis), the same mechanism as the API's limits and the login guard.
"""

from __future__ import annotations

from botyard.core import clock
from botyard.ratelimit.limiter import Bucket, Decision, Limiter

WRITE_WINDOW_SECONDS = 3600


def write_buckets(
    user_id: str, organization_id: str, user_limit: int, organization_limit: int
) -> list[Bucket]:
    return [
        Bucket(f"dashboard-write:user:{user_id}", user_limit),
        Bucket(f"dashboard-write:org:{organization_id}", organization_limit),
    ]


async def count_write(
    limiter: Limiter, user_id: str, organization_id: str, user_limit: int, organization_limit: int
) -> Decision:
    """Charge one change to the user and the organization; refused, it is charged to neither."""
    return await limiter.hit(
        write_buckets(user_id, organization_id, user_limit, organization_limit),
        WRITE_WINDOW_SECONDS,
        clock.timestamp(),
    )
