"""Reliability of the warehouse: concurrent writer processes, writers killed mid-import, smuggled writes through
`typeprior sql`, and hostile values that must travel as bound parameters.

Writers are real Python processes on one real DuckDB file; "consistent" means every split's bookkeeping row agrees
with the rows actually stored, and every stored split equals exactly one complete import of it.
"""
from __future__ import annotations

import ast
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app as cli
from typeprior.model.corpus import Corpus, Entity, Sentence
from typeprior.warehouse import InvalidQueryError, WarehouseError, WriteRefused, open_warehouse
from typeprior.warehouse.corpora import import_corpus, list_splits, load_corpus
from typeprior.warehouse.sql import run_readonly

ROOT = Path(__file__).resolve().parent.parent
LOCKED_EXIT = 3
KILLED_IMPORT = 80_000  # sentences: long enough that every kill delay lands inside the import

WRITER = r"""
import os, sys, time
sys.path.insert(0, os.environ["TYPEPRIOR_ROOT"])
from typeprior.model.corpus import Corpus, Entity, Sentence
from typeprior.warehouse import WarehouseLockedError, open_warehouse
from typeprior.warehouse.corpora import import_corpus

path, split, version, n, timeout, hold = sys.argv[1:7]
def corpus():
    for i in range(int(n)):
        tokens = [f"{split}{version}w{i}", "x", "y"]
        yield Sentence(tokens, [Entity.span(0, 1 + i % 3, "T" + version)], id=f"{version}-{i}")
try:
    with open_warehouse(path, lock_timeout_s=float(timeout)) as wh:
        print("open", flush=True)
        import_corpus(wh, corpus(), "c", split, batch_size=500)
        print("imported", flush=True)
        time.sleep(float(hold))
except WarehouseLockedError as exc:
    print(f"LOCKED {exc}", file=sys.stderr, flush=True)
    sys.exit(3)
"""


def expected(split: str, version: str, n: int) -> list[tuple[list[str], list[Entity], str]]:
    return [([f"{split}{version}w{i}", "x", "y"], [Entity.span(0, 1 + i % 3, "T" + version)], f"{version}-{i}")
            for i in range(n)]


def writer(path: Path, split: str, version: str, n: int, timeout: float, hold: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "TYPEPRIOR_ROOT": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), split, version, str(n), str(timeout), str(hold)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def content(corpus: Corpus) -> list[tuple[list[str], list[Entity], str | None]]:
    return [(s.tokens, s.entities, s.id) for s in corpus]


def assert_consistent(path: Path) -> dict[str, list]:
    """Every split's bookkeeping agrees with its stored rows; returns each split's content."""
    with open_warehouse(path, read_only=True) as wh:
        out = {}
        for row in list_splits(wh):
            stored = wh.query("SELECT count(*) AS n FROM sentences WHERE corpus = ? AND split = ?",
                              [row["corpus"], row["split"]])[0]["n"]
            mentions = wh.query("SELECT count(*) AS n FROM mentions WHERE corpus = ? AND split = ?",
                                [row["corpus"], row["split"]])[0]["n"]
            assert (stored, mentions) == (row["sentences"], row["mentions"]), row
            out[row["split"]] = content(load_corpus(wh, row["corpus"], row["split"]))
        orphans = wh.query("SELECT count(*) AS n FROM sentences s ANTI JOIN splits p "
                           "ON s.corpus = p.corpus AND s.split = p.split")[0]["n"]
        assert orphans == 0, "sentences stored without their split row"
        return out


def test_concurrent_writers_wait_their_turn_and_all_land(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path):
        pass
    procs = {f"s{k}": writer(warehouse_path, f"s{k}", "a", 300, timeout=60, hold=0.3) for k in range(4)}
    for split, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"writer {split} failed: {err}"
    stored = assert_consistent(warehouse_path)
    assert stored == {split: expected(split, "a", 300) for split in procs}


def test_writers_that_cannot_wait_fail_clearly_and_change_nothing(warehouse_path: Path) -> None:
    holder = writer(warehouse_path, "held", "a", 50, timeout=30, hold=4.0)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    late = [writer(warehouse_path, f"late{k}", "b", 50, timeout=0.5) for k in range(3)]
    for proc in late:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == LOCKED_EXIT, err
        assert str(warehouse_path) in err and f"process {holder.pid}" in err and "gave up after waiting" in err
    holder.communicate(timeout=60)
    assert holder.returncode == 0
    assert assert_consistent(warehouse_path) == {"held": expected("held", "a", 50)}


