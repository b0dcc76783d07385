"""What an admin key manages, through the SDK against a real ``botyard serve``: the team and
its invitations, API keys (create, list, retrieve, rotate, revoke), request logs, usage and
the audit log."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from botyard_sdk import AuthenticationError, ConflictError, NotFoundError, __version__
from botyard_sdk.types import ApiKeyCreated, ApiKeyRotated
from live_support import Org

pytestmark = pytest.mark.slow

T = TypeVar("T")
LOG_DEADLINE = 15.0
"""Seconds to wait for the request log, which the server writes in batches off the request."""


def eventually(found: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + LOG_DEADLINE
    while (value := found()) is None:
        assert time.monotonic() < deadline, "not in the log in time"
        time.sleep(0.2)
    return value


def test_members_are_listed_promoted_and_removed(org: Org) -> None:
    user_id, email = org.user("member")
    with org.client() as client:
        members = {member.id: member for member in client.team.members.list(limit=1)}
        assert (members[user_id].email, members[user_id].role) == (email, "member")

        promoted = client.team.members.update(user_id, role="admin")
        assert (promoted.id, promoted.role) == (user_id, "admin")

        removed = client.team.members.remove(user_id)
        assert (removed.id, removed.deleted) == (user_id, True)
        assert user_id not in {member.id for member in client.team.members.list()}
        with pytest.raises(NotFoundError):
            client.team.members.remove(user_id)


def test_invitations_are_sent_listed_and_cancelled(org: Org) -> None:
    with org.client() as client:
        invitation = client.team.members.invite(email="newcomer@example.com", role="member")
        assert invitation.id and invitation.status == "pending"
        assert invitation.token and invitation.token in invitation.accept_url
        assert invitation.token not in repr(invitation)

        pending = {i.id: i for i in client.team.invitations.list(status="pending")}
        assert pending[invitation.id].email == "newcomer@example.com"
        assert not hasattr(pending[invitation.id], "token")

        cancelled = client.team.invitations.cancel(invitation.id)
        assert (cancelled.id, cancelled.deleted) == (invitation.id, True)
        assert invitation.id not in {i.id for i in client.team.invitations.list(status="pending")}


def test_api_keys_are_created_retrieved_listed_rotated_and_revoked(org: Org) -> None:
    with org.client() as admin:
        created = admin.api_keys.create(name="Website", scopes=["read"], expires_in="30d")
        assert isinstance(created, ApiKeyCreated)
        assert created.key.startswith("byk_") and created.key not in repr(created)
        assert created.hint == f"{created.key[:8]}…{created.key[-4:]}"
        assert created.expires_at is not None
        assert created.expires_at - datetime.now(UTC) > timedelta(days=29)
        with org.client(created.key) as website:
            assert website.me().key.id == created.id

        fetched = admin.api_keys.retrieve(created.id)
        assert (fetched.id, fetched.status, fetched.scopes) == (created.id, "active", ("read",))
        assert not hasattr(fetched, "key")
        assert created.id in {key.id for key in admin.api_keys.list(status="active")}

        rotated = admin.api_keys.rotate(created.id, grace=timedelta(hours=1))
        assert isinstance(rotated, ApiKeyRotated)
        assert (rotated.name, rotated.scopes, rotated.rotated_from) == (
            "Website",
            ("read",),
            created.id,
        )
        assert rotated.previous_key.id == created.id
        assert rotated.previous_key.rotated_to == rotated.id
        grace_ends = rotated.previous_key.expires_at
        assert grace_ends is not None
        assert timedelta(minutes=55) < grace_ends - datetime.now(UTC) <= timedelta(hours=1)
        with org.client(created.key) as old, org.client(rotated.key) as new:
            assert old.me().key.id == created.id, "the old key works during its grace period"
            assert new.me().key.id == rotated.id

        at_once = admin.api_keys.rotate(rotated.id, grace=0)
        assert at_once.previous_key.status == "revoked"
        revoked = admin.api_keys.revoke(at_once.id)
        assert revoked.status == "revoked" and revoked.revoked_at is not None
        for gone in (rotated.key, at_once.key):
            with org.client(gone) as client, pytest.raises(AuthenticationError) as refused:
                client.me()
            assert refused.value.code == "api_key_revoked"
            assert gone not in str(refused.value)


def test_the_default_rotation_grace_is_24_hours(org: Org) -> None:
    with org.client() as admin:
        created = admin.api_keys.create(name="Default grace", scopes=["read"])
        rotated = admin.api_keys.rotate(created.id)
    grace_ends = rotated.previous_key.expires_at
    assert grace_ends is not None
    assert timedelta(hours=23, minutes=55) < grace_ends - datetime.now(UTC) <= timedelta(hours=24)


def test_request_logs_and_usage_show_a_keys_requests(org: Org) -> None:
    with org.client() as admin:
        created = admin.api_keys.create(name="Logged", scopes=["read"])
        with org.client(created.key, max_retries=0) as logged:
            logged.me()
            with pytest.raises(NotFoundError) as not_found:
                logged.bots.retrieve("bot_doesnotexist")

        def logs_of_the_key() -> list[tuple[str, int]] | None:
            entries = [(e.route, e.status) for e in admin.logs.list(key_id=created.id)]
            return entries if len(entries) == 2 else None

        assert sorted(eventually(logs_of_the_key)) == [("/v1/bots/{bot_id}", 404), ("/v1/me", 200)]
        (missing,) = admin.logs.list(key_id=created.id, status="4xx")
        assert (missing.method, missing.key_id) == ("GET", created.id)
        assert missing.user_agent == f"botyard-sdk-python/{__version__}"
        assert (missing.error_code, missing.request_id) == (
            not_found.value.code,
            not_found.value.request_id,
        )

        usage = admin.logs.usage(key_id=created.id, since=datetime.now(UTC) - timedelta(hours=1))
    assert usage.key_id == created.id and usage.total == 2
    assert {(b.status_class, b.requests) for b in usage.data} == {("2xx", 1), ("4xx", 1)}


def test_the_audit_log_records_key_changes(org: Org) -> None:
    with org.client() as admin:
        created = admin.api_keys.create(name="Audited", scopes=["read"])
        admin.api_keys.revoke(created.id)
        events = list(admin.audit_log.list(target_id=created.id))
        (revocation,) = admin.audit_log.list(action="api_key.revoked", target_id=created.id)
    assert [e.action for e in events] == ["api_key.revoked", "api_key.created"]
    assert revocation.actor_type == "api_key" and revocation.target_id == created.id
    assert revocation.created_at.tzinfo is not None


def test_webhook_endpoints_are_added_tested_rotated_and_deleted(org: Org) -> None:
    with org.client() as client:
        # Added disabled: the server's worker would otherwise send to this (public) address.
        hook = client.webhooks.create(
            url="https://93.184.215.14/hooks",
            events=["conversation.created"],
            description="CRM",
            enabled=False,
        )
        assert hook.secret.startswith("whsec_") and hook.secret not in repr(hook)
        assert [h.id for h in client.webhooks.list()] == [hook.id]
        assert client.webhooks.retrieve(hook.id).events == ("conversation.created",)
        changed = client.webhooks.update(hook.id, events=["*"], description="All")
        assert (changed.events, changed.enabled) == (("*",), False)
        with pytest.raises(ConflictError) as refused:
            client.webhooks.test(hook.id)
        assert refused.value.code == "webhook_endpoint_disabled"
        assert list(client.webhooks.deliveries.list(hook.id)) == []
        rotated = client.webhooks.rotate_secret(hook.id)
        assert rotated.secret.startswith("whsec_") and rotated.secret != hook.secret
        assert client.webhooks.delete(hook.id).deleted is True
        with pytest.raises(NotFoundError):
            client.webhooks.retrieve(hook.id)
