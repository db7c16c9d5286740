"""Signals handled one way everywhere the warehouse is written.

SIGTERM (what `timeout`, systemd and `kill` send) and SIGHUP end a Python process at once by default, skipping
every `except`/`finally`: a build stopped that way stayed `running` for ever. `terminate_like_interrupt` turns them
into `Terminated`, a KeyboardInterrupt, so the code that marks a build or run failed on Ctrl-C runs for them too.
`deferred_signals` holds SIGINT and SIGTERM back while a COMMIT runs: the interrupt is raised after it, as
`InterruptedAfterCommit`, so a caller can say truthfully that the data was committed.

A signal that arrives while DuckDB runs a query does not reach Python as the handler's exception: DuckDB stops the
query and raises a plain RuntimeError("Query interrupted") instead (its own `InterruptException` is what
`connection.interrupt()`, a timeout, raises). `interrupt_of` tells such an error apart, so the signal still counts as
a cancellation rather than a bug.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM or SIGHUP; raised where it was, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


class InterruptedAfterCommit(KeyboardInterrupt):
    """An interrupt arrived while a transaction committed: the commit is complete, the rest is skipped."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name} after the commit")


received: list[int] = []  # the terminating signals this process got, for callers that see only an exit code
DUCKDB_INTERRUPTED = "Query interrupted"  # DuckDB's message when a signal stops a running query


def interrupt_of(error: BaseException) -> KeyboardInterrupt | None:
    """The interrupt behind `error`: itself if it is one, the signal that stopped a DuckDB query, else None."""
    if isinstance(error, KeyboardInterrupt):
        return error
    if type(error) is RuntimeError and str(error) == DUCKDB_INTERRUPTED:
        return Terminated(received[-1]) if received else KeyboardInterrupt()
    return None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise Terminated (in the main thread; elsewhere nothing changes).

    A DuckDB query that a signal stopped leaves the block as that signal's interrupt, not as DuckDB's RuntimeError.
    """
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in _TERMINATING}
    try:
        yield
    except RuntimeError as error:
        interrupt = interrupt_of(error)
        if interrupt is None:
            raise
        raise interrupt from error
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then raise InterruptedAfterCommit for the first."""
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    watched = (signal.SIGINT, *_TERMINATING)
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in watched}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if pending:
        raise InterruptedAfterCommit(pending[0])
