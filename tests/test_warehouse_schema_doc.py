"""Every example query in warehouse/SCHEMA.md runs and finds rows in a small, filled warehouse."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from typeprior.model.corpus import Corpus, Entity, Sentence
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import import_corpus
from typeprior.warehouse.runs import finish_run, record_epoch, record_metrics, record_predictions, start_run
from typeprior.warehouse.sql import run_readonly

SCHEMA_DOC = Path(__file__).resolve().parent.parent / "warehouse" / "SCHEMA.md"
QUERIES = re.findall(r"```sql\n(.*?)```", SCHEMA_DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("doc") / "doc.duckdb"
    dev = Corpus([
        Sentence(["muscle", "and", "joint", "pain"], [Entity((0, 3), "ADR"), Entity((2, 3), "ADR")]),
        Sentence(["took", "Lipitor", "daily"], [Entity((1,), "Drug")]),
    ])
    scores = {"p": 0.5, "r": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1,
              "per_type": {"ADR": {"p": 0.4, "r": 0.3, "f1": 0.34, "tp": 1, "fp": 1, "fn": 2}},
              "per_kind": {"discontinuous": {"p": 0.2, "r": 0.1, "f1": 0.13, "tp": 0, "fp": 1, "fn": 1}}}
    with open_warehouse(path) as wh:
        import_corpus(wh, dev, "cadec", "dev", format="w2ner")
        sweep = start_run(wh, "sweep", {})
        run = start_run(wh, "train", {"lr": 1e-5}, corpus="cadec", variant="full", w=0.5, parent_run_id=sweep)
        record_epoch(wh, run, 1, train_loss=1.0, relation_loss=0.2, dev_f1=0.5, seconds=1.0)
        record_metrics(wh, run, "dev", scores)
        record_predictions(wh, run, "dev", dev.sentences, [[Entity((3,), "ADR")], [Entity((1,), "Drug")]])
        finish_run(wh, run, "completed")
        finish_run(wh, sweep, "completed")
        for build in (1, 2):  # two finished builds of one scheme, each read by a run on the same dev data
            wh.execute("INSERT INTO kb_builds (build_id, scheme, sources, model_id, config_hash, config_json, "
                       "started_at, status, content_hash) VALUES (?, 'cadec', '[]', 'm', 'h', '{}', now(), 'done', ?)",
                       [build, f"hash{build}"])
            primed = start_run(wh, "train", {"data": {"dev": "dev.jsonl"}}, corpus="cadec", variant="full",
                               priors_build=build)
            record_epoch(wh, primed, 1, train_loss=1.0, relation_loss=0.2, dev_f1=0.6 - 0.1 * build, seconds=1.0)
            record_metrics(wh, primed, "dev", {**scores, "f1": 0.6 - 0.1 * build})
            finish_run(wh, primed, "completed")
    return path


def test_the_document_has_examples() -> None:
    assert len(QUERIES) >= 8


@pytest.mark.parametrize("query", QUERIES, ids=[q.split("\n")[0][:40] for q in QUERIES])
def test_example_query_runs(filled: Path, query: str) -> None:
    columns, rows = run_readonly(filled, query)
    assert columns and rows
