"""NewRows: rows completed with the model's Python defaults and written with one INSERT."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from botyard.bots.models import DEFAULT_WELCOME, Bot, KnowledgeEntry
from botyard.core import clock
from botyard.core.rows import NewRows
from tests.factories import make_org


def test_a_row_gets_the_defaults_the_orm_would_give() -> None:
    row = NewRows(KnowledgeEntry).row(
        organization_id="org_1", bot_id="bot_1", question="Q?", answer="A."
    )
    assert row["id"].startswith("kb_") and len(row["id"]) > 10
    assert row["tags"] == [] and row is not NewRows(KnowledgeEntry).row(
        organization_id="o", bot_id="b", question="q", answer="a"
    )
    assert row["created_at"].tzinfo is not None
    bot = NewRows(Bot).row(organization_id="org_1", name="Support", language="fr")
    assert (bot["language"], bot["welcome_message"], bot["identity_secret_sealed"]) == (
        "fr",
        DEFAULT_WELCOME,
        None,
    )


def test_a_required_column_left_out_is_refused_before_the_database_sees_it() -> None:
    with pytest.raises(TypeError, match=r"bots\.name"):
        NewRows(Bot).row(organization_id="org_1")


def test_a_server_default_is_refused_when_the_helper_is_made() -> None:
    class Base(DeclarativeBase):
        pass

    class Counter(Base):
        __tablename__ = "counters"
        id: Mapped[str] = mapped_column(String(10), primary_key=True)
        value: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    with pytest.raises(TypeError, match="server default"):
        NewRows(Counter)


async def test_the_inserted_row_reads_back_as_the_orm_sees_it(app: FastAPI) -> None:
    org = await make_org(app)
    rows = NewRows(Bot)
    now = clock.now()
    row = rows.row(organization_id=org.id, name="Inserted", created_at=now, updated_at=now)
    async with app.state.sessionmaker() as session:
        await rows.insert(session, row)
        await session.commit()
    async with app.state.sessionmaker() as session:
        bot = await session.get(Bot, row["id"])
        assert bot is not None
        assert {key: getattr(bot, key) for key in row} == row
