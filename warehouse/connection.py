"""Opening the warehouse: one DuckDB file, migrated on open, waiting a bounded time for other processes' locks."""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import yaml
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_fixed

from . import migrations
from .errors import WarehouseError, WarehouseLockedError, WarehouseNotFoundError
from .signals import deferred_signals

SETTINGS_FILE = Path(__file__).resolve().parent / "settings.yaml"
LOCK_TIMEOUT_ENV = "TYPEPRIOR_LOCK_TIMEOUT_S"
_LOCK_MESSAGE = re.compile(r"Could not set lock on file")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


@lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """settings.yaml, read once."""
    with SETTINGS_FILE.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def default_lock_timeout_s() -> float:
    """$TYPEPRIOR_LOCK_TIMEOUT_S, else settings.yaml's lock_timeout_s."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    if raw is None or raw.strip() == "":
        return float(settings()["lock_timeout_s"])
    try:
        value = float(raw)
    except ValueError:
        raise WarehouseError(f"${LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise WarehouseError(f"${LOCK_TIMEOUT_ENV}={raw!r} is negative")
    return value


def is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and bool(_LOCK_MESSAGE.search(str(exc)))


def process_command(pid: int) -> str | None:
    """The command line of a process from /proc, or None when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
    return " ".join(parts) or None


def _locked_error(path: Path, exc: BaseException, waited_s: float) -> WarehouseLockedError:
    detail = str(exc)
    match = _LOCK_PID.search(detail)
    pid = int(match.group(1)) if match else None
    command = process_command(pid) if pid is not None else None
    return WarehouseLockedError(path, pid, command, waited_s, detail)


def connect(
    path: Path, *, read_only: bool, lock_timeout_s: float, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retried while another process holds the file, then a WarehouseLockedError."""
    started = time.monotonic()
    retrying = Retrying(
        retry=retry_if_exception(is_lock_conflict),
        stop=stop_after_delay(lock_timeout_s),
        wait=wait_fixed(float(settings()["lock_poll_s"])),
    )
    try:
        return retrying(duckdb.connect, str(path), read_only=read_only, config=config or {})
    except RetryError as exc:
        raise _locked_error(path, exc.last_attempt.exception(), time.monotonic() - started) from None
    except duckdb.ConnectionException as exc:
        if "different configuration" not in str(exc):
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
        raise WarehouseError(
            f"this process already has {path} open with other settings (read-write versus read-only): "
            "close that connection first, or use it instead"
        ) from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc


class Warehouse:
    """An open warehouse file. Use as a context manager; writes go through `transaction()`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self._in_transaction = False

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator["Warehouse"]:
        """BEGIN ... COMMIT, or ROLLBACK on any exception. A nested call joins the outer transaction."""
        if self._in_transaction:
            yield self
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self._commit()
        finally:
            self._in_transaction = False

    def _commit(self) -> None:
        """COMMIT with interrupts held back: one that arrives meanwhile is raised after, as InterruptedAfterCommit."""
        with deferred_signals():
            self.con.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def schema_versions(self) -> set[int]:
        return migrations.applied_versions(self.con)


def open_warehouse(
    path: str | Path, read_only: bool = False, lock_timeout_s: float | None = None
) -> Warehouse:
    """Open (creating and migrating when writable) the warehouse file at `path`.

    Read-only opens never migrate and need the file to exist. `lock_timeout_s` defaults to
    $TYPEPRIOR_LOCK_TIMEOUT_S or settings.yaml.
    """
    path = Path(path)
    timeout = default_lock_timeout_s() if lock_timeout_s is None else float(lock_timeout_s)
    if read_only:
        if not path.is_file():
            raise WarehouseNotFoundError(path)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the folder for warehouse {path}: {exc}") from exc
    con = connect(path, read_only=read_only, lock_timeout_s=timeout)
    try:
        if not read_only:
            migrations.migrate(con)
    except BaseException:
        con.close()
        raise
    return Warehouse(con, path, read_only)
