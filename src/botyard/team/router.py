"""/v1/team: members and invitations, managed with an admin key.

An API key has no user behind it, so an admin key acts as an admin: it cannot make anyone an
owner, change an owner's role or remove an owner. Those are an owner's, in the dashboard.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from botyard.api_keys.deps import AdminKey
from botyard.core.database import DBSession
from botyard.core.errors import NotFound
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse
from botyard.core.params import AnyIfBlank, Cursor, Limit
from botyard.organizations.models import Organization
from botyard.team import service
from botyard.team.schemas import (
    ChangeRole,
    InvitationCancelled,
    InvitationCreated,
    InvitationOut,
    InviteMember,
    TeamMemberOut,
    TeamMemberRemoved,
)
from botyard.team.service import InvitationStatus
from botyard.users.models import Role

router = APIRouter(prefix="/v1/team", tags=["team"])

KEY_ROLE = Role.ADMIN
"""The role an admin-scoped API key acts with."""

OWNER_NOTE = (
    " An API key acts as an admin: making someone an owner, changing an owner's role and "
    "removing an owner are for owners, in the dashboard."
)


@router.get("/members", summary="List the organization's members")
async def list_members(
    principal: AdminKey, session: DBSession, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> ListResponse[TeamMemberOut]:
    members, has_more, next_cursor = await service.list_members(
        session, principal.organization_id, limit=limit, cursor=cursor
    )
    return ListResponse[TeamMemberOut](
        data=[TeamMemberOut.of(m) for m in members], has_more=has_more, next_cursor=next_cursor
    )


@router.post(
    "/members",
    status_code=201,
    summary="Invite someone by email",
    description="Returns an invitation whose `accept_url` (valid 7 days, usable once) lets the "
    "person set a password and join. The token is shown only in this response. Inviting the "
    "same address again replaces the previous invitation." + OWNER_NOTE,
)
async def invite_member(
    principal: AdminKey, session: DBSession, body: InviteMember, request: Request
) -> InvitationCreated:
    org = await session.get(Organization, principal.organization_id)
    if org is None:
        raise NotFound("organization")
    invitation, token = await service.invite(
        session,
        org,
        email=body.email,
        role=Role(body.role),
        actor=principal.actor,
        acting_role=KEY_ROLE,
    )
    shown = InvitationOut.of(invitation)
    return InvitationCreated(
        **shown.model_dump(),
        token=token,
        accept_url=service.accept_url(request.app.state.settings.public_url, token),
    )


@router.patch(
    "/members/{usr_id}",
    summary="Change a member's role",
    description="The last owner cannot be demoted (409 `last_owner`)." + OWNER_NOTE,
)
async def change_member_role(
    principal: AdminKey, session: DBSession, usr_id: str, body: ChangeRole
) -> TeamMemberOut:
    member = await service.get_member(session, principal.organization_id, usr_id)
    member = await service.change_role(
        session, member, Role(body.role), actor=principal.actor, acting_role=KEY_ROLE
    )
    return TeamMemberOut.of(member)


@router.delete(
    "/members/{usr_id}",
    summary="Remove a member from the organization",
    description="The user's account stays; only the membership goes. The last owner cannot be "
    "removed (409 `last_owner`)." + OWNER_NOTE,
)
async def remove_member(principal: AdminKey, session: DBSession, usr_id: str) -> TeamMemberRemoved:
    member = await service.get_member(session, principal.organization_id, usr_id)
    await service.remove_member(session, member, actor=principal.actor, acting_role=KEY_ROLE)
    return TeamMemberRemoved(id=member.user.id)


@router.get("/invitations", summary="List invitations, newest first")
async def list_invitations(
    principal: AdminKey,
    session: DBSession,
    status: Annotated[
        InvitationStatus | None, Query(description="Only invitations in this status"), AnyIfBlank
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ListResponse[InvitationOut]:
    rows, has_more, next_cursor = await service.list_invitations(
        session, principal.organization_id, limit=limit, cursor=cursor, status=status
    )
    return ListResponse[InvitationOut](
        data=[InvitationOut.of(i) for i in rows], has_more=has_more, next_cursor=next_cursor
    )


@router.delete(
    "/invitations/{invitation_id}",
    summary="Cancel a pending invitation",
    description="Its link stops working at once. Accepted invitations cannot be cancelled.",
)
async def cancel_invitation(
    principal: AdminKey, session: DBSession, invitation_id: str
) -> InvitationCancelled:
    invitation = await service.get_invitation(session, principal.organization_id, invitation_id)
    await service.cancel_invitation(
        session, invitation, actor=principal.actor, acting_role=KEY_ROLE
    )
    return InvitationCancelled(id=invitation_id)
