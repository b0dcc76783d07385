"""The demo organization `botyard demo` seeds: Acme on the Professional plan, an owner, a bot
with a real knowledge base. Running it again changes nothing but the owner's password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots.models import Bot, KnowledgeEntry
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization, Plan
from botyard.users import service as users
from botyard.users.models import Role
from botyard.users.passwords import hash_password

DEMO_ORG = "Acme"
DEMO_OWNER = "owner@acme.example"
DEMO_BOT = "Acme Support"

KNOWLEDGE: list[tuple[str, str, list[str]]] = [
    (
        "How do I reset my password?",
        "Click 'Forgot password' on the sign-in page and follow the link we email you. "
        "The link is valid for one hour.",
        ["account"],
    ),
    (
        "What are your opening hours?",
        "Our support team is available Monday to Friday, 9:00 to 18:00 CET.",
        ["support"],
    ),
    (
        "How much does the Professional plan cost?",
        "Professional costs $49 per month, billed monthly, or $490 per year.",
        ["billing", "pricing"],
    ),
    (
        "How do I get a refund?",
        "Write to billing@acme.example within 30 days of payment and we refund you in full.",
        ["billing"],
    ),
    (
        "How long does shipping take?",
        "Orders ship within 2 business days; delivery takes 3 to 5 days in the EU.",
        ["orders"],
    ),
    (
        "How can I track my order?",
        "Use the tracking link in your shipping confirmation email, or open Orders in your account.",
        ["orders"],
    ),
    (
        "How do I cancel my subscription?",
        "Open Settings > Billing and click 'Cancel subscription'. You keep access until the end "
        "of the period you paid for.",
        ["billing"],
    ),
    (
        "How do I delete my account?",
        "Open Settings > Account and choose 'Delete account'. We erase your data within 30 days.",
        ["account", "privacy"],
    ),
    (
        "How do I create an API key?",
        "Owners and admins open Settings > API, click 'Generate New API Key', name it and pick "
        "its scopes. Copy the key at once: it is shown only once.",
        ["developers"],
    ),
    (
        "How can I contact a human?",
        "Email support@acme.example or call +1 555 0100 during opening hours.",
        ["support"],
    ),
]


@dataclass(frozen=True, slots=True)
class DemoResult:
    organization: Organization
    owner_email: str
    owner_password: str
    bot: Bot
    created: bool


async def seed_demo(session: AsyncSession) -> DemoResult:
    """Idempotent: finds what exists, creates what is missing, and sets a fresh owner password."""
    org = await orgs.find(session, DEMO_ORG)
    created = org is None
    if org is None:
        org = await orgs.create(session, DEMO_ORG, Plan.PROFESSIONAL)
    password = secrets.token_urlsafe(12)
    owner = await users.find_by_email(session, DEMO_OWNER)
    if owner is None:
        owner = await users.create_user(session, DEMO_OWNER, password, name="Acme Owner")
    else:
        owner.password_hash = hash_password(password)
    if await users.membership(session, org.id, owner.id) is None:
        await users.add_member(session, org, owner, Role.OWNER)
    bot = (
        await session.scalars(
            select(Bot).where(Bot.organization_id == org.id, Bot.name == DEMO_BOT)
        )
    ).first()
    if bot is None:
        bot = Bot(
            organization_id=org.id,
            name=DEMO_BOT,
            description="Answers customer questions about orders, billing and accounts.",
        )
        session.add(bot)
        await session.flush()
        for question, answer, tags in KNOWLEDGE:
            session.add(
                KnowledgeEntry(
                    organization_id=org.id,
                    bot_id=bot.id,
                    question=question,
                    answer=answer,
                    tags=tags,
                )
            )
        await session.flush()
    return DemoResult(org, DEMO_OWNER, password, bot, created)
