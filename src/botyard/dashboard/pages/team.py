"""Settings > Team: members, invitations, roles and removal, by the team service's rules.

Invitation and password reset links carry a secret token, so each is shown once in the
response to its form (to be sent to the person) and is never stored or shown again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard.deps import (
    CurrentManager,
    CurrentMember,
    DashboardContext,
    PageError,
    not_found,
)
from botyard.dashboard.web import DashboardRoute, redirect, render
from botyard.organizations.models import Organization
from botyard.team import service as team
from botyard.users import service as users
from botyard.users.models import Role

router = APIRouter(route_class=DashboardRoute)

PAGE_URL = "/dashboard/settings/team"
PAGE_SIZE = 100
ROLE_HELP = {
    Role.OWNER: "Everything, including the plan and removing owners.",
    Role.ADMIN: "Manages bots, API keys, the team (except owners), logs and audit.",
    Role.MEMBER: "Builds bots and reads conversations and analytics.",
}
NOTICES = {
    "role": "Role changed.",
    "removed": "Member removed.",
    "cancelled": "Invitation cancelled: its link no longer works.",
}


def assignable_roles(context: DashboardContext) -> list[Role]:
    """Only owners grant the owner role."""
    return [r for r in Role if r is not Role.OWNER or context.is_owner]


async def team_page(
    request: Request,
    session: AsyncSession,
    context: DashboardContext,
    *,
    error: str | None = None,
    notice: str | None = None,
    invited: dict[str, Any] | None = None,
    reset: dict[str, Any] | None = None,
    invite_form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    members, _, _ = await team.list_members(
        session, context.organization_id, limit=PAGE_SIZE, cursor=None
    )
    invitations: list[Any] = []
    if context.manages:
        invitations, _, _ = await team.list_invitations(
            session,
            context.organization_id,
            limit=PAGE_SIZE,
            cursor=None,
            status=team.InvitationStatus.PENDING,
        )
    owners = sum(1 for m in members if m.role is Role.OWNER)
    return render(
        request,
        "dashboard/settings_team.html",
        context,
        status_code=status_code,
        active="team",
        members=members,
        owners=owners,
        invitations=invitations,
        roles=list(Role),
        assignable=assignable_roles(context),
        role_help=ROLE_HELP,
        error=error,
        notice=notice,
        invited=invited,
        reset=reset,
        invite_form=invite_form or {"email": "", "role": Role.MEMBER.value},
    )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise PageError(400, "Unknown role", f"{value!r} is not a role.") from None


async def member_of(session: AsyncSession, context: DashboardContext, user_id: str) -> team.Member:
    try:
        return await team.get_member(session, context.organization_id, user_id)
    except APIError:
        raise not_found("team member") from None


@router.get("/settings/team")
async def show_team(
    request: Request, session: DBSession, context: CurrentMember, done: str | None = None
) -> Response:
    return await team_page(request, session, context, notice=NOTICES.get(done or ""))


@router.post("/settings/team/invitations")
async def invite_member(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = Role.MEMBER.value,
) -> Response:
    form = {"email": email, "role": role}
    org = await session.get(Organization, context.organization_id)
    if org is None:
        raise not_found("organization")
    try:
        invitation, token = await team.invite(
            session,
            org,
            email=email,
            role=parse_role(role),
            actor=context.actor,
            acting_role=context.role,
        )
    except APIError as exc:
        return await team_page(
            request,
            session,
            context,
            error=exc.message,
            invite_form=form,
            status_code=exc.status_code,
        )
    link = team.accept_url(request.app.state.settings.public_url, token)
    return await team_page(
        request, session, context, invited={"invitation": invitation, "link": link}
    )


@router.post("/settings/team/invitations/{invitation_id}/cancel")
async def cancel_invitation(
    request: Request, session: DBSession, context: CurrentManager, invitation_id: str
) -> Response:
    try:
        invitation = await team.get_invitation(session, context.organization_id, invitation_id)
    except APIError:
        raise not_found("invitation") from None
    try:
        await team.cancel_invitation(
            session, invitation, actor=context.actor, acting_role=context.role
        )
    except APIError as exc:
        return await team_page(
            request, session, context, error=exc.message, status_code=exc.status_code
        )
    return redirect(f"{PAGE_URL}?done=cancelled")


@router.post("/settings/team/members/{user_id}/role")
async def change_role(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    user_id: str,
    role: Annotated[str, Form()],
) -> Response:
    member = await member_of(session, context, user_id)
    try:
        await team.change_role(
            session, member, parse_role(role), actor=context.actor, acting_role=context.role
        )
    except APIError as exc:
        return await team_page(
            request, session, context, error=exc.message, status_code=exc.status_code
        )
    return redirect(f"{PAGE_URL}?done=role")


@router.get("/settings/team/members/{user_id}/remove")
async def confirm_remove(
    request: Request, session: DBSession, context: CurrentManager, user_id: str
) -> Response:
    member = await member_of(session, context, user_id)
    return render(
        request,
        "dashboard/member_remove.html",
        context,
        active="team",
        member=member,
        is_self=member.user.id == context.user_id,
    )


@router.post("/settings/team/members/{user_id}/remove")
async def remove_member(
    request: Request, session: DBSession, context: CurrentManager, user_id: str
) -> Response:
    member = await member_of(session, context, user_id)
    try:
        await team.remove_member(session, member, actor=context.actor, acting_role=context.role)
    except APIError as exc:
        return await team_page(
            request, session, context, error=exc.message, status_code=exc.status_code
        )
    if member.user.id == context.user_id:
        return redirect("/dashboard")
    return redirect(f"{PAGE_URL}?done=removed")


@router.post("/settings/team/members/{user_id}/password-reset")
async def password_reset_link(
    request: Request, session: DBSession, context: CurrentManager, user_id: str
) -> Response:
    """A one-time link, shown once, that lets the member choose a new password."""
    member = await member_of(session, context, user_id)
    try:
        reset, token = await team.password_reset_link(
            session, member, actor=context.actor, acting_role=context.role
        )
    except APIError as exc:
        return await team_page(
            request, session, context, error=exc.message, status_code=exc.status_code
        )
    link = users.reset_url(request.app.state.settings.public_url, token)
    return await team_page(
        request,
        session,
        context,
        reset={"email": member.user.email, "expires_at": reset.expires_at, "link": link},
    )
