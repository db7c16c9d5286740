"""Read-only SQL over the warehouse for `typeprior sql`.

Two guards: each statement is parsed by DuckDB itself and only queries pass (one statement at a time),
and the query then runs on a read-only connection with external file access disabled, so a statement the
check missed still cannot write to the warehouse or anywhere else.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Sequence

import duckdb

from .connection import NO_AUTOLOAD, connect, default_lock_timeout_s, settings
from .errors import InvalidQueryError, QueryTimeoutError, ResultTooLargeError, WriteRefused

QUERY_TYPES = {duckdb.StatementType.SELECT}
# PRAGMAs and table functions that only read the catalog; anything else of type PRAGMA/CALL is refused.
READ_PRAGMAS = {
    "table_info",
    "show",
    "show_tables",
    "show_tables_expanded",
    "show_databases",
    "database_list",
    "database_size",
    "storage_info",
    "metadata_info",
    "version",
    "platform",
    "functions",
    "collations",
    "user_agent",
}
_EXPLAIN = re.compile(r"^\s*explain\s+(?P<analyze>analyze\s+)?", re.IGNORECASE)
_PRAGMA = re.compile(r"^\s*pragma\s+(?P<name>\w+)\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_CALL = re.compile(r"^\s*call\s+(?:pragma_)?(?P<name>\w+)\s*\(", re.IGNORECASE)


def _statements(sql: str) -> list[Any]:
    parser = duckdb.connect(":memory:", config=NO_AUTOLOAD)
    try:
        return parser.extract_statements(sql)
    except duckdb.ParserException as exc:
        raise InvalidQueryError(str(exc).splitlines()[0], sql) from None
    except (ValueError, duckdb.Error) as exc:
        raise WriteRefused(f"statement kind not recognised as a query ({exc})", sql) from None
    finally:
        parser.close()


def check_statement(statement: Any) -> None:
    """Raise WriteRefused unless one parsed statement only reads."""
    kind = statement.type
    text = statement.query
    if kind in QUERY_TYPES:
        return
    if kind == duckdb.StatementType.EXPLAIN:
        match = _EXPLAIN.match(text)
        inner = text[match.end():] if match else ""
        inner_statements = _statements(inner) if inner.strip() else []
        if len(inner_statements) != 1:
            raise WriteRefused("EXPLAIN must wrap exactly one query", text)
        check_statement(inner_statements[0])
        return
    if kind == duckdb.StatementType.PRAGMA:
        match = _PRAGMA.match(text)
        if match and match["name"].lower() in READ_PRAGMAS and "=" not in match["rest"]:
            return
        raise WriteRefused("only catalog-reading PRAGMAs are allowed (" + ", ".join(sorted(READ_PRAGMAS)) + ")", text)
    if kind == duckdb.StatementType.CALL:
        match = _CALL.match(text)
        if match and match["name"].lower() in READ_PRAGMAS:
            return
        raise WriteRefused("CALL is only allowed for catalog-reading functions", text)
    raise WriteRefused(f"{kind.name} statements are not allowed, only queries (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)", text)


def check_read_only(sql: str) -> None:
    """Raise WriteRefused unless `sql` is exactly one statement that only reads."""
    statements = _statements(sql)
    if not statements:
        raise WriteRefused("no statement given")
    for statement in statements:
        check_statement(statement)
    if len(statements) > 1:
        raise WriteRefused(f"one statement at a time, got {len(statements)}", sql)


def run_readonly(
    path: str | Path,
    query: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    lock_timeout_s: float | None = None,
    timeout_s: float | None = None,
    max_rows: int | None = None,
) -> tuple[list[str], list[tuple]]:
    """Check `query`, then run it on a read-only connection; return (column names, rows).

    The query is stopped after `timeout_s` (QueryTimeoutError) and a result of more than `max_rows` rows is
    refused (ResultTooLargeError); both default to settings.yaml, and 0 means no bound.
    """
    check_read_only(query)
    path = Path(path)
    timeout = default_lock_timeout_s() if lock_timeout_s is None else float(lock_timeout_s)
    limit_s = float(settings()["sql_timeout_s"] if timeout_s is None else timeout_s)
    rows_bound = int(settings()["sql_max_rows"] if max_rows is None else max_rows)
    con = connect(path, read_only=True, lock_timeout_s=timeout,
                  config={"enable_external_access": False, "memory_limit": str(settings()["sql_memory_limit"])})
    timer = threading.Timer(limit_s, con.interrupt) if limit_s > 0 else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        try:
            return _answer(con, query, params, rows_bound)
        except duckdb.InterruptException:
            raise QueryTimeoutError(limit_s, query) from None
    finally:
        if timer is not None:
            timer.cancel()
        con.close()


def _answer(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] | dict[str, Any] | None,
            max_rows: int) -> tuple[list[str], list[tuple]]:
    """Run the checked query and fetch at most `max_rows` rows (0: all of them)."""
    try:
        cur = con.execute(query, params)
        if not cur.description:
            return [], []
        columns = [d[0] for d in cur.description]
        rows = cur.fetchmany(max_rows + 1) if max_rows > 0 else cur.fetchall()
    except duckdb.InterruptException:
        raise
    except duckdb.PermissionException as exc:
        raise WriteRefused(str(exc).splitlines()[0], query) from None
    except duckdb.InvalidInputException as exc:
        if "read-only" in str(exc):
            raise WriteRefused(str(exc).splitlines()[0], query) from None
        raise InvalidQueryError(str(exc).splitlines()[0], query) from None
    except duckdb.Error as exc:
        raise InvalidQueryError(str(exc).splitlines()[0], query) from None
    if max_rows > 0 and len(rows) > max_rows:
        raise ResultTooLargeError(max_rows, query)
    return columns, rows
