"""Options shared by every command that touches the warehouse."""
from __future__ import annotations

import os
from pathlib import Path

import typer

DEFAULT_WAREHOUSE = "typeprior.duckdb"


def default_warehouse() -> Path:
    return Path(os.environ.get("TYPEPRIOR_WAREHOUSE", DEFAULT_WAREHOUSE))


WarehouseOption = typer.Option(
    None,
    "--warehouse",
    help="DuckDB warehouse file (default: $TYPEPRIOR_WAREHOUSE or ./typeprior.duckdb).",
    show_default=False,
)


def resolve_warehouse(path: Path | None) -> Path:
    return Path(path) if path is not None else default_warehouse()


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors a command ends with one line (typeprior's own, and bad files or values): what `fail` takes."""
    from typeprior.errors import TypePriorError

    return (TypePriorError, ValueError, LookupError, OSError)


def fail(exc: BaseException) -> typer.Exit:
    """Print the error as one line on stderr and return the Exit of its code (typeprior.errors' table)."""
    from typeprior.errors import DEBUG_ENV, exit_code, one_line

    if os.environ.get(DEBUG_ENV):
        raise exc
    typer.echo(f"error: {one_line(exc)}", err=True)
    return typer.Exit(code=exit_code(exc))
