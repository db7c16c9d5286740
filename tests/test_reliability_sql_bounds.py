"""Issue 17, the warehouse: `typeprior sql` is bounded in time and result size (both overridable), no connection
autoloads DuckDB extensions, and a damaged, foreign or non-file warehouse is one typed error line."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.corpus import read_corpus
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import import_corpus
from typeprior.warehouse.errors import DamagedWarehouseError, QueryTimeoutError, ResultTooLargeError
from typeprior.warehouse.sql import run_readonly

runner = CliRunner()
BIO = "EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\n"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    open_warehouse(path).close()
    return path


def sql(warehouse: Path, *args: str):
    return runner.invoke(app, ["sql", *args, "--warehouse", str(warehouse)])


@pytest.mark.parametrize("query", ["SELECT count(*) FROM range(1e15::BIGINT)",
                                   "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
                                   "SELECT count(*) FROM t",
                                   "SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c"])
def test_a_runaway_query_stops_at_its_timeout(warehouse: Path, query: str) -> None:
    started = time.monotonic()
    result = sql(warehouse, query, "--timeout", "1")
    assert time.monotonic() - started < 10
    assert result.exit_code == 2 and result.output.startswith("error: query stopped after its timeout of 1 s")
    assert result.output.count("\n") == 1


def test_the_timeout_has_a_default_and_zero_lifts_it(warehouse: Path) -> None:
    with pytest.raises(QueryTimeoutError):
        run_readonly(warehouse, "SELECT count(*) FROM range(1e15::BIGINT)", timeout_s=0.5)
    assert run_readonly(warehouse, "SELECT count(*) FROM range(1000)", timeout_s=0) == (["count_star()"], [(1000,)])


def test_a_huge_result_is_refused_unless_the_bound_is_raised(warehouse: Path) -> None:
    result = sql(warehouse, "SELECT * FROM range(3000000)", "-f", "json")
    assert result.exit_code == 2 and "more than 100000 rows" in result.output and result.output.count("\n") == 1
    with pytest.raises(ResultTooLargeError):
        run_readonly(warehouse, "SELECT * FROM range(11)", max_rows=10)
    assert len(run_readonly(warehouse, "SELECT * FROM range(10)", max_rows=10)[1]) == 10
    assert len(run_readonly(warehouse, "SELECT * FROM range(200000)", max_rows=0)[1]) == 200000


def test_a_sqlite_file_as_warehouse_never_fetches_an_extension(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (a)").connection.commit()
    for args in (["sql", "SELECT 1"], ["data", "import", "x"]):
        result = runner.invoke(app, [*args, "--warehouse", str(path)])
        assert "download" not in result.output and "extension" not in result.output
    result = runner.invoke(app, ["sql", "SELECT 1", "--warehouse", str(path)])
    assert result.exit_code == 2 and "is a SQLite database, not a DuckDB warehouse" in result.output


def test_extension_autoloading_is_off_on_every_connection(warehouse: Path) -> None:
    with open_warehouse(warehouse) as wh:
        settings = dict(wh.query("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%_known_extensions'")
                        and [(r["name"], r["value"]) for r in wh.query(
                            "SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%_known_extensions'")])
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed blocks":
        path.write_bytes(data[:12288] + b"\0" * (len(data) - 12288))
    elif how == "zeroed header":
        path.write_bytes(b"\0" * 8192 + data[8192:])
    else:
        path.write_bytes(os.urandom(len(data)))


@pytest.mark.parametrize("how", ["truncated", "zeroed blocks", "zeroed header", "random bytes"])
def test_a_damaged_warehouse_on_the_write_path_is_one_typed_error(tmp_path: Path, warehouse: Path, how: str) -> None:
    with open_warehouse(warehouse) as wh:
        src = tmp_path / "c.bio"
        src.write_text(BIO)
        import_corpus(wh, read_corpus(src), "c", "train", source=str(src))
    _damage(warehouse, how)
    with pytest.raises(DamagedWarehouseError) as err:
        with open_warehouse(warehouse) as wh:
            import_corpus(wh, read_corpus(src), "c", "dev", source=str(src))
    assert str(warehouse) in str(err.value) and "\n" not in str(err.value)
    result = runner.invoke(app, ["data", "import", str(src), "-c", "c", "-s", "dev", "--warehouse", str(warehouse)])
    assert result.exit_code == 2 and result.output.startswith("error: ") and "warehouse" in result.output and result.output.count("\n") == 1
    assert not isinstance(result.exception, duckdb.Error)


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink loop"])
def test_a_warehouse_that_is_not_a_file_says_what_it_is(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "w.duckdb"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(path)
    says = {"directory": "is a directory", "fifo": "is a FIFO", "symlink loop": "symlink loop"}[kind]
    for args in (["sql", "SELECT 1"], ["kb", "show"]):
        result = runner.invoke(app, [*args, "--warehouse", str(path)])
        assert says in result.output and "import a corpus first" not in result.output, result.output
        assert result.output.count("\n") == 1
    with pytest.raises(DamagedWarehouseError, match=says):
        open_warehouse(path)
