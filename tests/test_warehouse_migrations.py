"""Schema migrations: applied in order on open, each once, gaps filled later, failures rolled back."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from typeprior.warehouse import MigrationError, open_warehouse
from typeprior.warehouse.migrations import SCHEMA_DIR, applied_versions, discover, migrate


def test_fresh_file_gets_every_packaged_migration(warehouse_path: Path) -> None:
    packaged = {m.version for m in discover()}
    assert {1, 3} <= packaged
    with open_warehouse(warehouse_path) as wh:
        assert wh.schema_versions() == packaged
        tables = {r["table_name"] for r in wh.query("SELECT table_name FROM duckdb_tables()")}
    assert {"schema_version", "corpora", "splits", "sentences", "mentions", "runs", "epochs", "metrics",
            "predictions", "outcomes"} <= tables


def test_reopening_applies_nothing_twice(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path):
        pass
    with open_warehouse(warehouse_path) as wh:
        rows = wh.query("SELECT version, count(*) AS n FROM schema_version GROUP BY version")
    assert rows and all(r["n"] == 1 for r in rows)


def _write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql, encoding="utf-8")


def test_a_lower_numbered_file_added_later_is_still_applied(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    schema.mkdir()
    _write(schema, "001_core.sql", (SCHEMA_DIR / "001_core.sql").read_text())
    _write(schema, "003_c.sql", "CREATE TABLE c (x INTEGER);")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert [m.version for m in migrate(con, schema)] == [1, 3]
    _write(schema, "002_b.sql", "CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (7);")
    assert [m.version for m in migrate(con, schema)] == [2]
    assert applied_versions(con) == {1, 2, 3}
    assert con.execute("SELECT x FROM b").fetchall() == [(7,)]
    con.close()


def test_a_failing_migration_is_rolled_back_and_named(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    schema.mkdir()
    _write(schema, "001_core.sql", (SCHEMA_DIR / "001_core.sql").read_text())
    _write(schema, "002_bad.sql", "CREATE TABLE half (x INTEGER); SELECT * FROM no_such_table;")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(MigrationError, match="002_bad.sql"):
        migrate(con, schema)
    assert applied_versions(con) == {1}
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half'").fetchone()[0] == 0
    con.close()


def test_badly_named_or_duplicate_files_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "1_core.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_name.sql"):
        discover(tmp_path)
    (tmp_path / "1_core.sql").unlink()
    _write(tmp_path, "004_a.sql", "SELECT 1;")
    _write(tmp_path, "004_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="004"):
        discover(tmp_path)


def test_a_warehouse_from_a_newer_program_is_refused(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        wh.execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
    with pytest.raises(MigrationError, match="999"):
        open_warehouse(warehouse_path)


def test_a_warehouse_whose_priors_build_was_text_keeps_its_build_ids(tmp_path: Path) -> None:
    """006 turns runs.priors_build from text into the integer build id: the old rows keep their ids."""
    schema = tmp_path / "schema"
    schema.mkdir()
    for m in discover():
        if m.version < 6:
            _write(schema, m.path.name, m.path.read_text())
    file = tmp_path / "w.duckdb"
    con = duckdb.connect(str(file))
    migrate(con, schema)
    con.execute("INSERT INTO runs (kind, config, priors_build) VALUES ('train', '{}', '3'), ('train', '{}', NULL)")
    con.close()
    with open_warehouse(file) as wh:
        rows = wh.query("SELECT priors_build, typeof(priors_build) AS t FROM runs ORDER BY run_id")
    assert rows == [{"priors_build": 3, "t": "INTEGER"}, {"priors_build": None, "t": "INTEGER"}]
