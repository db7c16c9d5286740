"""The DuckDB warehouse: one file holding corpora, knowledge-base builds and runs, migrated on open."""
from .connection import Warehouse, open_warehouse
from .errors import (
    InvalidQueryError,
    MigrationError,
    RunNotFoundError,
    SplitNotFoundError,
    WarehouseError,
    WarehouseLockedError,
    WarehouseNotFoundError,
    WriteRefused,
)

__all__ = [
    "Warehouse",
    "open_warehouse",
    "InvalidQueryError",
    "MigrationError",
    "RunNotFoundError",
    "SplitNotFoundError",
    "WarehouseError",
    "WarehouseLockedError",
    "WarehouseNotFoundError",
    "WriteRefused",
]
