"""Runs in the warehouse: start and finish a run, and record its epochs, scores and predictions."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Mapping, Sequence

from typeprior.model.corpus import Entity, Sentence

from .connection import Warehouse
from .errors import RunNotFoundError, WarehouseError
from .outcomes import Status, classify

RUN_KINDS = ("train", "evaluate", "ablation", "sweep")
RUN_STATUSES = ("running", "completed", "failed", "cancelled")
SCORE_FIELDS = ("p", "r", "f1", "tp", "fp", "fn")
_ENTITY_LIST = "STRUCT(indices INTEGER[], type VARCHAR)[]"


def _require_run(wh: Warehouse, run_id: int) -> None:
    if not wh.query("SELECT 1 FROM runs WHERE run_id = ?", [run_id]):
        raise RunNotFoundError(run_id)


def start_run(
    wh: Warehouse,
    kind: str,
    config: Mapping[str, Any],
    *,
    corpus: str | None = None,
    variant: str | None = None,
    backbone: str | None = None,
    w: float | None = None,
    priors_build: int | None = None,
    model_dir: str | None = None,
    parent_run_id: int | None = None,
) -> int:
    """Record a new run with status 'running' and return its run_id. `config` is stored as JSON."""
    if kind not in RUN_KINDS:
        raise WarehouseError(f"run kind must be one of {', '.join(RUN_KINDS)}, got {kind!r}")
    if parent_run_id is not None:
        _require_run(wh, parent_run_id)
    config_json = json.dumps(dict(config), sort_keys=True, default=str)
    with wh.transaction():
        row = wh.execute(
            "INSERT INTO runs (kind, parent_run_id, corpus, variant, backbone, w, priors_build, config, model_dir) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_id",
            [kind, parent_run_id, corpus, variant, backbone, w, priors_build, config_json,
             None if model_dir is None else str(model_dir)],
        ).fetchone()
    return int(row[0])


def finish_run(
    wh: Warehouse, run_id: int, status: str = "completed", *, message: str | None = None, model_dir: str | None = None
) -> None:
    """Close a run: set its status, finish time, an optional message (the error of a failed run) and model_dir."""
    if status not in RUN_STATUSES or status == "running":
        raise WarehouseError(f"a run finishes as completed, failed or cancelled, got {status!r}")
    with wh.transaction():
        _require_run(wh, run_id)
        wh.execute(
            "UPDATE runs SET status = ?, finished = now(), message = ?, model_dir = coalesce(?, model_dir) "
            "WHERE run_id = ?",
            [status, message, None if model_dir is None else str(model_dir), run_id],
        )


def get_run(wh: Warehouse, run_id: int) -> dict[str, Any]:
    """A run's row, with config parsed back into a dict."""
    rows = wh.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        raise RunNotFoundError(run_id)
    run = rows[0]
    run["config"] = json.loads(run["config"])
    return run


def record_epoch(
    wh: Warehouse,
    run_id: int,
    epoch: int,
    *,
    train_loss: float | None = None,
    relation_loss: float | None = None,
    dev_p: float | None = None,
    dev_r: float | None = None,
    dev_f1: float | None = None,
    seconds: float | None = None,
) -> None:
    """Record (or re-record) one epoch of a training run."""
    with wh.transaction():
        _require_run(wh, run_id)
        wh.execute(
            "INSERT OR REPLACE INTO epochs (run_id, epoch, train_loss, relation_loss, dev_p, dev_r, dev_f1, seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, epoch, train_loss, relation_loss, dev_p, dev_r, dev_f1, seconds],
        )


def _score_row(run_id: int, split: str, scope: str, key: str, scores: Mapping[str, Any], where: str) -> list[Any]:
    missing = [f for f in ("p", "r", "f1") if f not in scores]
    if missing:
        raise WarehouseError(f"scores {where} lack {', '.join(missing)} (have {', '.join(sorted(scores))})")
    return [run_id, split, scope, key, *(scores.get(f) for f in SCORE_FIELDS)]


