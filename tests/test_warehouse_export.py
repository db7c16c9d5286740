"""`typeprior warehouse export`: every table lands as Parquet that DuckDB reads back with the same rows."""
from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.corpus import Corpus, Entity, Sentence
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import import_corpus


def _filled(path: Path) -> None:
    corpus = Corpus([Sentence(["Ada", "met", "Alan", "Turing"], [Entity((0,), "PER"), Entity((2, 3), "PER")]),
                     Sentence(["in", "Paris"], [Entity((1,), "LOC")])])
    with open_warehouse(path) as wh:
        import_corpus(wh, corpus, "toy", "train")


def test_export_writes_parquet_with_the_same_rows(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _filled(db)
    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["warehouse", "export", str(out), "--warehouse", str(db)])
    assert result.exit_code == 0, result.output
    assert (out / "schema.sql").is_file() and (out / "load.sql").is_file()
    mentions = duckdb.sql(f"SELECT type, indices FROM '{out / 'mentions.parquet'}' ORDER BY sentence, indices").fetchall()
    assert mentions == [("PER", [0]), ("PER", [2, 3]), ("LOC", [1])]
    assert not list(tmp_path.glob(".export*"))


def test_export_refuses_an_existing_folder(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _filled(db)
    out = tmp_path / "export"
    out.mkdir()
    result = CliRunner().invoke(app, ["warehouse", "export", str(out), "--warehouse", str(db)])
    assert result.exit_code == 2 and "already exists" in result.output
