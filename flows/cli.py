"""The `typeprior` command-line program: one Typer app with a sub-app per area.

Every error ends the same way, whichever command raised it: one line `error: ...` on stderr and the exit code of
typeprior.errors' table (2 bad input, 75 warehouse held by another process, 130 interrupted). `--debug` shows
the traceback instead, and lets Prefect's flow logs keep the tracebacks of typed errors (flows/log_filters.py).
"""
from __future__ import annotations

import os
import signal
import sys

import typer

from typeprior.errors import BAD_INPUT, DEBUG_ENV, INTERRUPTED, exit_code, one_line
from typeprior.warehouse.signals import received, terminate_like_interrupt

from .commands import data, kb, model, pipeline, sql, warehouse_import
from .log_filters import quiet_typed_errors

app = typer.Typer(
    name="typeprior",
    help="Generative NER with relation attention and knowledge-base type attention.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data.app.command("import")(warehouse_import.import_corpus)
app.add_typer(data.app, name="data", help="Read, convert, inspect and import corpora.")
app.add_typer(sql.export_app, name="warehouse", help="Export the warehouse for readers elsewhere.")
app.add_typer(kb.app, name="kb", help="Build and inspect knowledge-base type priors.")
app.registered_commands += sql.app.registered_commands
app.registered_commands += model.app.registered_commands
app.registered_commands += pipeline.app.registered_commands

DEBUG = "--debug"
EPHEMERAL_STARTUP = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"  # Prefect's 20 s is short on a busy machine
CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def is_usage_error(error: BaseException) -> bool:
    """A bad option or argument (click's UsageError family, which typer vendors): click prints it itself."""
    return isinstance(error, CLICK_EXCEPTION)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors become one line and an exit code unless --debug is given (anywhere)."""
    os.environ.setdefault(EPHEMERAL_STARTUP, "120")
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG in args
    args = [a for a in args if a != DEBUG]
    if debug:
        os.environ[DEBUG_ENV] = "1"
    else:
        quiet_typed_errors()
    try:
        with terminate_like_interrupt():  # SIGTERM ends a run as Ctrl-C does: cancelled, resumable
            code = app(args=args, prog_name="typeprior", standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort as stopped:  # click's form of a KeyboardInterrupt (Ctrl-C, SIGTERM) or of an EOF at a prompt
        cause = stopped.__cause__ or stopped.__context__  # a prompt raises Abort `from None`: the EOF is the context
        if isinstance(cause, EOFError):
            typer.echo("error: standard input ended where the command expected an answer", err=True)
            sys.exit(BAD_INPUT)
        typer.echo("error: interrupted", err=True)
        sys.exit(exit_code(cause or KeyboardInterrupt()))
    except BaseException as error:  # noqa: BLE001 - the CLI boundary: every error ends in one line
        if is_usage_error(error):
            error.show()  # type: ignore[attr-defined]
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        if debug or isinstance(error, SystemExit):
            raise
        typer.echo(f"error: {one_line(error)}", err=True)
        sys.exit(exit_code(error))
    if code == INTERRUPTED and received:  # typer turned SIGTERM's Terminated into a silent 130 (Ctrl-C stays 130)
        typer.echo(f"error: interrupted by {signal.Signals(received[-1]).name}", err=True)
        sys.exit(128 + received[-1])
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
