"""A request's writes of plain rows without an ORM session: one transaction on one pooled
connection, committed or rolled back by the request, with the rows, errors and locking a
session's connection gives."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.bots.models import Bot
from botyard.core.database import DirectWrites, Writer, compiled_write, create_sessionmaker
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


async def test_on_postgresql_reads_before_the_first_write_open_no_transaction(
    app: FastAPI,
) -> None:
    """A plain read as a transaction's first statement sees what it would see after BEGIN
    (READ COMMITTED), so it runs without one; a locking read and a write begin the
    transaction, and what follows a plain read still commits or rolls back as one."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's transaction costs no round trip")
    org = await make_org(app)
    engine: AsyncEngine = app.state.engine
    in_transaction: list[bool] = []

    def record(_connection: Any, cursor: Any, *_: Any) -> None:
        in_transaction.append(cursor._adapt_connection.driver_connection.is_in_transaction())

    first, second = _bot(org.id, "Kept"), _bot(org.id, "Dropped")
    plain = select(_bots.c.name).where(_bots.c.id == bindparam("bot_id"))
    event.listen(engine.sync_engine, "after_cursor_execute", record)
    try:
        writer = Writer(engine)
        assert await writer.rows(plain, {"bot_id": first["id"]}) == []
        await _NEW_BOTS.insert(writer, first)
        assert await writer.rows(plain, {"bot_id": first["id"]}) == [("Kept",)]
        await _NEW_BOTS.insert(writer, _bot(org.id, "Also kept"))
        await writer.commit()
        assert in_transaction == [False, True, True, True]

        in_transaction.clear()
        writer = Writer(engine)
        await writer.rows(plain.with_for_update(), {"bot_id": first["id"]})
        await writer.rows(plain, {"bot_id": first["id"]})
        await writer.rollback()
        assert in_transaction == [True, True]

        in_transaction.clear()
        writer = Writer(engine)
        await writer.rows(plain, {"bot_id": first["id"]})
        await writer.execute(_RENAME, {"bot_id": first["id"], "name": "Renamed"})
        await _NEW_BOTS.insert(writer, second)
        await writer.rollback()
        assert in_transaction == [False, True]
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", record)
    stored = await _stored(engine, first["id"], second["id"])
    assert list(stored) == [first["id"]] and stored[first["id"]].name == "Kept"


async def test_the_last_statement_runs_alone_on_postgresql_and_nothing_writes_after_it(
    app: FastAPI,
) -> None:
    """``rows(last=True)``: a statement that writes (in a WITH) and is the transaction's
    only write needs no BEGIN and COMMIT on PostgreSQL, and frees its connection at once; a
    write or a lock after it is refused on either database, a plain read is not."""
    org = await make_org(app)
    engine: AsyncEngine = app.state.engine
    postgresql = engine.dialect.name == "postgresql"
    row = _bot(org.id, "Last")
    plain = select(_bots.c.name).where(_bots.c.id == bindparam("bot_id"))
    if postgresql:
        added = insert(_bots).values(**row).returning(_bots.c.id).cte("added")
        last: Any = select(added.c.id)
    else:  # no WITH that writes: the refusals alone
        last = plain
    in_transaction: list[bool] = []

    def record(_connection: Any, cursor: Any, *_: Any) -> None:
        in_transaction.append(cursor._adapt_connection.driver_connection.is_in_transaction())

    writer = Writer(engine)
    held = engine.pool.checkedout()  # type: ignore[attr-defined]
    if postgresql:
        event.listen(engine.sync_engine, "after_cursor_execute", record)
    try:
        await writer.rows(last, {"bot_id": row["id"]}, last=True)
    finally:
        if postgresql:
            event.remove(engine.sync_engine, "after_cursor_execute", record)
    assert in_transaction == ([False] if postgresql else [])
    if postgresql:  # nothing follows: the connection is back in the pool at once
        assert engine.pool.checkedout() == held  # type: ignore[attr-defined]
    with pytest.raises(ArgumentError, match="last statement"):
        await _NEW_BOTS.insert(writer, _bot(org.id, "After"))
    with pytest.raises(ArgumentError, match="last statement"):
        await writer.execute(_RENAME, {"bot_id": row["id"], "name": "After"})
    with pytest.raises(ArgumentError, match="last statement"):
        await writer.rows(plain.with_for_update(), {"bot_id": row["id"]})
    assert len(await writer.rows(plain, {"bot_id": row["id"]})) == int(postgresql)
    await writer.commit()
    assert list(await _stored(engine, row["id"])) == ([row["id"]] if postgresql else [])


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


