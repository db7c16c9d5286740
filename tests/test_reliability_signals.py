"""Issue 17, signals: `kb build` stopped by SIGTERM, SIGHUP or SIGINT ends its build `failed` with one error line,
and an interrupt that arrives during an import's COMMIT says the split was imported, without a traceback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from fake_mediawiki import FakeMediaWiki, FakeWiki, FIXTURE_PAGES

ROOT = Path(__file__).resolve().parent.parent
SCHEME = ROOT / "tests" / "fixtures" / "wiki" / "scheme_fixture.yaml"

# The child runs the real `typeprior kb build`; only the sentence encoder is a stub, since the build is stopped
# during the harvest, long before anything is embedded.
BUILD_CHILD = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal: a shell's background job, such
    from typeprior.kb import embeddings                       # as a CI run, starts with SIGINT ignored
    embeddings.Encoder.from_settings = classmethod(lambda cls, path, settings: embeddings.Encoder(None, "stub@test"))
    from typeprior.flows.cli import app
    sys.argv = ["typeprior", *sys.argv[1:]]
    app()
""")

# The child runs the real `typeprior data import`; its connection sends the process SIGINT right after the real
# COMMIT returns, which is when a Ctrl-C pressed during a long COMMIT is seen by Python.
IMPORT_CHILD = textwrap.dedent("""
    import os, signal, sys
    from typeprior.warehouse import connection

    class Connection:
        def __init__(self, con):
            self._con = con
        def __getattr__(self, name):
            return getattr(self._con, name)
        def execute(self, sql, *args):
            result = self._con.execute(sql, *args)
            if sql == "COMMIT" and sys._getframe(1).f_code.co_name == "_commit":  # the import's, not a migration's
                os.kill(os.getpid(), signal.SIGINT)
            return result

    real = connection.connect
    connection.connect = lambda *a, **k: Connection(real(*a, **k))
    from typeprior.flows.cli import app
    sys.argv = ["typeprior", *sys.argv[1:]]
    app()
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_kb_build_ends_failed_with_one_error_line(tmp_path: Path, signum: signal.Signals) -> None:
    config = tmp_path / "kb.yaml"
    config.write_text("live:\n  min_interval_s: 0.0\n  max_retries: 0\n  timeout_s: 60.0\n  deadline_s: 60.0\n")
    wh = tmp_path / "w.duckdb"
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as server:
        server.inject("timeout", times=100, delay=30.0)
        child = subprocess.Popen(
            [sys.executable, "-c", BUILD_CHILD, "kb", "build", "--scheme", str(SCHEME), "--source", f"api:{server.url}",
             "--warehouse", str(wh), "--config", str(config), "-q"],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.05)
            assert server.requests, "the build never asked the server"
            time.sleep(0.3)
            child.send_signal(signum)
            _, stderr = child.communicate(timeout=30)
        finally:
            child.kill()
    assert child.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1
    assert stderr.startswith("error: kb build ") and signum.name in stderr or signum == signal.SIGINT
    con = duckdb.connect(str(wh), read_only=True)
    try:
        statuses = con.execute("SELECT status FROM kb_builds").fetchall()
    finally:
        con.close()
    assert statuses == [("failed",)]


def test_an_interrupt_during_the_commit_of_an_import_reports_the_committed_split(tmp_path: Path) -> None:
    src = tmp_path / "c.bio"
    src.write_text("EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\n")
    wh = tmp_path / "w.duckdb"
    done = subprocess.run([sys.executable, "-c", IMPORT_CHILD, "data", "import", str(src), "-c", "c", "-s", "train",
                           "--warehouse", str(wh)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "after the commit" in done.stderr and "c/train" in done.stderr and "imported in full" in done.stderr
    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert con.execute("SELECT sentences FROM splits WHERE corpus = 'c' AND split = 'train'").fetchall() == [(2,)]
    finally:
        con.close()


# The child runs the real `typeprior sql`; its connection writes a marker file as the user's query starts, so the
# test signals the process while DuckDB runs that query. DuckDB checks for signals at irregular points: where it
# sees one, it stops the query with RuntimeError('Query interrupted'); where it does not, Python's handler runs as
# the query ends (some seconds for this one). Either way the command must end as an interrupt.
SQL_CHILD = textwrap.dedent("""
    import importlib, pathlib, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job ignores SIGINT)
    sql = importlib.import_module("typeprior.warehouse.sql")
    marker = pathlib.Path(sys.argv[1])

    class Connection:
        def __init__(self, con):
            self._con = con
        def __getattr__(self, name):
            return getattr(self._con, name)
        def execute(self, query, *args):
            if "range(" in query:
                marker.write_text("started")
            return self._con.execute(query, *args)

    real = sql.connect
    sql.connect = lambda *a, **k: Connection(real(*a, **k))
    from typeprior.flows.cli import main
    sys.argv = ["typeprior", *sys.argv[2:]]
    main()
""")
LONG_QUERY = "SELECT count(*) FROM range(2000000000) t(i) WHERE i % 7 = 3"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_duckdb_query_ends_as_an_interrupt(tmp_path: Path, signum: signal.Signals) -> None:
    """DuckDB turns a signal that stops its query into RuntimeError('Query interrupted'): still exit 128+N, no bug."""
    wh, marker = tmp_path / "w.duckdb", tmp_path / "started"
    duckdb.connect(str(wh)).close()
    proc = subprocess.Popen([sys.executable, "-c", SQL_CHILD, str(marker), "sql", LONG_QUERY, "--timeout", "0",
                             "--warehouse", str(wh)], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.is_file():
            assert proc.poll() is None and time.monotonic() < deadline, "the query never started"
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signum)
    except BaseException:
        proc.kill()
        raise
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "internal error" not in err, err


def test_interrupt_of_tells_a_signal_stopped_query_from_a_timeout_and_from_bugs() -> None:
    from typeprior.warehouse import signals

    stopped = RuntimeError(signals.DUCKDB_INTERRUPTED)
    signals.received.append(signal.SIGTERM)
    try:
        interrupt = signals.interrupt_of(stopped)
        assert isinstance(interrupt, signals.Terminated) and interrupt.signum == signal.SIGTERM
    finally:
        signals.received.pop()
    if not signals.received:
        assert type(signals.interrupt_of(stopped)) is KeyboardInterrupt  # Ctrl-C: Python's default handler
    assert signals.interrupt_of(duckdb.InterruptException("INTERRUPT Error: Interrupted!")) is None  # a timeout
    assert signals.interrupt_of(RuntimeError("something else")) is None
    plain = KeyboardInterrupt()
    assert signals.interrupt_of(plain) is plain


def test_a_training_run_stopped_inside_a_query_ends_cancelled_and_resumable(tmp_path: Path) -> None:
    from typeprior.flows.training import fail_run
    from typeprior.warehouse import open_warehouse
    from typeprior.warehouse.runs import start_run
    from typeprior.warehouse.signals import DUCKDB_INTERRUPTED

    path = tmp_path / "w.duckdb"
    with open_warehouse(path) as wh:
        stopped, broken = start_run(wh, "train", {}), start_run(wh, "train", {})
    fail_run(path, stopped, RuntimeError(DUCKDB_INTERRUPTED))
    fail_run(path, broken, RuntimeError("a bug"))
    with open_warehouse(path, read_only=True) as wh:
        rows = {r["run_id"]: r for r in wh.query("SELECT run_id, status, message FROM runs")}
    assert rows[stopped]["status"] == "cancelled" and "resume" in rows[stopped]["message"]
    assert rows[broken]["status"] == "failed" and "a bug" in rows[broken]["message"]
