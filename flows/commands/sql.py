"""`typeprior sql`: read-only queries over the warehouse, printed as a table, CSV or JSON."""
from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typeprior.warehouse.errors import WarehouseError
from typeprior.warehouse.sql import run_readonly

from .common import WarehouseOption, fail, resolve_warehouse

app = typer.Typer(no_args_is_help=True)

LOCKED_EXIT_CODE = 75  # EX_TEMPFAIL: another process holds the warehouse; retrying later may succeed.

LockTimeoutOption = typer.Option(
    None,
    "--lock-timeout",
    help="Seconds to wait while another process holds the warehouse (default: $TYPEPRIOR_LOCK_TIMEOUT_S or 30).",
    min=0,
    show_default=False,
)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _json_value(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def print_rows(columns: list[str], rows: list[tuple], fmt: OutputFormat) -> None:
    """Write query results to stdout in the chosen format."""
    if fmt is OutputFormat.json:
        records = [{c: _json_value(v) for c, v in zip(columns, row)} for row in rows]
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    elif fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in row] for row in rows)
    else:
        table = Table(*columns, show_lines=False)
        for row in rows:
            table.add_row(*(_cell(v) for v in row))
        Console(file=sys.stdout).print(table)
        Console(file=sys.stderr).print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", style="dim")


@app.command("sql")
def sql(
    query: str = typer.Argument(..., help="One read-only SQL statement (SELECT, WITH, FROM, SHOW, DESCRIBE, ...)."),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
    warehouse: Path | None = WarehouseOption,
    lock_timeout: float | None = LockTimeoutOption,
    timeout: float | None = typer.Option(None, "--timeout", min=0, show_default=False,
                                         help="Stop the query after this many seconds (default 60; 0: no limit)."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=0, show_default=False,
                                        help="Refuse a result of more rows than this (default 100000; 0: no limit)."),
) -> None:
    """Answer a query over the warehouse; statements that would write are refused."""
    try:
        columns, rows = run_readonly(resolve_warehouse(warehouse), query, lock_timeout_s=lock_timeout,
                                     timeout_s=timeout, max_rows=max_rows)
    except WarehouseError as exc:
        raise fail(exc) from None
    print_rows(columns, rows, format)


export_app = typer.Typer(no_args_is_help=True)


@export_app.command("export")
def export(
    out_dir: Path = typer.Argument(..., help="New folder for the Parquet files (must not exist)."),
    warehouse: Path | None = WarehouseOption,
    lock_timeout: float | None = LockTimeoutOption,
) -> None:
    """Export every table as Parquet (plus schema.sql and load.sql) for readers on shared storage."""
    from typeprior.warehouse.export import export_parquet

    try:
        files = export_parquet(resolve_warehouse(warehouse), out_dir, lock_timeout_s=lock_timeout)
    except WarehouseError as exc:
        raise fail(exc) from None
    typer.echo(json.dumps({"folder": str(out_dir), "files": len(files)}))
