"""Parquet export of the whole warehouse, for readers on other machines (DuckDB keeps one writer per file)."""
from __future__ import annotations

import shutil
from pathlib import Path

from .connection import open_warehouse
from .errors import WarehouseError


def export_parquet(path: str | Path, out_dir: str | Path, lock_timeout_s: float | None = None) -> list[Path]:
    """Write every table as Parquet plus DuckDB's schema.sql/load.sql into `out_dir`, aside and then renamed.

    `out_dir` must not exist yet: an export never overwrites an earlier one that readers may be using.
    """
    out = Path(out_dir)
    if out.exists():
        raise WarehouseError(f"export folder {out} already exists; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    target = str(tmp.resolve()).replace("'", "''")
    try:
        with open_warehouse(path, read_only=True, lock_timeout_s=lock_timeout_s) as wh:
            wh.con.execute(f"EXPORT DATABASE '{target}' (FORMAT parquet)")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.iterdir())
