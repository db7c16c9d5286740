"""build_type_priors on a local Dask cluster of 2 worker processes gives the same build as the default thread runner.

The fake MediaWiki API is a real HTTP server on 127.0.0.1, so the Dask workers (other processes) fetch over HTTP;
the warehouse is written only by the flow's process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fake_mediawiki import FIXTURE_PAGES, FakeMediaWiki, FakeWiki
from typeprior.kb.store import KBStore

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"
CONFIG = "live:\n  min_interval_s: 0.0\n  retry_wait_s: 0.01\n  max_retries: 3\n  batch_size: 2\n" \
         "flow:\n  harvest_retry_delay_s: 0\n"
DASK = "  task_runner:\n    kind: dask\n    n_workers: 2\n    threads_per_worker: 1\n"
TABLES = {
    "pages": "SELECT title, content, description, pageviews, langlinks, page_length, harvested_for FROM kb_raw_pages "
             "ORDER BY title",
    "aliases": "SELECT title, alias FROM kb_aliases ORDER BY ALL",
    "skipped": "SELECT title, reason FROM kb_skipped_pages ORDER BY ALL",
    "candidates": "SELECT entity_type, title FROM kb_harvest_candidates ORDER BY ALL",
    "entities": "SELECT title, entity_type, name FROM kb_entities ORDER BY ALL",
    "weights": "SELECT entity_type, title, name, theta FROM kb_weights ORDER BY ALL",
    "embedded": "SELECT name FROM kb_embeddings ORDER BY ALL",
}


def build(tmp_path: Path, name: str, server: FakeMediaWiki, extra: str = "") -> dict[str, Any]:
    from typeprior.flows.build_type_priors import build_type_priors

    config = tmp_path / f"{name}.yaml"
    config.write_text(CONFIG + extra, encoding="utf-8")
    path = tmp_path / f"{name}.duckdb"
    build_id = build_type_priors(str(path), str(SCHEME), [f"api:{server.url}"], config=str(config), progress=False)
    with KBStore.open(path, read_only=True) as store:
        out: dict[str, Any] = {table: store.query(sql) for table, sql in TABLES.items()}
        out["build"] = store.build(build_id)
        out["vectors"] = {r["entity_type"]: np.asarray(r["vector"]) for r in store.type_vectors(build_id)}
    return out


def test_a_local_dask_cluster_of_two_workers_builds_the_same_priors(tmp_path: Path) -> None:
    pytest.importorskip("prefect_dask")
    from prefect.testing.utilities import prefect_test_harness

    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as server, prefect_test_harness():
        threads = build(tmp_path, "threads", server)
        asked_by_threads = len(server.requests)
        dask = build(tmp_path, "dask", server, DASK)
    assert len(server.requests) - asked_by_threads == asked_by_threads, "the two runs did not ask the same requests"
    assert threads["build"]["status"] == dask["build"]["status"] == "done"
    assert threads["pages"] and threads["entities"] and threads["weights"]
    for table in TABLES:
        assert dask[table] == threads[table], table
    assert sorted(dask["vectors"]) == sorted(threads["vectors"]) == ["LOC", "MISC", "ORG", "PER"]
    for entity_type, vector in threads["vectors"].items():
        np.testing.assert_allclose(dask["vectors"][entity_type], vector, atol=1e-6)
    assert dask["build"]["config_hash"] == threads["build"]["config_hash"]
    assert dask["build"]["content_hash"] == threads["build"]["content_hash"]

    # docs/SCALING.md: readers elsewhere query a Parquet export on shared storage, not the single-writer file.
    import duckdb

    with duckdb.connect(str(tmp_path / "threads.duckdb"), read_only=True) as con:
        con.execute(f"EXPORT DATABASE '{tmp_path / 'export'}' (FORMAT parquet)")
    with duckdb.connect() as con:
        rows = con.execute("SELECT entity_type, vector FROM read_parquet($p) ORDER BY entity_type",
                           {"p": str(tmp_path / "export" / "kb_type_vectors.parquet")}).fetchall()
    assert [t for t, _ in rows] == sorted(threads["vectors"])
    for entity_type, vector in rows:
        np.testing.assert_array_equal(np.asarray(vector, dtype=np.float32), threads["vectors"][entity_type])
