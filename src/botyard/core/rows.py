"""New rows written with one Core INSERT, and Core statements on the request's transaction,
for the hot writes that need no ORM object.

``session.add`` and a flush run the ORM's unit of work for every object: a dependency sort,
per-attribute history, an identity-map entry, then the INSERT. A request that creates rows
only to show them (a chat message, a new bot) pays that for nothing. :class:`NewRows` builds
the rows itself, with every column's Python-side default applied as the ORM would, inserts
them in one statement in the session's transaction (after an autoflush, like any query),
and hands the complete rows back, ready for the response model. A request that writes nothing
but such rows can skip the session altogether: a ``Writer`` (``core.database``) runs the
INSERT, compiled once, in the request's transaction.

Columns with a server-side default are refused when the helper is made: the row handed
back could not hold the value the database chose.

Such statements run on the session's connection (:func:`core_connection`): the session's own
``execute`` runs even a Core statement through the ORM's compile and result machinery, which
costs more than the statement itself on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:
    from botyard.core.database import Writer

Row = dict[str, Any]


class NewRows:
    """Rows of one model's table: ``row(**values)`` completes them, ``insert`` writes them."""

    __slots__ = ("_fill", "_required", "statement", "table")

    def __init__(self, model: type[DeclarativeBase]) -> None:
        self.table = table_of(model)
        self.statement: Insert = insert(self.table)
        self._fill: list[tuple[str, Callable[[], Any]]] = []
        self._required: list[str] = []
        for column in self.table.columns:
            if column.server_default is not None:
                raise TypeError(f"{column} has a server default: insert it with the ORM")
            default = column.default
            if default is None:
                if column.nullable:
                    self._fill.append((column.key, _none))
                else:
                    self._required.append(column.key)
            elif default.is_scalar:
                self._fill.append((column.key, _constant(default.arg)))  # type: ignore[attr-defined]
            elif default.is_callable:
                # The ORM calls a default that takes no arguments through a wrapper that
                # accepts (and drops) the statement's context; nothing here reads it.
                self._fill.append((column.key, _without_context(default.arg)))  # type: ignore[attr-defined]
            else:
                raise TypeError(f"{column} has a SQL default: insert it with the ORM")

    def row(self, **values: Any) -> Row:
        """``values`` with every column the caller left out set to its default (or NULL)."""
        for key in self._required:
            if key not in values:
                raise TypeError(f"{self.table.name}.{key} needs a value")
        for key, make in self._fill:
            if key not in values:
                values[key] = make()
        return values

    async def insert(self, target: AsyncSession | AsyncConnection | Writer, *rows: Row) -> None:
        """Write the rows (made by :meth:`row`) in the session's transaction, or with the
        writer's commit."""
        params = list(rows) if len(rows) > 1 else rows[0]
        if isinstance(target, AsyncSession):
            target = await core_connection(target)
        if isinstance(target, AsyncConnection):
            await target.execute(self.statement, params)
        else:
            target.add(self.statement, params)  # a Writer: sent with its commit


async def core_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, in its transaction, for Core statements and plain rows.

    ORM changes still pending are flushed first, as ``session.execute`` would (autoflush), so
    the statements see them."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return await session.connection()


def table_of(model: type[DeclarativeBase]) -> Table:
    """The table a model maps, for Core statements that read or write plain rows."""
    return cast(Table, model.__table__)


def _none() -> None:
    return None


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _without_context(wrapped: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: wrapped(None)
