"""The demo organization `botyard demo` seeds: Acme on the Professional plan, an owner, a bot
with a real knowledge base and a week of conversations. Running it again changes nothing: the
owner's password is derived from the secret key, so every run prints the same one."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations import service as conversations
from botyard.conversations.models import Conversation
from botyard.core import clock
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization, Plan
from botyard.users import service as users
from botyard.users.models import Role
from botyard.users.passwords import hash_password_async, verify_password_async

DEMO_ORG = "Acme"
DEMO_PASSWORD_PURPOSE = "demo-owner-password"  # noqa: S105 (a label for key derivation)
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


ANSWERABLE_QUESTIONS = (
    "I forgot my password",
    "when is support open?",
    "what are your hours",
    "how much is the professional plan",
    "price of professional?",
    "can I get my money back",
    "I want a refund",
    "how long is delivery",
    "track my order",
    "how do I cancel my subscription",
    "stop my subscription",
    "close my account",
    "how to create an api key",
    "can I talk to a human",
    "phone number for support",
)
"""End-user messages the demo knowledge base answers."""

UNANSWERABLE_QUESTIONS = (
    "do you ship to japan",
    "is there a student discount",
    "can I pay with bitcoin",
    "do you have a mobile app",
    "my invoice shows the wrong VAT number",
    "how do I change my password",
)
"""End-user messages it cannot answer, so the analytics show fallbacks too."""

DEMO_CONVERSATIONS = 36
DEMO_END_USERS = 12
DEMO_PERIOD = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DemoResult:
    organization: Organization
    owner_email: str
    owner_password: str | None
    """None when the owner has changed it since the demo set it."""
    bot: Bot
    created: bool
    conversations_seeded: int = 0


async def seed_demo(
    session: AsyncSession, password: str, *, reset_password: bool = False
) -> DemoResult:
    """Idempotent: finds what exists and creates what is missing.

    The owner gets ``password`` when created (or when ``reset_password`` asks); a password
    the owner chose since is left alone, and the result says so."""
    org = await orgs.find(session, DEMO_ORG)
    created = org is None
    if org is None:
        org = await orgs.create(session, DEMO_ORG, Plan.PROFESSIONAL)
    owner = await users.find_by_email(session, DEMO_OWNER)
    password_is_current = True
    if owner is None:
        owner = await users.create_user(session, DEMO_OWNER, password, name="Acme Owner")
    elif reset_password:
        owner.password_hash = await hash_password_async(password)
    else:
        password_is_current = await verify_password_async(owner.password_hash, password)
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
    seeded = await seed_conversations(session, bot)
    return DemoResult(
        org, DEMO_OWNER, password if password_is_current else None, bot, created, seeded
    )


async def seed_conversations(session: AsyncSession, bot: Bot) -> int:
    """A week of chats through the real reply path, once: skipped if the bot has any.

    Start times are spread over the last 7 days (a fixed seed keeps every run alike), most
    conversations come from a dozen returning end users, some are anonymous, and about one
    question in four is one the knowledge base cannot answer.
    """
    has_conversations = await session.scalar(select(exists().where(Conversation.bot_id == bot.id)))
    if has_conversations or bot.status != "active":
        return 0
    rng = random.Random(7)
    now = clock.now()
    period_minutes = int(DEMO_PERIOD.total_seconds() // 60)
    starts = sorted(
        now - timedelta(minutes=rng.randint(60, period_minutes - 1))
        for _ in range(DEMO_CONVERSATIONS)
    )
    for started_at in starts:
        user = None if rng.random() < 0.2 else f"customer-{rng.randint(1, DEMO_END_USERS):02d}"
        conversation, _ = await conversations.start_conversation(
            session, bot, external_user_id=user, at=started_at
        )
        at = started_at
        for _ in range(rng.randint(1, 3)):
            at += timedelta(minutes=rng.randint(1, 4))
            pool = UNANSWERABLE_QUESTIONS if rng.random() < 0.25 else ANSWERABLE_QUESTIONS
            await conversations.post_message(session, conversation, rng.choice(pool), at=at)
        if now - at > timedelta(hours=1) and rng.random() < 0.7:
            await conversations.close_conversation(
                session, conversation, at=at + timedelta(minutes=5)
            )
    return len(starts)