async def test_concurrent_creates_and_edits_through_the_api_all_land(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Racing clients: 40 creates (on SQLite the app's own connection) beside 10 renames
    (a session's transaction) and the request log's writes. Every one answers 2xx, none
    "database is locked", and every created bot is listed once."""
    org = await make_org(app)
    _, plaintext = await make_key(app, org, scopes=["read", "write"])
    headers = auth(plaintext)
    first = await client.post("/v1/bots", json={"name": "First"}, headers=headers)
    renamed = first.json()["id"]

    async def create(i: int) -> httpx.Response:
        return await client.post("/v1/bots", json={"name": f"Racing {i}"}, headers=headers)

    async def rename(i: int) -> httpx.Response:
        return await client.patch(f"/v1/bots/{renamed}", json={"name": f"R{i}"}, headers=headers)

    answers = await asyncio.wait_for(
        asyncio.gather(*(create(i) for i in range(40)), *(rename(i) for i in range(10))),
        timeout=60,
    )
    assert [a.status_code for a in answers] == [201] * 40 + [200] * 10
    listed = await client.get("/v1/bots", params={"limit": 100}, headers=headers)
    names = sorted(bot["name"] for bot in listed.json()["data"] if bot["id"] != renamed)
    assert names == sorted(f"Racing {i}" for i in range(40))


@contextlib.contextmanager
def _locked_by_another_process(engine: AsyncEngine) -> Iterator[Callable[[], Awaitable[None]]]:
    """SQLite's write lock held by a plain connection, as another process would hold it; the
    function given releases it 0.3 s later, off the loop."""
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(0.3)
        other.execute("COMMIT")

    try:
        yield lambda: asyncio.get_running_loop().run_in_executor(None, release)
    finally:
        other.close()


def _direct(app: FastAPI) -> DirectWrites:
    direct = app.state.direct_writes
    if direct is None:
        pytest.skip("the app's own connection is SQLite's")
    return direct


async def test_a_lone_row_on_sqlite_is_written_on_the_apps_own_connection(app: FastAPI) -> None:
    """No checkout and no transaction around it; errors are the pool's (IntegrityError)."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    checkouts: list[Any] = []

    def count(*_: Any) -> None:
        checkouts.append(1)

    event.listen(engine.sync_engine, "checkout", count)
    try:
        row = _bot(org.id, "Direct")
        writer = Writer(engine, direct)
        await _NEW_BOTS.insert(writer, row)
        await writer.commit()
        assert checkouts == []
        assert (await _stored(engine, row["id"]))[row["id"]].name == "Direct"
        orphan = Writer(engine, direct)
        await _NEW_BOTS.insert(orphan, _bot("org_missing", "Orphan"))  # foreign keys are on
        with pytest.raises(IntegrityError):
            await orphan.commit()
        await orphan.rollback()
        again = Writer(engine, direct)
        await _NEW_BOTS.insert(again, _bot(org.id, "After"))
        await again.commit()
    finally:
        event.remove(engine.sync_engine, "checkout", count)


async def test_a_direct_write_waits_for_the_turn_of_a_writer_in_process(app: FastAPI) -> None:
    """A session's write transaction holds the writers' turn until its commit: the direct
    write waits for it rather than meeting SQLite's lock."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    first = _bot(org.id, "Held")
    holder = Writer(engine)
    await holder.execute(_NEW_BOTS.statement, first)  # its transaction is open
    row = _bot(org.id, "Waits")
    writer = Writer(engine, direct)
    await _NEW_BOTS.insert(writer, row)
    waiting = asyncio.create_task(writer.commit())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await holder.commit()
    await asyncio.wait_for(waiting, timeout=5)
    assert set(await _stored(engine, first["id"], row["id"])) == {first["id"], row["id"]}


async def test_a_direct_write_locked_out_by_another_process_waits_through_the_pool(
    app: FastAPI,
) -> None:
    """Another process (here a plain connection in a thread) holding SQLite's write lock:
    the write waits for it off the loop, as the pool's connections do, and lands."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    with _locked_by_another_process(engine) as release_soon:
        row = _bot(org.id, "Patient")
        writer = Writer(engine, direct)
        await _NEW_BOTS.insert(writer, row)
        releasing = release_soon()
        started = time.monotonic()
        await asyncio.wait_for(writer.commit(), timeout=10)
        assert time.monotonic() - started >= 0.2
        await releasing
        assert row["id"] in await _stored(engine, row["id"])


_ONE_BOT = select(_bots.c.id, _bots.c.name).where(_bots.c.id == bindparam("bot_id"))


async def _committed_bot(
    engine: AsyncEngine, direct: DirectWrites, organization_id: str, name: str
) -> dict[str, object]:
    row = _bot(organization_id, name)
    writer = Writer(engine, direct)
    await _NEW_BOTS.insert(writer, row)
    await writer.commit()
    return row


def _own_connection_idle(direct: DirectWrites) -> bool:
    connection = direct.own._connection
    return connection is None or not connection.in_transaction


async def test_a_transaction_on_sqlite_runs_on_the_apps_own_connection(app: FastAPI) -> None:
    """Reads and writes on the own connection with no checkout: a read sees what was added
    before it, and another writer waits for the commit (the transaction holds the turn)."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    existing = await _committed_bot(engine, direct, org.id, "Existing")
    checkouts: list[Any] = []

    def count(*_: Any) -> None:
        checkouts.append(1)

    event.listen(engine.sync_engine, "checkout", count)
    try:
        writer = Writer(engine, direct)
        (row,) = await writer.rows(_ONE_BOT, {"bot_id": existing["id"]})
        assert row.name == "Existing"
        added = _bot(org.id, "Added")
        await _NEW_BOTS.insert(writer, added)
        assert [r.name for r in await writer.rows(_ONE_BOT, {"bot_id": added["id"]})] == ["Added"]
        assert await writer.execute(_RENAME, {"bot_id": existing["id"], "name": "Renamed"}) == 1
        other_row = _bot(org.id, "Other")
        other = Writer(engine, direct)
        await _NEW_BOTS.insert(other, other_row)
        waiting = asyncio.create_task(other.commit())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert checkouts == []
        assert await _stored(engine, added["id"]) == {}  # not visible before the commit
        await writer.commit()
        await asyncio.wait_for(waiting, timeout=5)
    finally:
        event.remove(engine.sync_engine, "checkout", count)
    stored = await _stored(engine, existing["id"], added["id"], other_row["id"])
    assert {bot.name for bot in stored.values()} == {"Renamed", "Added", "Other"}
    assert _own_connection_idle(direct)


async def test_a_failed_transaction_on_the_own_connection_leaves_nothing_and_frees_the_turn(
    app: FastAPI,
) -> None:
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    kept = _bot(org.id, "Not kept")
    writer = Writer(engine, direct)
    await writer.execute(_NEW_BOTS.statement, kept)
    with pytest.raises(IntegrityError):
        await writer.execute(_NEW_BOTS.statement, _bot("org_missing", "Orphan"))
    await writer.rollback()
    assert _own_connection_idle(direct)
    assert await _stored(engine, kept["id"]) == {}
    # Refused at the commit (the added row), the same way.
    late = Writer(engine, direct)
    await late.rows(_ONE_BOT, {"bot_id": kept["id"]})
    await _NEW_BOTS.insert(late, _bot("org_missing", "Orphan"))
    with pytest.raises(IntegrityError):
        await late.commit()
    assert _own_connection_idle(direct)
    after = _bot(org.id, "After")
    next_writer = Writer(engine, direct)
    await next_writer.execute(_NEW_BOTS.statement, after)
    await asyncio.wait_for(next_writer.commit(), timeout=5)
    assert after["id"] in await _stored(engine, after["id"])


async def test_a_request_cancelled_mid_transaction_frees_the_turn(app: FastAPI) -> None:
    """A client gone while its transaction is open (the request is cancelled at an await):
    the rollback ends the transaction, so the next writer is not left waiting."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    gone = _bot(org.id, "Gone")
    opened = asyncio.Event()

    async def request() -> None:  # what get_writer does around an endpoint
        writer = Writer(engine, direct)
        try:
            await writer.execute(_NEW_BOTS.statement, gone)
            opened.set()
            await asyncio.sleep(30)
        except BaseException:
            await writer.rollback()
            raise
        await writer.commit()

    task = asyncio.create_task(request())
    await opened.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _own_connection_idle(direct)
    after = _bot(org.id, "After")
    writer = Writer(engine, direct)
    await _NEW_BOTS.insert(writer, after)
    await asyncio.wait_for(writer.commit(), timeout=5)
    assert set(await _stored(engine, gone["id"], after["id"])) == {after["id"]}


async def test_a_transaction_locked_out_by_another_process_goes_through_the_pool(
    app: FastAPI,
) -> None:
    """Another process holds SQLite's write lock when the transaction starts: it runs on a
    pooled connection instead, reads at once (WAL readers do not wait), and its write waits
    off the loop for the lock, then lands."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    existing = await _committed_bot(engine, direct, org.id, "Existing")
    with _locked_by_another_process(engine) as release_soon:
        writer = Writer(engine, direct)
        (row,) = await asyncio.wait_for(writer.rows(_ONE_BOT, {"bot_id": existing["id"]}), 2)
        assert row.name == "Existing"
        assert _own_connection_idle(direct)
        releasing = release_soon()
        started = time.monotonic()
        renamed = writer.execute(_RENAME, {"bot_id": existing["id"], "name": "Later"})
        assert await asyncio.wait_for(renamed, timeout=10) == 1
        await writer.commit()
        assert time.monotonic() - started >= 0.2
        await releasing
    assert (await _stored(engine, existing["id"]))[existing["id"]].name == "Later"


async def test_a_commit_hook_that_fails_rolls_the_transaction_back(app: FastAPI) -> None:
    """A hook raising at the commit (say, an outbox row the database refuses) must not leave
    the transaction open: on SQLite it would hold every other writer's turn."""
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    row = _bot(org.id, "Never")
    writer = Writer(engine, app.state.direct_writes)
    await writer.execute(_NEW_BOTS.statement, row)

    def refuse() -> None:
        raise RuntimeError("hook failed")

    ran: list[int] = []
    writer.before_commit(refuse)
    writer.after_commit(lambda: ran.append(1))
    with pytest.raises(RuntimeError):
        await writer.commit()
    assert ran == []
    after = _bot(org.id, "After")
    next_writer = Writer(engine, app.state.direct_writes)
    await next_writer.execute(_NEW_BOTS.statement, after)
    await asyncio.wait_for(next_writer.commit(), timeout=5)
    assert set(await _stored(engine, row["id"], after["id"])) == {after["id"]}
