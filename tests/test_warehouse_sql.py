"""Read-only SQL: DuckDB's own parser decides what passes; the read-only connection backs it up."""
from __future__ import annotations

from pathlib import Path

import pytest

from typeprior.model.corpus import Corpus, Entity, Sentence
from typeprior.warehouse import InvalidQueryError, WarehouseNotFoundError, WriteRefused, open_warehouse
from typeprior.warehouse.corpora import import_corpus
from typeprior.warehouse.sql import check_read_only, run_readonly

WRITES = [
    "INSERT INTO corpora VALUES ('x', now())",
    "insert into corpora select 'x', now() returning *",
    "UPDATE sentences SET id = 'x'",
    "DELETE FROM mentions",
    "CREATE TABLE t (a INTEGER)",
    "create temp table t as select 1",
    "CREATE MACRO m(a) AS a",
    "DROP TABLE mentions",
    "ALTER TABLE mentions ADD COLUMN z INTEGER",
    "ATTACH 'other.duckdb' AS other",
    "DETACH other",
    "COPY mentions TO 'out.csv'",
    "COPY (SELECT 1) TO 'out.parquet' (FORMAT parquet)",
    "COPY mentions FROM 'in.csv'",
    "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE 'dump'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "RESET threads",
    "SET VARIABLE v = 1",
    "USE memory",
    "PRAGMA enable_profiling",
    "PRAGMA threads = 1",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "CALL checkpoint()",
    "VACUUM",
    "BEGIN TRANSACTION",
    "PIVOT mentions ON type",
    "EXPLAIN ANALYZE DELETE FROM mentions",
    "SELECT 1; DROP TABLE mentions",
    "SELECT 1; SELECT 2",
    "MERGE INTO corpora USING corpora AS c ON (corpora.name = c.name) WHEN MATCHED THEN DELETE",
    "PREPARE p AS SELECT 1",
]

QUERIES = [
    "SELECT count(*) FROM sentences",
    "SELECT 1;",
    "  select 1 -- comment",
    "WITH m AS (SELECT * FROM mentions) SELECT type, count(*) FROM m GROUP BY type",
    "FROM mentions LIMIT 1",
    "VALUES (1), (2)",
    "SHOW TABLES",
    "DESCRIBE mentions",
    "SUMMARIZE mentions",
    "EXPLAIN SELECT * FROM mentions",
    "PRAGMA table_info('mentions')",
    "CALL pragma_table_info('mentions')",
    "SELECT * FROM duckdb_tables()",
]


@pytest.fixture
def filled(warehouse_path: Path) -> Path:
    corpus = Corpus([
        Sentence(["Paris", "is", "nice"], [Entity.span(0, 1, "LOC")], id="a"),
        Sentence(["Bob", "and", "Alice"], [Entity.span(0, 1, "PER"), Entity.span(2, 3, "PER")]),
    ])
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, corpus, "toy", "train")
    return warehouse_path


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_before_running(sql: str) -> None:
    with pytest.raises(WriteRefused, match="read-only"):
        check_read_only(sql)


@pytest.mark.parametrize("sql", QUERIES)
def test_queries_pass_and_run(filled: Path, sql: str) -> None:
    check_read_only(sql)
    columns, rows = run_readonly(filled, sql)
    assert columns


@pytest.mark.parametrize("sql", ["DELETE FROM mentions", "SELECT 1; DROP TABLE mentions", "COPY mentions TO 'x.csv'"])
def test_refused_statements_leave_the_warehouse_untouched(filled: Path, sql: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = filled.read_bytes()
    with pytest.raises(WriteRefused):
        run_readonly(filled, sql)
    assert filled.read_bytes() == before
    assert not (tmp_path / "x.csv").exists()
    assert run_readonly(filled, "SELECT count(*) FROM mentions")[1] == [(3,)]


def test_answers_with_columns_rows_and_bound_parameters(filled: Path) -> None:
    columns, rows = run_readonly(
        filled, "SELECT type, text FROM mentions WHERE type = ? ORDER BY sentence, n", ["PER"]
    )
    assert columns == ["type", "text"]
    assert rows == [("PER", "Bob"), ("PER", "Alice")]


def test_files_outside_the_warehouse_cannot_be_read(filled: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(WriteRefused, match="disabled"):
        run_readonly(filled, f"SELECT * FROM read_csv('{secret}')")


def test_bad_sql_and_missing_tables_are_query_errors(filled: Path) -> None:
    with pytest.raises(InvalidQueryError, match="syntax error"):
        run_readonly(filled, "SELEC 1")
    with pytest.raises(InvalidQueryError, match="nosuch"):
        run_readonly(filled, "SELECT * FROM nosuch")
    with pytest.raises(WriteRefused, match="no statement"):
        run_readonly(filled, "  ;  ")


def test_a_missing_warehouse_is_named(tmp_path: Path) -> None:
    with pytest.raises(WarehouseNotFoundError, match="absent.duckdb"):
        run_readonly(tmp_path / "absent.duckdb", "SELECT 1")
    assert not (tmp_path / "absent.duckdb").exists()
