"""Runs, epochs, metrics and predictions written through warehouse.runs."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typeprior.model.corpus import Entity, Sentence
from typeprior.model.metrics import ERROR_CLASSES, error_breakdown
from typeprior.warehouse import RunNotFoundError, WarehouseError, open_warehouse
from typeprior.warehouse.outcomes import Status, classify
from typeprior.warehouse.runs import (
    finish_run,
    get_run,
    record_epoch,
    record_metrics,
    record_predictions,
    start_run,
)


def scores(p: float, per_type: dict | None = None) -> dict:
    return {"p": p, "r": p / 2, "f1": p / 3, "tp": 3, "fp": 1, "fn": 2, "per_type": per_type or {}, "per_kind": {}}


def test_run_life_cycle(warehouse_path: Path, tmp_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        sweep = start_run(wh, "sweep", {"grid": {"w": [0.1, 0.5]}})
        run = start_run(
            wh, "train", {"lr": 1e-5, "out": tmp_path}, corpus="cadec", variant="full", backbone="minilm",
            w=0.5, priors_build=1, parent_run_id=sweep,
        )
        assert run != sweep
        assert get_run(wh, run)["status"] == "running"
        record_epoch(wh, run, 1, train_loss=2.0, relation_loss=0.5, dev_p=0.1, dev_r=0.2, dev_f1=0.13, seconds=3.5)
        record_epoch(wh, run, 2, train_loss=1.0, dev_f1=0.4)
        record_epoch(wh, run, 2, train_loss=0.9, dev_f1=0.45)
        finish_run(wh, run, "completed", model_dir=str(tmp_path / "model"))
        got = get_run(wh, run)
        epochs = wh.query("SELECT epoch, train_loss, dev_f1 FROM epochs WHERE run_id = ? ORDER BY epoch", [run])
        children = wh.query("SELECT run_id FROM runs WHERE parent_run_id = ?", [sweep])
    assert got["config"] == {"lr": 1e-5, "out": str(tmp_path)}
    assert (got["kind"], got["corpus"], got["w"], got["status"]) == ("train", "cadec", 0.5, "completed")
    assert got["finished"] is not None and got["finished"] >= got["created"]
    assert got["model_dir"] == str(tmp_path / "model")
    assert epochs == [
        {"epoch": 1, "train_loss": 2.0, "dev_f1": 0.13},
        {"epoch": 2, "train_loss": 0.9, "dev_f1": 0.45},
    ]
    assert children == [{"run_id": run}]


def test_bad_kinds_statuses_and_unknown_runs_are_refused(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        with pytest.raises(WarehouseError, match="run kind"):
            start_run(wh, "fit", {})
        run = start_run(wh, "evaluate", {})
        with pytest.raises(WarehouseError, match="completed, failed or cancelled"):
            finish_run(wh, run, "running")
        with pytest.raises(RunNotFoundError, match="run_id 999"):
            finish_run(wh, 999, "failed")
        with pytest.raises(RunNotFoundError):
            record_epoch(wh, 999, 1)
        with pytest.raises(RunNotFoundError):
            start_run(wh, "train", {}, parent_run_id=999)
        finish_run(wh, run, "failed", message="CUDA out of memory")
        assert get_run(wh, run)["message"] == "CUDA out of memory"


def test_metrics_are_replaced_per_split(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        run = start_run(wh, "evaluate", {})
        first = scores(0.5, {"ADR": {"p": 0.5, "r": 0.4, "f1": 0.44, "tp": 2, "fp": 2, "fn": 3}, "Drug": scores(1.0)})
        assert record_metrics(wh, run, "dev", first) == 3
        record_metrics(wh, run, "test", scores(0.2))
        second = scores(0.6, {"ADR": scores(0.7)})
        second["per_kind"] = {"discontinuous": scores(0.1)}
        assert record_metrics(wh, run, "dev", second) == 3
        rows = wh.query("SELECT split, scope, key, p, tp FROM metrics WHERE run_id = ? ORDER BY split, scope, key", [run])
        with pytest.raises(WarehouseError, match=r"per_type\['X'\] lack f1"):
            record_metrics(wh, run, "dev", {"p": 1, "r": 1, "f1": 1, "per_type": {"X": {"p": 1, "r": 1}}})
        assert len(wh.query("SELECT * FROM metrics WHERE run_id = ?", [run])) == 4
    assert rows == [
        {"split": "dev", "scope": "kind", "key": "discontinuous", "p": 0.1, "tp": 3},
        {"split": "dev", "scope": "overall", "key": "", "p": 0.6, "tp": 3},
        {"split": "dev", "scope": "type", "key": "ADR", "p": 0.7, "tp": 3},
        {"split": "test", "scope": "overall", "key": "", "p": 0.2, "tp": 3},
    ]


GOLD = Sentence(
    ["pain", "in", "left", "knee", "and", "ankle", "after", "Lipitor"],
    [Entity((0, 1, 2, 3), "ADR"), Entity((0, 5), "ADR"), Entity((7,), "Drug"), Entity((2, 3), "Body")],
)


def test_outcomes_cover_every_error_class() -> None:
    predicted = [
        Entity((7,), "Drug"),        # correct
        Entity((2, 3), "ADR"),       # same span as Body, other type
        Entity((0, 1, 2), "ADR"),    # overlaps ADR (0..3), other boundary
        Entity((5,), "Drug"),        # overlaps only ADR (0, 5), other type and boundary
        Entity((6,), "ADR"),         # touches nothing
    ]
    got = {(o.entity.indices, o.entity.type): (o.status, o.gold and o.gold.indices, o.kind.value)
           for o in classify(GOLD, predicted)}
    assert got == {
        ((7,), "Drug"): (Status.CORRECT, (7,), "flat"),
        ((2, 3), "ADR"): (Status.TYPE, (2, 3), "nested"),
        ((0, 1, 2), "ADR"): (Status.BOUNDARY, (0, 1, 2, 3), "nested"),
        ((5,), "Drug"): (Status.BOTH, (0, 5), "discontinuous"),
        ((6,), "ADR"): (Status.SPURIOUS, None, "flat"),
    }


def test_untouched_gold_is_missed() -> None:
    outcomes = classify(GOLD, [Entity((7,), "Drug")])
    missed = sorted(o.entity.indices for o in outcomes if o.status is Status.MISSED)
    assert missed == [(0, 1, 2, 3), (0, 5), (2, 3)]


def test_predictions_outcomes_and_error_counts_are_stored(warehouse_path: Path) -> None:
    empty = Sentence(["nothing"], [])
    with open_warehouse(warehouse_path) as wh:
        run = start_run(wh, "evaluate", {})
        record_metrics(wh, run, "dev", scores(0.5))
        counts = record_predictions(
            wh, run, "dev", [GOLD, empty], [[Entity((7,), "Drug"), Entity((6,), "ADR")], [Entity((0,), "X")]]
        )
        assert counts == {"correct": 1, "type": 0, "boundary": 0, "both": 0, "spurious": 2, "missed": 3}
        record_predictions(wh, run, "dev", [GOLD, empty], [[Entity((7,), "Drug")], []])
        preds = wh.query("SELECT sentence, tokens, gold, pred FROM predictions WHERE run_id = ? ORDER BY sentence", [run])
        outcomes = wh.query(
            "SELECT sentence, status, count(*) AS n FROM outcomes WHERE run_id = ? GROUP BY ALL ORDER BY ALL", [run]
        )
        errors = {r["key"]: r["value"] for r in wh.query(
            "SELECT key, value FROM metrics WHERE run_id = ? AND scope = 'error'", [run])}
        overall = wh.query("SELECT p FROM metrics WHERE run_id = ? AND scope = 'overall'", [run])
        with pytest.raises(WarehouseError, match="2 gold sentences but 1 prediction lists"):
            record_predictions(wh, run, "dev", [GOLD, empty], [[]])
    assert preds[0]["tokens"] == GOLD.tokens
    assert preds[0]["gold"] == [{"indices": list(e.indices), "type": e.type} for e in GOLD.entities]
    assert preds[0]["pred"] == [{"indices": [7], "type": "Drug"}]
    assert preds[1] == {"sentence": 1, "tokens": ["nothing"], "gold": [], "pred": []}
    assert outcomes == [{"sentence": 0, "status": "correct", "n": 1}, {"sentence": 0, "status": "missed", "n": 3}]
    assert errors["correct"] == 1 and errors["missed"] == 3 and errors["spurious"] == 0
    assert overall == [{"p": 0.5}]


@st.composite
def gold_and_predicted(draw: st.DrawFn) -> tuple[Sentence, list[Entity]]:
    n = draw(st.integers(1, 6))
    entity = st.builds(Entity.of, st.sets(st.integers(0, n - 1), min_size=1, max_size=n), st.sampled_from(["A", "B"]))
    gold = Sentence([f"w{i}" for i in range(n)], draw(st.lists(entity, max_size=4)))
    return gold, draw(st.lists(st.sampled_from(gold.entities) | entity, max_size=4) if gold.entities else st.lists(entity, max_size=4))


@settings(max_examples=200, deadline=None)
@given(st.lists(gold_and_predicted(), min_size=1, max_size=3))
def test_outcome_counts_equal_the_scorers_error_breakdown(pairs: list[tuple[Sentence, list[Entity]]]) -> None:
    golds = [g for g, _ in pairs]
    preds = [p for _, p in pairs]
    counts = Counter(o.status.value for g, p in pairs for o in classify(g, p))
    expected = error_breakdown(golds, preds)
    assert {k: counts.get(k, 0) for k in expected} == expected
    assert set(counts) <= set(ERROR_CLASSES)
