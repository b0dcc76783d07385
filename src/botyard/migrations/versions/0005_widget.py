"""publishable keys and the website widget

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-02 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import botyard.core.database

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = botyard.core.database.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "publishable_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("bot_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=42), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("rotated_to", sa.String(length=40), nullable=True),
        sa.Column("rotated_from", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_publishable_keys_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_publishable_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishable_keys")),
        sa.UniqueConstraint("key", name=op.f("uq_publishable_keys_key")),
    )
    with op.batch_alter_table("publishable_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publishable_keys_bot_id"), ["bot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_publishable_keys_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "widget_conversations",
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("bot_id", sa.String(length=40), nullable=False),
        sa.Column("publishable_key_id", sa.String(length=40), nullable=False),
        sa.Column("visitor_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_widget_conversations_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_widget_conversations_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_widget_conversations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_widget_conversations")),
        sa.UniqueConstraint(
            "visitor_token_hash", name=op.f("uq_widget_conversations_visitor_token_hash")
        ),
    )
    with op.batch_alter_table("widget_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_widget_conversations_bot_id"), ["bot_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_widget_conversations_organization_id"),
            ["organization_id"],
            unique=False,
        )

    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("widget_color", sa.String(length=7), nullable=False, server_default="#2563eb")
        )
        batch_op.add_column(
            sa.Column(
                "widget_launcher_text",
                sa.String(length=40),
                nullable=False,
                server_default="Chat with us",
            )
        )
        batch_op.add_column(
            sa.Column(
                "identity_verification", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("identity_secret_sealed", sa.Text(), nullable=True))

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exposed_in_browser_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("exposed_in_browser_at")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_column("identity_secret_sealed")
        batch_op.drop_column("identity_verification")
        batch_op.drop_column("widget_launcher_text")
        batch_op.drop_column("widget_color")
    with op.batch_alter_table("widget_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_widget_conversations_organization_id"))
        batch_op.drop_index(batch_op.f("ix_widget_conversations_bot_id"))
    op.drop_table("widget_conversations")
    with op.batch_alter_table("publishable_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publishable_keys_organization_id"))
        batch_op.drop_index(batch_op.f("ix_publishable_keys_bot_id"))
    op.drop_table("publishable_keys")
