"""Forward-only schema migrations: every `schema/NNN_name.sql` not yet in `schema_version` is applied in order.

Versions are tracked as a set, not a maximum, so a file numbered below one already applied (another area's
migration landing later) is still picked up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .errors import MigrationError

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
MIGRATION_FILE = re.compile(r"^(?P<version>\d{3})_(?P<name>[A-Za-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(directory: Path = SCHEMA_DIR) -> list[Migration]:
    """All migration files in `directory`, by version; a repeated version number is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files must be named NNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"{path}: version {version:03d} is also used by {found[version].path.name}")
        found[version] = Migration(version, match["name"], path)
    return [found[v] for v in sorted(found)]


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Versions recorded in `schema_version`; empty for a fresh file."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return set()
    return {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}


def pending(con: duckdb.DuckDBPyConnection, migrations: list[Migration]) -> list[Migration]:
    done = applied_versions(con)
    return [m for m in migrations if m.version not in done]


def migrate(con: duckdb.DuckDBPyConnection, directory: Path = SCHEMA_DIR) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied."""
    migrations = discover(directory)
    known = {m.version for m in migrations}
    unknown = sorted(applied_versions(con) - known)
    if unknown:
        raise MigrationError(
            f"the warehouse has schema versions {unknown} that this program does not know: it was written by a newer typeprior"
        )
    applied: list[Migration] = []
    for migration in pending(con, migrations):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [migration.version, migration.name])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise MigrationError(f"{migration.path}: failed to apply: {exc}") from exc
        applied.append(migration)
    return applied
