"""Opening the warehouse: one DuckDB file, migrated on open, waiting a bounded time for other processes' locks."""
from __future__ import annotations

import errno
import os
import re
import stat
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_fixed

from typeprior.yaml_files import read_mapping

from . import migrations
from .errors import DamagedWarehouseError, WarehouseError, WarehouseLockedError, WarehouseNotFoundError
from .signals import deferred_signals

SETTINGS_FILE = Path(__file__).resolve().parent / "settings.yaml"
LOCK_TIMEOUT_ENV = "TYPEPRIOR_LOCK_TIMEOUT_S"
_LOCK_MESSAGE = re.compile(r"Could not set lock on file")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")
_SQLITE_HEADER = b"SQLite format 3\x00"
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
NO_AUTOLOAD: dict[str, Any] = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
"""Every connection: DuckDB must never fetch an extension from the internet (a SQLite file would make it try)."""
_DAMAGE = (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException, duckdb.FatalException)


def is_damage(exc: BaseException) -> bool:
    """What DuckDB raises on a truncated or zeroed file (a bare duckdb.Error for a bad checksum); not a lock."""
    if is_lock_conflict(exc):
        return False
    return isinstance(exc, _DAMAGE) or (isinstance(exc, duckdb.Error) and "Corrupt database file" in str(exc))


@lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """settings.yaml, read once."""
    return read_mapping(SETTINGS_FILE, WarehouseError, "warehouse settings file")


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


def check_file(path: Path, must_exist: bool) -> None:
    """A clear error when `path` cannot be a warehouse file: a directory, FIFO, symlink loop or a SQLite file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if must_exist:
            raise WarehouseNotFoundError(path) from None
        return
    except OSError as exc:
        reason = "it is a symlink loop" if exc.errno == errno.ELOOP else f"it cannot be read: {exc.strerror or exc}"
        raise DamagedWarehouseError(path, reason, opening=True) from None
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise DamagedWarehouseError(path, f"it is {kind}, not a DuckDB file", opening=True)
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise DamagedWarehouseError(path, f"it cannot be read: {exc.strerror or exc}", opening=True) from None
    if head == _SQLITE_HEADER:
        raise DamagedWarehouseError(path, "it is a SQLite database, not a DuckDB warehouse", opening=True)


def damaged(path: Path, exc: BaseException, opening: bool = False) -> DamagedWarehouseError:
    """The one-line error for a DuckDB failure that means the file is damaged."""
    first = str(exc).splitlines()[0]
    if opening:
        return DamagedWarehouseError(path, f"it is damaged or not a DuckDB file ({first})", opening=True)
    return DamagedWarehouseError(path, f"is damaged: {first}")


def connect(
    path: Path, *, read_only: bool, lock_timeout_s: float, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """duckdb.connect without extension autoloading, retried while another process holds the file, then a
    WarehouseLockedError."""
    check_file(path, must_exist=read_only)
    config = {**NO_AUTOLOAD, **(config or {})}
    started = time.monotonic()
    retrying = Retrying(
        retry=retry_if_exception(is_lock_conflict),
        stop=stop_after_delay(lock_timeout_s),
        wait=wait_fixed(float(settings()["lock_poll_s"])),
    )
    try:
        return retrying(duckdb.connect, str(path), read_only=read_only, config=config)
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
        raise damaged(path, exc, opening=True) from None


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
            try:
                yield self
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self._commit()
            finally:
                self._in_transaction = False
        except duckdb.Error as exc:
            if not is_damage(exc):
                raise
            raise damaged(self.path, exc) from None

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
    check_file(path, must_exist=read_only)
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the folder for warehouse {path}: {exc}") from exc
    con = connect(path, read_only=read_only, lock_timeout_s=timeout)
    try:
        if not read_only:
            migrations.migrate(con)
    except duckdb.Error as exc:
        con.close()
        if not is_damage(exc):
            raise
        raise damaged(path, exc, opening=True) from None
    except BaseException:
        con.close()
        raise
    return Warehouse(con, path, read_only)
