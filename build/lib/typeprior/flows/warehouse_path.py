"""The warehouse file a flow writes to: the one given, else $TYPEPRIOR_WAREHOUSE, else ./typeprior.duckdb."""
from __future__ import annotations

from pathlib import Path

from .commands.common import default_warehouse


def warehouse_path(given: str | Path | None = None) -> str:
    """An absolute path, so served runs (other processes, other working folders) agree on the file."""
    return str(Path(given if given is not None else default_warehouse()).resolve())
