"""composite indexes for keyset lists

Each list reads one owner's rows in (created_at, id) order; an index on (owner, created_at,
id) serves it without a sort and, as its prefix, the owner's foreign key too, so the
single-column index it replaces was redundant. Without it SQLite's planner read a
conversation's messages through the organization's index (all 12,000 rows of it).

Revision ID: 0007
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table, indexes dropped, then the index made: name and columns
CHANGES: list[tuple[str, dict[str, list[str]], str, list[str]]] = [
    (
        "bots",
        {"ix_bots_organization_id": ["organization_id"]},
        "ix_bots_org_created",
        ["organization_id", "created_at", "id"],
    ),
    (
        "knowledge_entries",
        {"ix_knowledge_entries_bot_id": ["bot_id"]},
        "ix_knowledge_entries_bot_created",
        ["bot_id", "created_at", "id"],
    ),
    (
        "conversations",
        {
            "ix_conversations_organization_id": ["organization_id"],
            "ix_conversations_org_created": ["organization_id", "created_at"],
        },
        "ix_conversations_org_created",
        ["organization_id", "created_at", "id"],
    ),
    (
        "messages",
        {"ix_messages_conversation_id": ["conversation_id"]},
        "ix_messages_conversation_created",
        ["conversation_id", "created_at", "id"],
    ),
]


def upgrade() -> None:
    for table, dropped, name, columns in CHANGES:
        for old in dropped:
            op.drop_index(old, table_name=table)
        op.create_index(name, table, columns)


def downgrade() -> None:
    for table, dropped, name, _columns in reversed(CHANGES):
        op.drop_index(name, table_name=table)
        for old, old_columns in dropped.items():
            op.create_index(old, table, old_columns)
