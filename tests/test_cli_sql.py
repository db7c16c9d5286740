"""`typeprior sql` and `typeprior data import` end to end through the Typer apps."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from typeprior.flows.cli import app as cli
from typeprior.flows.commands.sql import LOCKED_EXIT_CODE
from typeprior.flows.commands.warehouse_import import import_corpus

runner = CliRunner()
data_app = typer.Typer()
data_app.command("import")(import_corpus)
data_app.callback()(lambda: None)  # a group, so "import" is a subcommand as in typeprior data

LINES = [
    {"tokens": ["EU", "rejects", "German", "call"], "entities": [{"indices": [0], "type": "ORG"}, {"indices": [2], "type": "MISC"}], "id": "s1"},
    {"tokens": ["muscle", "and", "joint", "pain"], "entities": [{"indices": [0, 3], "type": "ADR"}, {"indices": [2, 3], "type": "ADR"}]},
    {"tokens": ["nothing"], "entities": []},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def do_import(path: Path, warehouse: Path, split: str = "train", *extra: str):
    return runner.invoke(
        data_app, ["import", str(path), "--corpus", "toy", "--split", split, "--warehouse", str(warehouse), *extra]
    )


def sql(warehouse: Path, query: str, *extra: str):
    return runner.invoke(cli, ["sql", query, "--warehouse", str(warehouse), *extra])


@pytest.fixture
def imported(tmp_path: Path, warehouse_path: Path) -> Path:
    result = do_import(write_jsonl(tmp_path / "toy.jsonl", LINES), warehouse_path)
    assert result.exit_code == 0, result.output
    assert "imported 3 sentences, 4 mentions into toy/train" in result.stdout
    return warehouse_path


def test_json_output_after_import_and_reimport(imported: Path, tmp_path: Path) -> None:
    assert do_import(tmp_path / "toy.jsonl", imported).exit_code == 0
    result = sql(imported, "SELECT idx, id, tokens FROM sentences ORDER BY idx", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [{"idx": i, "id": r.get("id"), "tokens": r["tokens"]} for i, r in enumerate(LINES)]


def test_csv_and_table_output(imported: Path) -> None:
    query = "SELECT type, kind, indices FROM mentions ORDER BY sentence, n"
    result = sql(imported, query, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["type", "kind", "indices"]
    assert rows[1:] == [["ORG", "flat", "[0]"], ["MISC", "flat", "[2]"],
                        ["ADR", "discontinuous", "[0, 3]"], ["ADR", "nested", "[2, 3]"]]
    table = sql(imported, query)
    assert table.exit_code == 0
    assert "discontinuous" in table.stdout and "MISC" in table.stdout


@pytest.mark.parametrize("query", ["DELETE FROM mentions", "SELECT 1; DROP TABLE sentences", "COPY sentences TO 'x.csv'"])
def test_writes_are_refused_with_a_clear_message(imported: Path, query: str) -> None:
    before = imported.read_bytes()
    result = sql(imported, query)
    assert result.exit_code != 0
    assert "refused (typeprior sql is read-only)" in result.stderr
    assert imported.read_bytes() == before


def test_warehouse_comes_from_the_environment(imported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TYPEPRIOR_WAREHOUSE", str(imported))
    result = runner.invoke(cli, ["sql", "SELECT count(*) AS n FROM mentions", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": 4}]


def test_missing_warehouse_and_bad_query(tmp_path: Path, imported: Path) -> None:
    result = sql(tmp_path / "absent.duckdb", "SELECT 1")
    assert result.exit_code == 2 and "no warehouse at" in result.stderr
    result = sql(imported, "SELECT * FROM nosuch")
    assert result.exit_code == 2 and "nosuch" in result.stderr


def test_a_broken_file_leaves_the_previous_import(imported: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(LINES[0]) + "\n{not json\n", encoding="utf-8")
    result = do_import(broken, imported, "train", "--format", "jsonl")
    assert result.exit_code == 2
    assert "broken.jsonl:2" in result.stderr
    check = sql(imported, "SELECT count(*) AS n FROM sentences WHERE split = 'train'", "--format", "json")
    assert json.loads(check.stdout) == [{"n": 3}]


def test_a_held_lock_names_the_holding_process(imported: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); sys.stdin.readline()",
         str(imported)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = sql(imported, "SELECT 1", "--lock-timeout", "0.3")
        assert result.exit_code == LOCKED_EXIT_CODE
        assert f"locked by process {holder.pid}" in result.stderr
        assert "duckdb.connect" in result.stderr
        imported_again = do_import(imported.parent / "toy.jsonl", imported, "dev", "--lock-timeout", "0")
        assert imported_again.exit_code == LOCKED_EXIT_CODE
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=20)
    assert json.loads(sql(imported, "SELECT count(*) AS n FROM sentences", "--format", "json").stdout) == [{"n": 3}]
