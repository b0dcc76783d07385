"""messages: the conversation's organization and bot are plain copies, not foreign keys

A message's ``organization_id`` and ``bot_id`` copy its conversation's, for the indexes
that lists and analytics read. As foreign keys they made every message a lookup and a
``FOR KEY SHARE`` lock of its organization's and bot's rows (shared by every message of
the bot, so concurrent messages made multixacts of them), and guaranteed nothing the
conversation's own keys do not: deleting a bot or an organization still deletes its
messages, through their conversations. ``ix_messages_organization_id`` goes too: the
organization's index on (organization_id, created_at) serves every query it served.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On SQLite a batch copy of messages, which nothing references.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_organization_id"))
        batch_op.drop_constraint(batch_op.f("fk_messages_bot_id_bots"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_messages_organization_id_organizations"), type_="foreignkey"
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_bot_id_bots"), "bots", ["bot_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index(
            batch_op.f("ix_messages_organization_id"), ["organization_id"], unique=False
        )
