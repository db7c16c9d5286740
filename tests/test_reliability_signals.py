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
