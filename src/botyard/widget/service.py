"""Publishable keys, identity verification and the visitor side of widget conversations.

Widget conversations are started and answered by the conversations service, like every other
conversation; this module adds who may do it: a publishable key of the bot, from one of its
origins, and the visitor holding the conversation's ``visitor_token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from botyard.api_keys import keyformat
from botyard.audit.service import Actor, record
from botyard.bots.models import Bot
from botyard.conversations import service as conversations
from botyard.conversations.models import Conversation, Message
from botyard.core import clock
from botyard.core.database import after_commit, fetch_first, update_if
from botyard.core.errors import APIError, Conflict, InsufficientPermissions, NotFound
from botyard.core.ids import new_id
from botyard.core.secretbox import SecretBox
from botyard.widget.models import PublishableKey, WidgetConversation
from botyard.widget.origins import OriginSet, normalize_all

IDENTITY_PURPOSE = "identity-secret"


# Management -------------------------------------------------------------------------------


async def create_key(
    session: AsyncSession, bot: Bot, *, name: str, allowed_origins: list[str], actor: Actor
) -> PublishableKey:
    key = PublishableKey(
        organization_id=bot.organization_id,
        bot_id=bot.id,
        key=keyformat.generate(keyformat.PUBLISHABLE_PREFIX),
        name=name,
        allowed_origins=normalize_all(allowed_origins),
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(key)
    await session.flush()
    await _audit(session, key, "publishable_key.created", actor)
    _forget_after_commit(session)
    return key


async def list_keys(session: AsyncSession, bot: Bot) -> list[PublishableKey]:
    """A bot has a handful of keys: all of them, newest first."""
    query = (
        select(PublishableKey)
        .where(
            PublishableKey.organization_id == bot.organization_id,
            PublishableKey.bot_id == bot.id,
        )
        .order_by(PublishableKey.created_at.desc(), PublishableKey.id.desc())
    )
    return list((await session.scalars(query)).all())


async def key_names(session: AsyncSession, organization_id: str) -> dict[str, str]:
    """Display names of the organization's publishable keys, for request-log pages."""
    rows = await session.execute(
        select(PublishableKey.id, PublishableKey.name, PublishableKey.key).where(
            PublishableKey.organization_id == organization_id
        )
    )
    return {key_id: f"{name} (publishable {key[:8]}…)" for key_id, name, key in rows.all()}


async def get_key(session: AsyncSession, bot: Bot, key_id: str) -> PublishableKey:
    key = await session.get(PublishableKey, key_id) if key_id.isascii() else None
    if key is None or key.organization_id != bot.organization_id or key.bot_id != bot.id:
        raise NotFound("publishable key", param="key_id")
    return key


async def revoke(session: AsyncSession, key: PublishableKey, actor: Actor) -> PublishableKey:
    """Final and idempotent, like a secret key's revocation."""
    if key.revoked_at is None:
        if not await update_if(
            session, key, PublishableKey.revoked_at.is_(None), revoked_at=clock.now()
        ):
            await session.refresh(key)  # revoked meanwhile: nothing more to record
            return key
        await _audit(session, key, "publishable_key.revoked", actor)
        _forget_after_commit(session)
    return key


async def rotate(session: AsyncSession, key: PublishableKey, actor: Actor) -> PublishableKey:
    """A new key with the same name and origins; the old one stops at once.

    A publishable key is public, so there is nothing to keep secret during a grace period:
    rotating is how a team cuts off a key copied onto sites it does not control."""
    if key.revoked_at is not None:
        raise Conflict("key_revoked", "This key is revoked; create a new key instead.")
    now = clock.now()
    # The old key is claimed in one conditional UPDATE first: of concurrent rotations (or a
    # rotation and a revocation) one gets it, and the others mint no successor.
    successor_id = new_id("pk")
    if not await update_if(
        session,
        key,
        PublishableKey.revoked_at.is_(None),
        revoked_at=now,
        rotated_to=successor_id,
    ):
        raise Conflict("key_revoked", "This key is revoked; create a new key instead.")
    new = PublishableKey(
        id=successor_id,
        organization_id=key.organization_id,
        bot_id=key.bot_id,
        key=keyformat.generate(keyformat.PUBLISHABLE_PREFIX),
        name=key.name,
        allowed_origins=list(key.allowed_origins),
        created_by=actor.id,
        created_at=now,
        rotated_from=key.id,
    )
    session.add(new)
    await session.flush()
    await _audit(session, key, "publishable_key.rotated", actor, new_key_id=new.id)
    _forget_after_commit(session)
    return new


