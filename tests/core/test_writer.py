"""A request's writes of plain rows without an ORM session: one transaction on one pooled
connection, committed or rolled back by the request, with the rows, errors and locking a
session's connection gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.bots.models import Bot
from botyard.core.database import Writer, compiled_write, create_sessionmaker
from botyard.core.rows import NewRows, table_of
from tests.factories import auth, make_key, make_org

_NEW_BOTS = NewRows(Bot)
_bots = table_of(Bot)
_RENAME = update(_bots).where(_bots.c.id == bindparam("bot_id")).values(name=bindparam("name"))


def _bot(organization_id: str, name: str, **values: object) -> dict[str, object]:
    now = datetime.now(UTC).replace(microsecond=0)
    return _NEW_BOTS.row(
        organization_id=organization_id, name=name, created_at=now, updated_at=now, **values
    )


async def _stored(engine: AsyncEngine, *ids: object) -> dict[str, Bot]:
    async with create_sessionmaker(engine)() as session:
        found = (await session.scalars(select(Bot).where(Bot.id.in_(ids)))).all()
        return {bot.id: bot for bot in found}


async def test_committed_rows_are_the_rows_a_session_would_have_written(app: FastAPI) -> None:
    org = await make_org(app)
    engine: AsyncEngine = app.state.engine
    one = _bot(org.id, "One", identity_verification=True, answer_threshold=0.25)
    two, three = _bot(org.id, "Two"), _bot(org.id, "Three", description="third")
    writer = Writer(engine)
    await _NEW_BOTS.insert(writer, one)
    await _NEW_BOTS.insert(writer, two, three)  # one executemany
    assert await writer.execute(_RENAME, {"bot_id": two["id"], "name": "Deux"}) == 1
    await writer.commit()

    stored = await _stored(engine, one["id"], two["id"], three["id"])
    assert stored[one["id"]].identity_verification is True  # type: ignore[index]
    assert stored[one["id"]].answer_threshold == 0.25  # type: ignore[index]
    assert stored[one["id"]].created_at == one["created_at"]  # type: ignore[index]
    assert stored[one["id"]].created_at.tzinfo is UTC  # type: ignore[index]
    assert stored[two["id"]].name == "Deux"  # type: ignore[index]
    assert stored[three["id"]].description == "third"  # type: ignore[index]
    assert stored[three["id"]].welcome_message == three["welcome_message"]  # type: ignore[index]


async def test_rolled_back_rows_are_gone_and_nothing_written_takes_no_connection(
    app: FastAPI,
) -> None:
    org = await make_org(app)
    engine: AsyncEngine = app.state.engine
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    idle = Writer(engine)
    await idle.commit()
    await idle.rollback()
    writer = Writer(engine)
    added, executed = _bot(org.id, "Added"), _bot(org.id, "Executed")
    await _NEW_BOTS.insert(writer, added)  # sent with the commit
    assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
    await writer.execute(_NEW_BOTS.statement, executed)  # sent now, after the added row
    assert engine.pool.checkedout() == checked_out + 1  # type: ignore[attr-defined]
    await writer.rollback()
    assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
    assert await _stored(engine, added["id"], executed["id"]) == {}
    await writer.commit()  # nothing left to write
    assert await _stored(engine, added["id"], executed["id"]) == {}


async def test_errors_are_raised_as_a_session_raises_them(app: FastAPI) -> None:
    """A constraint the database refuses is SQLAlchemy's IntegrityError, and the transaction
    can still be rolled back and the connection reused."""
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    writer = Writer(engine)
    with pytest.raises(IntegrityError):
        await writer.execute(_NEW_BOTS.statement, _bot("org_missing", "Orphan"))
    await writer.rollback()
    for rows in ([_bot("org_missing", "Alone")], [_bot(org.id, "Kept"), _bot("org_missing", "No")]):
        writer = Writer(engine)
        await _NEW_BOTS.insert(writer, *rows)
        with pytest.raises(IntegrityError):  # at the commit, which sends the rows
            await writer.commit()
        assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
        assert await _stored(engine, *(row["id"] for row in rows)) == {}
    with pytest.raises(ArgumentError):  # refused before it takes a connection
        await Writer(engine).execute(_RENAME, {"bot_id": "x", "name": "y", "colour": "red"})
    assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
    assert compiled_write(select(Bot.id), engine.dialect) is None


async def test_concurrent_writers_take_turns(app: FastAPI) -> None:
    """Each writer's transaction stays open from its first statement to its commit; writers
    overlapping on the event loop all commit (SQLite: in turn, never "database is locked")."""
    org = await make_org(app)
    engine: AsyncEngine = app.state.engine
    rows = [_bot(org.id, f"Bot {i}") for i in range(8)]

    async def write(row: dict[str, object]) -> None:
        writer = Writer(engine)
        await writer.execute(_NEW_BOTS.statement, row)
        await asyncio.sleep(0.01)  # others start their writes meanwhile
        await writer.commit()

    await asyncio.wait_for(asyncio.gather(*(write(row) for row in rows)), timeout=20)
    assert len(await _stored(engine, *(row["id"] for row in rows))) == len(rows)


async def test_a_lone_new_row_is_written_in_one_statement(app: FastAPI) -> None:
    """With nothing else to write, the row needs no transaction around it: on PostgreSQL
    the INSERT runs in autocommit (no BEGIN and COMMIT round trips); SQLite's transaction
    costs no round trip and stays."""
    org = await make_org(app)
    engine: AsyncEngine = app.state.engine
    in_transaction: list[bool] = []

    def record(_connection: Any, cursor: Any, *_: Any) -> None:
        driver = cursor._adapt_connection.driver_connection
        if hasattr(driver, "is_in_transaction"):  # asyncpg
            in_transaction.append(driver.is_in_transaction())
        else:
            in_transaction.append(driver.in_transaction)

    event.listen(engine.sync_engine, "after_cursor_execute", record)
    try:
        writer = Writer(engine)
        row = _bot(org.id, "Alone")
        await _NEW_BOTS.insert(writer, row)
        await writer.commit()
        assert in_transaction == [engine.dialect.name != "postgresql"]
        assert row["id"] in await _stored(engine, row["id"])
        in_transaction.clear()
        writer = Writer(engine)
        await _NEW_BOTS.insert(writer, _bot(org.id, "First"))
        await _NEW_BOTS.insert(writer, _bot(org.id, "Second"))
        await writer.commit()
        assert in_transaction == [True, True]
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", record)


async def test_a_request_creating_a_bot_commits_once_it_succeeded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The API's create goes through a Writer: the bot is there when the 201 is."""
    org = await make_org(app)
    _, plaintext = await make_key(app, org, scopes=["write"])
    created = await client.post("/v1/bots", json={"name": "Made"}, headers=auth(plaintext))
    assert created.status_code == 201
    stored = (await _stored(app.state.engine, created.json()["id"]))[created.json()["id"]]
    assert stored.name == "Made"
    assert stored.created_at > datetime.now(UTC) - timedelta(minutes=1)
