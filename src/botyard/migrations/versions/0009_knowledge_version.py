"""bots.knowledge_version: the version of a bot's knowledge, moved by every entry write

The cached ranking index of a bot was keyed by the count and latest ``updated_at`` of its
entries, an aggregate over all of them on every message; a counter on the bot's row is read
with the bot instead (see bots/models.py, KNOWLEDGE_CHANGED).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "bots", sa.Column("knowledge_version", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, not a batch copy: with foreign keys on, SQLite would drop
    # the old table's knowledge, conversations and messages along with it.
    op.drop_column("bots", "knowledge_version")