async def _audit(
    session: AsyncSession, key: PublishableKey, action: str, actor: Actor, **data: str
) -> None:
    await record(
        session,
        organization_id=key.organization_id,
        action=action,
        actor=actor,
        target_type="publishable_key",
        target_id=key.id,
        data={"name": key.name, "bot_id": key.bot_id, **data},
    )


def _forget_after_commit(session: AsyncSession) -> None:
    after_commit(session, publishable_keys.clear)


# Identity verification --------------------------------------------------------------------


async def identity_secret(session: AsyncSession, bot: Bot, box: SecretBox) -> str:
    """The bot's identity secret, created (and sealed at rest) on first use."""
    if bot.identity_secret_sealed is None:
        return await rotate_identity_secret(session, bot, box)
    return box.open(bot.identity_secret_sealed, purpose=IDENTITY_PURPOSE)


async def rotate_identity_secret(session: AsyncSession, bot: Bot, box: SecretBox) -> str:
    secret = secrets.token_hex(32)
    bot.identity_secret_sealed = box.seal(secret, purpose=IDENTITY_PURPOSE)
    await session.flush()
    return secret


def user_hash(secret: str, external_user_id: str) -> str:
    """What the site's server computes: lowercase hex HMAC-SHA256 of the user id."""
    return hmac.new(secret.encode(), external_user_id.encode(), hashlib.sha256).hexdigest()


def verify_identity(
    bot: Bot, box: SecretBox, external_user_id: str | None, sent_hash: str | None
) -> str | None:
    """The visitor's verified user id, None for an anonymous visitor the bot accepts.

    An ``external_user_id`` is only ever stored once its hash checks out, whether or not the
    bot requires identification, so analytics never count a claimed identity."""
    if external_user_id is None and sent_hash is None and not bot.identity_verification:
        return None
    if external_user_id is None or sent_hash is None:
        raise _identity_failed(
            "this bot requires a verified visitor: send `external_user_id` with its `user_hash`"
            if bot.identity_verification
            else "send `external_user_id` and `user_hash` together"
        )
    if bot.identity_secret_sealed is None:
        raise _identity_failed("this bot has no identity secret yet, so no hash can match")
    expected = user_hash(
        box.open(bot.identity_secret_sealed, purpose=IDENTITY_PURPOSE), external_user_id
    )
    if not hmac.compare_digest(expected, sent_hash.strip().lower()):
        raise _identity_failed(
            "`user_hash` does not match `external_user_id`. Compute it on your server as the "
            "lowercase hex HMAC-SHA256 of the user id, keyed with the bot's identity secret"
        )
    return external_user_id


