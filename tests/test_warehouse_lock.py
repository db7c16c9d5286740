"""Another process holding the warehouse: we wait a bounded time, then name the holder; nothing is corrupted."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from typeprior.model.corpus import Corpus, Entity, Sentence
from typeprior.warehouse import WarehouseLockedError, open_warehouse
from typeprior.warehouse.corpora import import_corpus, load_corpus

HOLDER = (
    "import sys, time, duckdb\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('holding', flush=True)\n"
    "time.sleep(float(sys.argv[2])) if sys.argv[2] != '-' else sys.stdin.readline()\n"
    "con.close()\n"
)


def start_holder(path: Path, hold_s: float | None = None) -> subprocess.Popen:
    """A real second process that opens the warehouse read-write and keeps it for hold_s seconds,
    or until told to stop."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), "-" if hold_s is None else str(hold_s), "typeprior-lock-holder"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def stop_holder(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=20)


@pytest.fixture
def stored(warehouse_path: Path) -> Corpus:
    corpus = Corpus([Sentence(["a", "b"], [Entity.span(0, 2, "X")], id="s0")])
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, corpus, "c", "train")
    return corpus


@pytest.fixture
def holder(warehouse_path: Path, stored: Corpus) -> Iterator[subprocess.Popen]:
    proc = start_holder(warehouse_path)
    try:
        yield proc
    finally:
        stop_holder(proc)


@pytest.mark.parametrize("read_only", [False, True])
def test_gives_up_after_the_timeout_naming_the_holder(
    warehouse_path: Path, holder: subprocess.Popen, read_only: bool
) -> None:
    started = time.monotonic()
    with pytest.raises(WarehouseLockedError) as info:
        open_warehouse(warehouse_path, read_only=read_only, lock_timeout_s=0.6)
    waited = time.monotonic() - started
    err = info.value
    assert err.pid == holder.pid
    assert err.command is not None and "typeprior-lock-holder" in err.command
    assert f"process {holder.pid}" in str(err) and str(warehouse_path) in str(err)
    assert 0.6 <= waited < 10


def test_timeout_comes_from_the_environment(
    warehouse_path: Path, holder: subprocess.Popen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TYPEPRIOR_LOCK_TIMEOUT_S", "0.3")
    with pytest.raises(WarehouseLockedError) as info:
        open_warehouse(warehouse_path)
    assert 0.3 <= info.value.waited_s < 10


def test_waits_for_the_holder_and_then_proceeds(warehouse_path: Path, stored: Corpus) -> None:
    proc = start_holder(warehouse_path, hold_s=1.0)
    started = time.monotonic()
    try:
        with open_warehouse(warehouse_path, lock_timeout_s=20) as wh:
            assert time.monotonic() - started >= 0.5
            assert load_corpus(wh, "c", "train").sentences == stored.sentences
    finally:
        proc.wait(timeout=20)


def test_the_file_survives_a_lock_conflict_intact(warehouse_path: Path, stored: Corpus) -> None:
    proc = start_holder(warehouse_path)
    try:
        with pytest.raises(WarehouseLockedError):
            open_warehouse(warehouse_path, lock_timeout_s=0)
    finally:
        stop_holder(proc)
    with open_warehouse(warehouse_path) as wh:
        assert load_corpus(wh, "c", "train").sentences == stored.sentences
        import_corpus(wh, stored, "c", "dev")