def record_metrics(wh: Warehouse, run_id: int, split: str, scores: Mapping[str, Any]) -> int:
    """Store a scores dict {p, r, f1, tp, fp, fn, per_type: {T: {...}}, per_kind: {K: {...}}} for a split.

    Replaces the overall, per-type and per-kind scores recorded earlier for this run and split (the error
    counts written by record_predictions stay). Returns the number of rows written.
    """
    rows = [_score_row(run_id, split, "overall", "", scores, "overall")]
    for scope, field in (("type", "per_type"), ("kind", "per_kind")):
        for key, sub in (scores.get(field) or {}).items():
            rows.append(_score_row(run_id, split, scope, str(key), sub, f"{field}[{key!r}]"))
    with wh.transaction():
        _require_run(wh, run_id)
        wh.execute(
            "DELETE FROM metrics WHERE run_id = ? AND split = ? AND scope IN ('overall', 'type', 'kind')",
            [run_id, split],
        )
        wh.con.executemany(
            "INSERT INTO metrics (run_id, split, scope, key, p, r, f1, tp, fp, fn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def _entity_dicts(entities: Sequence[Entity]) -> list[dict[str, Any]]:
    return [{"indices": list(e.indices), "type": e.type} for e in entities]


def record_predictions(
    wh: Warehouse,
    run_id: int,
    split: str,
    gold_sentences: Sequence[Sentence],
    predicted_entity_lists: Sequence[Sequence[Entity]],
) -> dict[str, int]:
    """Store gold and predicted entities per sentence, each entity's outcome, and the outcome counts
    (metrics scope 'error'), replacing what this run recorded for this split before.

    Sentence i of `gold_sentences` is stored as sentence i. Returns the count of each outcome status.
    """
    if len(gold_sentences) != len(predicted_entity_lists):
        raise WarehouseError(
            f"{len(gold_sentences)} gold sentences but {len(predicted_entity_lists)} prediction lists for run {run_id}/{split}"
        )
    sent_idx, tokens, golds, preds = [], [], [], []
    o_sent, o_indices, o_type, o_status, o_gidx, o_gtype, o_kind = [], [], [], [], [], [], []
    counts: Counter[str] = Counter({s.value: 0 for s in Status})
    for i, (gold, predicted) in enumerate(zip(gold_sentences, predicted_entity_lists)):
        outcomes = classify(gold, predicted)
        sent_idx.append(i)
        tokens.append(list(gold.tokens))
        golds.append(_entity_dicts(gold.entities))
        preds.append(_entity_dicts([o.entity for o in outcomes if o.status is not Status.MISSED]))
        for o in outcomes:
            o_sent.append(i)
            o_indices.append(list(o.entity.indices))
            o_type.append(o.entity.type)
            o_status.append(o.status.value)
            o_gidx.append(None if o.gold is None else list(o.gold.indices))
            o_gtype.append(None if o.gold is None else o.gold.type)
            o_kind.append(o.kind.value)
            counts[o.status.value] += 1
    with wh.transaction():
        _require_run(wh, run_id)
        for table in ("predictions", "outcomes"):
            wh.execute(f"DELETE FROM {table} WHERE run_id = ? AND split = ?", [run_id, split])
        wh.execute("DELETE FROM metrics WHERE run_id = ? AND split = ? AND scope = 'error'", [run_id, split])
        if sent_idx:
            wh.execute(
                "INSERT INTO predictions (run_id, split, sentence, tokens, gold, pred) "
                f"SELECT ?, ?, unnest(?::INTEGER[]), unnest(?::VARCHAR[][]), unnest(?::{_ENTITY_LIST}[]), "
                f"unnest(?::{_ENTITY_LIST}[])",
                [run_id, split, sent_idx, tokens, golds, preds],
            )
        if o_sent:
            wh.execute(
                "INSERT INTO outcomes (run_id, split, sentence, indices, type, status, gold_indices, gold_type, kind) "
                "SELECT ?, ?, unnest(?::INTEGER[]), unnest(?::INTEGER[][]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                "unnest(?::INTEGER[][]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                [run_id, split, o_sent, o_indices, o_type, o_status, o_gidx, o_gtype, o_kind],
            )
        wh.con.executemany(
            "INSERT INTO metrics (run_id, split, scope, key, value) VALUES (?, ?, 'error', ?, ?)",
            [[run_id, split, status, float(n)] for status, n in counts.items()],
        )
    return dict(counts)


def latest_train_run(wh: Warehouse, model_dir: str) -> dict[str, Any] | None:
    """The newest training run writing `model_dir` (run_id, status), or None: what a resumed run continues."""
    rows = wh.query("SELECT run_id, status FROM runs WHERE kind = 'train' AND model_dir = ? ORDER BY run_id DESC "
                    "LIMIT 1", [str(model_dir)])
    return rows[0] if rows else None


def reopen_run(wh: Warehouse, run_id: int) -> None:
    """Mark an unfinished run running again (it is being resumed)."""
    with wh.transaction():
        _require_run(wh, run_id)
        wh.execute("UPDATE runs SET status = 'running', finished = NULL, message = NULL WHERE run_id = ?", [run_id])


def run_status(wh: Warehouse, run_id: int) -> str:
    _require_run(wh, run_id)
    return str(wh.query("SELECT status FROM runs WHERE run_id = ?", [run_id])[0]["status"])


def unfinished_train_dir(wh: Warehouse, corpus: str, variant: str) -> str | None:
    """The output folder of the newest unfinished training run of a corpus and variant (what --resume picks)."""
    rows = wh.query("SELECT model_dir FROM runs WHERE kind = 'train' AND corpus = ? AND variant = ? "
                    "AND status <> 'completed' ORDER BY run_id DESC LIMIT 1", [corpus, variant])
    return rows[0]["model_dir"] if rows else None


def priors_comparison(wh: Warehouse, run_id: int, split: str) -> dict[str, Any] | None:
    """A run's F1 on `split` next to the latest comparable run of an earlier priors build of the same scheme
    (view `priors_comparison`); None when the run read no priors or has no score on that split."""
    rows = wh.query("SELECT * FROM priors_comparison WHERE run_id = ? AND split = ?", [run_id, split])
    return rows[0] if rows else None