def _identity_failed(detail: str) -> InsufficientPermissions:
    return InsufficientPermissions("identity_verification_failed", f"{detail}.")


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (``#rrggbb``), by WCAG's
    relative luminance."""
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


# Visitors ---------------------------------------------------------------------------------


def hash_visitor_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_conversation(
    session: AsyncSession, bot: Bot, key_id: str, *, external_user_id: str | None
) -> tuple[Conversation, Message, str]:
    """A conversation through the conversations service, owned by a new visitor token."""
    conversation, welcome = await conversations.start_conversation(
        session, bot, external_user_id=external_user_id
    )
    token = keyformat.generate(keyformat.VISITOR_TOKEN_PREFIX)
    session.add(
        WidgetConversation(
            conversation_id=conversation.id,
            organization_id=bot.organization_id,
            bot_id=bot.id,
            publishable_key_id=key_id,
            visitor_token_hash=hash_visitor_token(token),
            created_at=conversation.created_at,
        )
    )
    await session.flush()
    return conversation, welcome, token


async def visitor_conversation(
    session: AsyncSession,
    organization_id: str,
    bot_id: str,
    conversation_id: str,
    token: str | None,
) -> Conversation:
    """The conversation if this visitor owns it; any other answers 404, like a missing id."""
    if token is None or not token.strip():
        raise APIError(
            "missing_visitor_token",
            "Send the conversation's visitor token (from starting it) in X-Visitor-Token.",
            param="X-Visitor-Token",
        )
    if not conversation_id.isascii():
        raise NotFound("conversation", param="conversation_id")
    owned = await session.scalar(
        select(WidgetConversation.conversation_id).where(
            WidgetConversation.conversation_id == conversation_id,
            WidgetConversation.organization_id == organization_id,
            WidgetConversation.bot_id == bot_id,
            WidgetConversation.visitor_token_hash == hash_visitor_token(token.strip()),
        )
    )
    if owned is None:
        raise NotFound("conversation", param="conversation_id")
    return await conversations.get_conversation(session, organization_id, conversation_id)


# Authentication lookups -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """What a widget request needs to know about its publishable key."""

    id: str
    organization_id: str
    bot_id: str
    origins: OriginSet
    revoked_at: datetime | None


_KEYS = PublishableKey.__table__.c
_KEY_QUERY = select(
    _KEYS.id, _KEYS.organization_id, _KEYS.bot_id, _KEYS.allowed_origins, _KEYS.revoked_at
).where(_KEYS.key == bindparam("key"))
_ACTIVE_ORIGINS_QUERY = select(_KEYS.allowed_origins).where(_KEYS.revoked_at.is_(None))


@dataclass(slots=True)
class PublishableKeyCache:
    """Publishable keys and the origins of all active ones, trusted for ``ttl`` seconds.

    Like the secret-key cache, the TTL bounds how long a change made by another process (the
    CLI, another server) goes unseen; changes made here clear it when they commit."""

    ttl: float = 0.5
    _keys: dict[str, tuple[float, ActiveKey | None]] = field(default_factory=dict)
    _all_origins: tuple[float, OriginSet] | None = None

    def clear(self) -> None:
        self._keys.clear()
        self._all_origins = None

    async def lookup(self, engine: AsyncEngine, key: str) -> ActiveKey | None:
        now = time.monotonic()
        entry = self._keys.get(key)
        if entry is not None and now - entry[0] <= self.ttl:
            return entry[1]
        row = await fetch_first(engine, _KEY_QUERY, {"key": key})
        found = (
            None
            if row is None
            else ActiveKey(
                row.id,
                row.organization_id,
                row.bot_id,
                OriginSet.of(row.allowed_origins),
                row.revoked_at,
            )
        )
        if len(self._keys) > MAX_CACHED_KEYS:
            self._keys.clear()
        self._keys[key] = (now, found)
        return found

    async def any_key_allows(self, engine: AsyncEngine, origin: str) -> bool:
        """Whether some active publishable key lists ``origin`` (what a preflight asks)."""
        now = time.monotonic()
        cached = self._all_origins
        if cached is None or now - cached[0] > self.ttl:
            async with engine.connect() as connection:
                rows = (await connection.execute(_ACTIVE_ORIGINS_QUERY)).scalars().all()
            cached = self._all_origins = (now, OriginSet.of(o for row in rows for o in row))
        return cached[1].allows(origin)


MAX_CACHED_KEYS = 10_000
"""Unknown keys are cached too (a miss is as dear as a hit); past this many, start afresh."""

publishable_keys = PublishableKeyCache()
