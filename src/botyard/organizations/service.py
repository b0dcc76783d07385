"""Organization rules: unique names, plans, per-organization rate limits."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys.cache import key_cache
from botyard.audit.service import Actor, record
from botyard.core.database import after_commit
from botyard.core.errors import APIError, Conflict, NotFound
from botyard.organizations.models import Organization, Plan

ORG_NAME_MAX = 100


def parse_plan(value: str) -> Plan:
    try:
        return Plan(value.lower())
    except ValueError:
        choices = ", ".join(p.value for p in Plan)
        raise APIError(
            "invalid_plan", f"Unknown plan {value!r}; choose one of {choices}.", param="plan"
        ) from None


async def create(session: AsyncSession, name: str, plan: Plan = Plan.FREE) -> Organization:
    name = name.strip()
    if not 1 <= len(name) <= ORG_NAME_MAX:
        raise APIError(
            "invalid_name", f"Name must be 1 to {ORG_NAME_MAX} characters.", param="name"
        )
    if await find(session, name) is not None:
        raise Conflict("name_taken", f"An organization named {name!r} already exists.")
    org = Organization(name=name, plan=plan.value)
    session.add(org)
    await session.flush()
    return org


async def find(session: AsyncSession, ref: str) -> Organization | None:
    """By id, or by name ignoring case."""
    query = select(Organization).where(
        or_(Organization.id == ref, func.lower(Organization.name) == ref.strip().lower())
    )
    return (await session.scalars(query)).first()


async def get(session: AsyncSession, ref: str) -> Organization:
    org = await find(session, ref)
    if org is None:
        raise NotFound(f"organization {ref!r} (give its id or exact name)", param="org")
    return org


async def list_all(session: AsyncSession) -> list[Organization]:
    return list((await session.scalars(select(Organization).order_by(Organization.name))).all())


def _evict_keys_on_commit(session: AsyncSession, org: Organization) -> None:
    """Cached keys carry the plan and limit; drop them once the change is visible to all."""
    organization_id = org.id
    after_commit(session, lambda: key_cache.evict_organization(organization_id))


async def set_plan(session: AsyncSession, org: Organization, plan: Plan, actor: Actor) -> None:
    previous = org.plan
    org.plan = plan.value
    _evict_keys_on_commit(session, org)
    await record(
        session,
        organization_id=org.id,
        action="plan.changed",
        actor=actor,
        target_type="organization",
        target_id=org.id,
        data={"from": previous, "to": plan.value},
    )


async def set_rate_limit(
    session: AsyncSession, org: Organization, limit: int | None, actor: Actor
) -> None:
    if limit is not None and limit < 1:
        raise APIError("invalid_rate_limit", "Rate limit must be at least 1.", param="rate_limit")
    previous = org.rate_limit
    org.rate_limit = limit
    _evict_keys_on_commit(session, org)
    await record(
        session,
        organization_id=org.id,
        action="rate_limit.changed",
        actor=actor,
        target_type="organization",
        target_id=org.id,
        data={"from": previous, "to": limit},
    )


async def hold(session: AsyncSession, organization_id: str) -> None:
    """Serialize a check and the write it guards within one organization until commit.

    PostgreSQL locks the organization's row (``FOR NO KEY UPDATE``, so rows that merely
    reference it are still inserted); on SQLite the no-op UPDATE takes the database's write
    lock, which the transaction keeps, so the check that follows reads the latest state.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(Organization.id)
            .where(Organization.id == organization_id)
            .with_for_update(key_share=True)
        )
    else:
        await session.execute(
            update(Organization)
            .where(Organization.id == organization_id)
            .values(id=Organization.id)
            .execution_options(synchronize_session=False)
        )
