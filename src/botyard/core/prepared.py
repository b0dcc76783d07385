"""Fixed Core statements run straight on the DB-API cursor of the connection they are given.

A hot write (a chat message) runs a handful of statements fixed at import, with bound
parameters, in the request's transaction. Through ``Connection.execute`` each one pays for an
execution context, the compiled cache's lookup, parameter construction and a result object,
which on SQLite costs several times what the database spends on the statement. A
:class:`Prepared` statement keeps what matters of that path: the dialect's SQL, compiled once
per dialect; the columns' bind and result conversions; the connection's cursor events
(``before_cursor_execute`` and ``after_cursor_execute``, with no execution context: None);
and DB-API errors handled by the connection as ``Connection`` handles them (wrapped, a
disconnect invalidating the pool). Rows come back as named tuples of the selected columns.

``run`` is synchronous, for a greenlet on the session's connection
(``await connection.run_sync(work)``), so that several statements of one request take a
single hop into SQLAlchemy's greenlet rather than one each. A dialect whose DB-API takes
named parameters, or a statement rendered per execution (``IN`` lists, literal binds), runs
through ``Connection.execute`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from botyard.core.database import ResultRows

_POSITIONAL = frozenset({"qmark", "numeric", "numeric_dollar", "format"})

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a statement gave: its rows (named tuples) and the rows it changed."""

    rows: list[Any]
    rowcount: int

    def first(self) -> Any:
        return self.rows[0] if self.rows else None


class _Compiled:
    """The statement compiled for one dialect, with its conversions."""

    __slots__ = ("binds", "shape", "sql")

    def __init__(self, compiled: SQLCompiler, columns: Sequence[Any]) -> None:
        self.sql = compiled.string
        processors = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
        self.binds = [
            (name, compiled.binds[name], processors.get(name))
            for name in compiled.positiontup or ()
        ]
        self.shape = ResultRows(columns, "PreparedRow")

    def arguments(self, params: Params) -> list[Any]:
        arguments = []
        for name, bind, process in self.binds:
            value = params[name] if bind.required else params.get(name, bind.effective_value)
            arguments.append(value if process is None else process(value))
        return arguments


class Prepared:
    """A Core statement made once (module level), run by :meth:`run` on a sync ``Connection``.

    ``column_keys``: for an ``insert(table)`` without ``values``, the columns each row gives
    (as ``Connection.execute`` would take them from the first row).
    """

    __slots__ = ("_by_dialect", "column_keys", "statement")

    def __init__(self, statement: Executable, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, _Compiled | None] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled | None:
        try:
            return self._by_dialect[dialect.name]
        except KeyError:
            pass
        compiled = cast(
            SQLCompiler,
            cast(ClauseElement, self.statement).compile(
                dialect=dialect, column_keys=self.column_keys
            ),
        )
        usable = dialect.paramstyle in _POSITIONAL and not (
            compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.escaped_bind_names
        )
        columns = getattr(self.statement, "selected_columns", None)
        if columns is None:
            returning = getattr(self.statement, "_returning", ())
            columns = list(returning)
        made = _Compiled(compiled, list(columns)) if usable else None
        self._by_dialect[dialect.name] = made
        return made

    def run(self, connection: Connection, params: Params | Sequence[Params]) -> Outcome:
        """The statement with ``params``, or once per mapping of a sequence (executemany)."""
        compiled = self._compiled(connection.dialect)
        if compiled is None:
            result = cast(CursorResult[Any], connection.execute(self.statement, params))
            rows = list(result.all()) if result.returns_rows else []
            return Outcome(rows, result.rowcount)
        many = not isinstance(params, Mapping)
        sql = compiled.sql
        arguments: Any = (
            [compiled.arguments(row) for row in cast(Sequence[Params], params)]
            if many
            else compiled.arguments(cast(Params, params))
        )
        dispatch = connection.dispatch
        cursor = connection.connection.cursor()
        try:
            for before in dispatch.before_cursor_execute:
                sql, arguments = before(connection, cursor, sql, arguments, None, many)
            if many:
                cursor.executemany(sql, arguments)
            else:
                cursor.execute(sql, arguments)
            description = cursor.description
            fetched = cursor.fetchall() if description else []
            rowcount = cursor.rowcount
            if dispatch.after_cursor_execute:
                dispatch.after_cursor_execute(connection, cursor, sql, arguments, None, many)
        except BaseException as error:
            # As Connection does: a DB-API error is wrapped (a disconnect invalidates the
            # pool), and the cursor is closed on the way.
            connection._handle_dbapi_exception(error, sql, arguments, cursor, None)
            raise  # not reached for a DB-API error: the connection raises the wrapped one
        cursor.close()
        rows = compiled.shape.of(fetched, description, connection.dialect) if description else []
        return Outcome(rows, rowcount)