def test_two_writers_replacing_one_split_leave_one_whole_version(warehouse_path: Path) -> None:
    procs = [writer(warehouse_path, "dev", v, 2000, timeout=60) for v in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    stored = assert_consistent(warehouse_path)
    assert stored["dev"] in (expected("dev", "a", 2000), expected("dev", "b", 2000))


@pytest.mark.parametrize("delay_s", [0.0] + [pytest.param(d, marks=pytest.mark.slow) for d in (0.1, 0.25, 0.5, 0.8)])
def test_a_writer_killed_mid_import_leaves_the_previous_version(warehouse_path: Path, delay_s: float) -> None:
    """SIGKILL while the replacing import runs: reopening finds the old split whole, or the new one whole."""
    first = writer(warehouse_path, "train", "a", 500, timeout=30)
    assert first.wait(timeout=60) == 0, first.stderr.read() if first.stderr else ""
    proc = writer(warehouse_path, "train", "b", KILLED_IMPORT, timeout=30)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    time.sleep(delay_s)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert "imported" not in out, "the kill came after the import had finished: raise the sentence count"
    stored = assert_consistent(warehouse_path)
    assert stored["train"] in (expected("train", "a", 500), expected("train", "b", KILLED_IMPORT))
    with open_warehouse(warehouse_path) as wh:  # still writable after the crash
        import_corpus(wh, Corpus([Sentence(["ok"])]), "c", "after")
    assert assert_consistent(warehouse_path)["after"] == [(["ok"], [], None)]


# ---- typeprior sql refuses every write, however it is dressed up ------------------------------------------------

WRITES = [
    "INSERT INTO corpora (name) VALUES ('x')",
    "UPDATE sentences SET id = 'x'",
    "DELETE FROM mentions",
    "CREATE TABLE t AS SELECT 1",
    "CREATE OR REPLACE VIEW v AS SELECT 1",
    "CREATE SEQUENCE q",
    "DROP TABLE mentions",
    "DROP VIEW ablation_results",
    "ALTER TABLE mentions RENAME TO m2",
    "ATTACH ':memory:' AS m",
    "COPY mentions TO 'leak.csv'",
    "COPY (SELECT * FROM sentences) TO 'leak.parquet' (FORMAT parquet)",
    "EXPORT DATABASE 'leakdir'",
    "INSTALL sqlite",
    "LOAD sqlite",
    "SET memory_limit = '1MB'",
    "SET GLOBAL threads = 1",
    "PRAGMA memory_limit = '1MB'",
    "PRAGMA enable_checkpoint_on_shutdown",
    "CHECKPOINT",
    "TRUNCATE mentions",
    "INSERT OR REPLACE INTO corpora (name) VALUES ('x')",
]
DRESSINGS = [
    "{w}",
    "{w};",
    "  {w}  ;  ",
    "/* harmless */ {w}",
    "-- a comment\n{w}",
    "SELECT 1; {w}",
    "{w}; SELECT 1",
    "SELECT ';'; {w}",
    "SELECT 1 /* ; */; {w}",
    "EXPLAIN {w}",
    "EXPLAIN ANALYZE {w}",
    "SELECT 1;\n\n{w};\n",
]
# Queries that pass the statement check but would reach outside the warehouse or change state if allowed to run.
SNEAKY = [
    "SELECT * FROM query('DROP TABLE mentions')",
    "SELECT * FROM query('INSERT INTO corpora (name) VALUES (''x'') RETURNING *')",
    "SELECT nextval('run_ids')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "FROM '/etc/passwd'",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM read_parquet('leak.parquet')",
    "SELECT * FROM 'http://127.0.0.1:9/x.csv'",
    "SELECT * FROM sqlite_scan('other.db', 't')",
]
# Statements that may run on the read-only connection as long as they change no file.
HARMLESS_IF_RUN = ["CALL checkpoint()", "SELECT * FROM checkpoint()", "SELECT * FROM force_checkpoint()",
                   "SELECT setseed(0.5)", "SELECT current_setting('threads')"]


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in the folder with its content hash: a refused statement changes none and adds none."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "wh" / "w.duckdb"
    with open_warehouse(path) as wh:
        import_corpus(wh, Corpus([Sentence(["EU", "rejects"], [Entity.span(0, 1, "ORG")])]), "c", "train")
    return path


def check_refused(folder: Path, path: Path, statements: list[str]) -> dict[str, int]:
    """Run every statement through the read-only path; each must be refused and no file may change."""
    before = fingerprint(folder)
    outcomes: dict[str, int] = {}
    for sql in statements:
        with pytest.raises((WriteRefused, InvalidQueryError)) as info:
            run_readonly(path, sql, lock_timeout_s=1)
        outcomes[type(info.value).__name__] = outcomes.get(type(info.value).__name__, 0) + 1
    assert fingerprint(folder) == before
    return outcomes


CI_DRESSINGS = ["{w}", "/* harmless */ {w}", "SELECT ';'; {w}", "{w}; SELECT 1", "EXPLAIN ANALYZE {w}"]


def test_dressed_up_writes_are_all_refused_and_the_file_is_untouched(filled: Path, monkeypatch) -> None:
    monkeypatch.chdir(filled.parent)
    outcomes = check_refused(filled.parent, filled, [d.format(w=w) for w in WRITES for d in CI_DRESSINGS])
    print(f"\nsmuggled writes: {outcomes}")
    assert sum(outcomes.values()) == len(WRITES) * len(CI_DRESSINGS)


@pytest.mark.slow
def test_every_dressing_of_every_write_is_refused(filled: Path, monkeypatch) -> None:
    monkeypatch.chdir(filled.parent)
    statements = [d.format(w=w) for w in WRITES for d in DRESSINGS]
    statements += [f"{a}; {b}" for a in WRITES for b in WRITES[::3]]
    outcomes = check_refused(filled.parent, filled, statements)
    print(f"\nsmuggled writes (all dressings and pairs): {outcomes}")
    assert sum(outcomes.values()) == len(statements)


@pytest.mark.parametrize("sql", SNEAKY)
def test_queries_reaching_outside_or_writing_state_fail(filled: Path, monkeypatch, sql: str) -> None:
    monkeypatch.chdir(filled.parent)
    (filled.parent / "other.db").write_bytes(b"")
    before = fingerprint(filled.parent)
    with pytest.raises(WarehouseError) as info:
        run_readonly(filled, sql, lock_timeout_s=1)
    assert isinstance(info.value, (WriteRefused, InvalidQueryError)), repr(info.value)
    assert fingerprint(filled.parent) == before


@pytest.mark.parametrize("sql", HARMLESS_IF_RUN)
def test_state_touching_queries_change_no_file(filled: Path, monkeypatch, sql: str) -> None:
    monkeypatch.chdir(filled.parent)
    before = fingerprint(filled.parent)
    try:
        run_readonly(filled, sql, lock_timeout_s=1)
    except (WriteRefused, InvalidQueryError):
        pass
    assert fingerprint(filled.parent) == before


def test_the_cli_refuses_a_smuggled_write_with_exit_2(filled: Path) -> None:
    before = fingerprint(filled.parent)
    result = CliRunner().invoke(cli, ["sql", "SELECT 1; DROP TABLE mentions", "--warehouse", str(filled)])
    assert result.exit_code == 2
    assert "read-only" in result.output or "refused" in result.output
    assert fingerprint(filled.parent) == before
    ok = CliRunner().invoke(cli, ["sql", "SELECT count(*) AS n FROM mentions", "--warehouse", str(filled),
                                  "--format", "json"])
    assert ok.exit_code == 0 and '"n": 1' in ok.output


# ---- user values go in as bound parameters ---------------------------------------------------------------------

HOSTILE = ["'; DROP TABLE mentions; --", "\" OR 1=1 --", "x' || (SELECT 1) || '", "$1", "?", ":name", "\\", "é😀",
           "a\nb", "Robert'); DELETE FROM sentences;--", "%s", "{x}", "NULL"]


def test_hostile_values_round_trip_as_data(warehouse_path: Path) -> None:
    sentences = [Sentence([h, "ok"], [Entity.span(0, 1, h if h.strip() else "X")], id=h) for h in HOSTILE]
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, Corpus(sentences, source=HOSTILE[0], format=HOSTILE[1]), "c", "train")
    with open_warehouse(warehouse_path, read_only=True) as wh:
        back = load_corpus(wh, "c", "train")
        tables = {r["table_name"] for r in wh.query("SELECT table_name FROM duckdb_tables()")}
    assert content(back) == content(Corpus(sentences))
    assert back.source == HOSTILE[0] and back.format == HOSTILE[1]
    assert {"mentions", "sentences", "corpora", "splits"} <= tables
    for h in HOSTILE:
        columns, rows = run_readonly(warehouse_path, "SELECT count(*) FROM sentences WHERE id = ?", [h])
        assert rows == [(1,)], h


