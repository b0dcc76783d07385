"""Request and response bodies of /v1/team. The accept token appears only in `InvitationCreated`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from botyard.core.timefmt import UTCTimestamp
from botyard.team.models import Invitation
from botyard.team.service import InvitationStatus, Member, invitation_status

RoleName = Literal["owner", "admin", "member"]


class TeamMemberOut(BaseModel):
    object: Literal["team_member"] = "team_member"
    id: str = Field(description="The user's id, `usr_…`")
    email: str
    name: str
    role: RoleName
    joined_at: UTCTimestamp

    @classmethod
    def of(cls, member: Member) -> TeamMemberOut:
        return cls(
            id=member.user.id,
            email=member.user.email,
            name=member.user.name,
            role=member.role.value,
            joined_at=member.membership.created_at,
        )


class TeamMemberRemoved(BaseModel):
    object: Literal["team_member"] = "team_member"
    id: str
    deleted: Literal[True] = True


class InvitationOut(BaseModel):
    object: Literal["invitation"] = "invitation"
    id: str
    email: str
    role: RoleName
    invited_by: str | None = Field(description="Id of the user or key that sent it")
    created_at: UTCTimestamp
    expires_at: UTCTimestamp
    accepted_at: UTCTimestamp | None
    status: InvitationStatus

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls(
            id=invitation.id,
            email=invitation.email,
            role=invitation.role,
            invited_by=invitation.invited_by,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            accepted_at=invitation.accepted_at,
            status=invitation_status(invitation),
        )


class InvitationCreated(InvitationOut):
    token: str = Field(
        description="The accept token, shown only in this response. It is part of `accept_url`."
    )
    accept_url: str = Field(
        description="Send this link to the person invited; it works once, for 7 days"
    )


class InvitationCancelled(BaseModel):
    object: Literal["invitation"] = "invitation"
    id: str
    deleted: Literal[True] = True


class InviteMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(
        min_length=3,
        max_length=320,
        pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$",
        examples=["dev@example.com"],
    )
    role: RoleName = Field(
        "member",
        description="`owner` invitations can be sent only by an owner (from the dashboard)",
    )


class ChangeRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: RoleName
