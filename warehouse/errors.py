"""Typed warehouse errors: each names the file, the object and the reason."""
from __future__ import annotations

from pathlib import Path

from typeprior.errors import LOCKED, TypePriorError


class WarehouseError(TypePriorError, RuntimeError):
    """Something went wrong with the warehouse file or its contents."""


class WarehouseNotFoundError(WarehouseError, FileNotFoundError):
    """A read-only command was pointed at a warehouse file that does not exist."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(
            f"no warehouse at {self.path}: import a corpus first (typeprior data import) "
            "or pass --warehouse / set $TYPEPRIOR_WAREHOUSE"
        )


class WarehouseLockedError(WarehouseError):
    """Another process held the warehouse file for longer than we were willing to wait."""

    exit_code = LOCKED

    def __init__(self, path: str | Path, pid: int | None, command: str | None, waited_s: float, detail: str) -> None:
        self.path = str(path)
        self.pid = pid
        self.command = command
        self.waited_s = waited_s
        self.detail = detail
        holder = f"process {pid}" if pid is not None else "another process"
        if command:
            holder += f" ({command})"
        super().__init__(
            f"warehouse {self.path} is locked by {holder}; gave up after waiting {waited_s:.1f} s "
            f"(raise $TYPEPRIOR_LOCK_TIMEOUT_S or --lock-timeout to wait longer). DuckDB said: {detail}"
        )


class MigrationError(WarehouseError):
    """A schema migration file is malformed, failed to apply, or the file is newer than this program."""


class WriteRefused(WarehouseError):
    """`typeprior sql` only answers queries: this statement would write or change settings."""

    def __init__(self, reason: str, statement: str | None = None) -> None:
        self.reason = reason
        self.statement = statement
        text = reason if statement is None else f"{reason}: {statement.strip()[:200]}"
        super().__init__(f"refused (typeprior sql is read-only): {text}")


class SplitNotFoundError(WarehouseError, LookupError):
    """A corpus split was asked for that was never imported."""

    def __init__(self, corpus: str, split: str, available: list[tuple[str, str]]) -> None:
        self.corpus = corpus
        self.split = split
        known = ", ".join(f"{c}/{s}" for c, s in available) or "none"
        super().__init__(f"corpus split {corpus}/{split} is not in the warehouse (imported: {known})")


class RunNotFoundError(WarehouseError, LookupError):
    """A run id was given that no run has."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"no run with run_id {run_id} in the warehouse")


class InvalidQueryError(WarehouseError, ValueError):
    """`typeprior sql` was given text DuckDB cannot parse, or a query that failed."""

    def __init__(self, reason: str, query: str) -> None:
        self.reason = reason
        self.query = query
        super().__init__(f"{reason}: {query.strip()[:200]}")


class DamagedWarehouseError(WarehouseError):
    """The warehouse file is not a (whole) DuckDB file: truncated, zeroed, another kind of file, or not a file."""

    def __init__(self, path: str | Path, reason: str, opening: bool = False) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot open warehouse {self.path}: {reason}" if opening else f"warehouse {self.path} {reason}")


class QueryTimeoutError(WarehouseError):
    """`typeprior sql` stopped a query that ran past its statement timeout."""

    def __init__(self, timeout_s: float, query: str) -> None:
        self.timeout_s = timeout_s
        self.query = query
        super().__init__(f"query stopped after its timeout of {timeout_s:g} s (raise it with --timeout): "
                         f"{query.strip()[:200]}")


class ResultTooLargeError(WarehouseError):
    """`typeprior sql` refused to print more rows than its result bound."""

    def __init__(self, max_rows: int, query: str) -> None:
        self.max_rows = max_rows
        self.query = query
        super().__init__(f"the result has more than {max_rows} rows (add a LIMIT, or raise the bound with "
                         f"--max-rows): {query.strip()[:200]}")
