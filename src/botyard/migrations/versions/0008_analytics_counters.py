"""analytics counters: messages per bot and hour, messages per conversation

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:00:00

Creates ``analytics_message_hours`` and ``conversations.message_count`` and fills both from
the existing messages (see analytics/service.py); the bot indexes of conversations and
messages gain ``created_at``, which serves every query the bot-only ones served.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import botyard.core.database

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = botyard.core.database.UTCDateTime(timezone=True)

HOUR_OF_CREATED_AT = {
    # The text form SQLAlchemy stores times in on SQLite, so the hours compare with stored ones.
    "sqlite": "strftime('%Y-%m-%d %H:00:00.000000', created_at)",
    "postgresql": "timezone('UTC', date_trunc('hour', timezone('UTC', created_at)))",
}

COUNT_MESSAGES = """
INSERT INTO analytics_message_hours
    (organization_id, bot_id, hour, user_messages, bot_messages, knowledge_replies,
     fallback_replies)
SELECT organization_id, bot_id, {hour},
    count(*) FILTER (WHERE role = 'user'),
    count(*) FILTER (WHERE role = 'bot'),
    count(*) FILTER (WHERE answer_source = 'knowledge'),
    count(*) FILTER (WHERE answer_source = 'fallback')
FROM messages
WHERE true
GROUP BY organization_id, bot_id, {hour}
"""

COUNT_CONVERSATION_MESSAGES = """
UPDATE conversations SET message_count = (
    SELECT count(*) FROM messages WHERE messages.conversation_id = conversations.id
)
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "analytics_message_hours",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("bot_id", sa.String(length=40), nullable=False),
        sa.Column("hour", UTC_DATETIME, nullable=False),
        sa.Column("user_messages", sa.Integer(), nullable=False),
        sa.Column("bot_messages", sa.Integer(), nullable=False),
        sa.Column("knowledge_replies", sa.Integer(), nullable=False),
        sa.Column("fallback_replies", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_analytics_message_hours_bot_id_bots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_message_hours_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "bot_id", "hour", name=op.f("pk_analytics_message_hours")
        ),
    )
    op.create_index(
        "ix_analytics_message_hours_org_hour",
        "analytics_message_hours",
        ["organization_id", "hour"],
        unique=False,
    )
    op.execute(COUNT_MESSAGES.format(hour=HOUR_OF_CREATED_AT[dialect]))

    op.add_column(
        "conversations",
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute(COUNT_CONVERSATION_MESSAGES)

    for table in ("conversations", "messages"):
        op.create_index(f"ix_{table}_bot_created", table, ["bot_id", "created_at"], unique=False)
        op.drop_index(f"ix_{table}_bot_id", table_name=table)


def downgrade() -> None:
    for table in ("conversations", "messages"):
        op.create_index(f"ix_{table}_bot_id", table, ["bot_id"], unique=False)
        op.drop_index(f"ix_{table}_bot_created", table_name=table)
    # ALTER TABLE ... DROP COLUMN, not a batch copy: with foreign keys on, SQLite would drop
    # the old table's messages along with it.
    op.drop_column("conversations", "message_count")
    op.drop_index("ix_analytics_message_hours_org_hour", table_name="analytics_message_hours")
    op.drop_table("analytics_message_hours")