def _interpolations(fn: ast.AST) -> list[ast.expr]:
    """Expressions formatted into SQL strings handed to execute/executemany/query/sql inside `fn`."""
    found: list[ast.expr] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                and node.func.attr in ("execute", "executemany", "query", "sql"):
            first = node.args[0]
            if isinstance(first, ast.JoinedStr):
                found += [v.value for v in first.values if isinstance(v, ast.FormattedValue)]
            elif isinstance(first, ast.BinOp) and isinstance(first.op, (ast.Mod, ast.Add)):
                found.append(first)
            elif isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute) and first.func.attr == "format":
                found.append(first)
    return found


def _literal_loop_names(fn: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and isinstance(node.iter, (ast.Tuple, ast.List)) \
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.iter.elts):
            names.add(node.target.id)
    return names


def test_public_functions_format_no_caller_value_into_sql() -> None:
    """Static guard: in a public function, only module constants and loops over literal names may be formatted
    into SQL text; everything a caller passes must be a bound parameter. (Private helpers are checked through
    their callers.)"""
    offenders = []
    for package in ("warehouse", "kb", "flows", "model"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name.startswith("_"):
                    continue
                params = {a.arg for a in fn.args.args + fn.args.kwonlyargs + fn.args.posonlyargs} - {"self", "cls"}
                loops = _literal_loop_names(fn)
                for expr in _interpolations(fn):
                    used = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
                    if used & params - loops:
                        offenders.append(f"{path.relative_to(ROOT)}:{expr.lineno} {fn.name}: {ast.unparse(expr)}")
    assert not offenders, "caller values formatted into SQL:\n" + "\n".join(offenders)
