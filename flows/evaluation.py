"""One evaluation run: predictions of a model on a split, scored and stored with every prediction.

Scores, per-entity outcomes and the run's end are written in one transaction, so a failure leaves the
warehouse without half an evaluation (the run row is then marked failed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from typeprior.model import safe_write
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.metrics import error_breakdown, score
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.runs import finish_run, priors_comparison, record_metrics, record_predictions, start_run

from .report import evaluation_report

EXAMPLES_PER_CLASS = 3


@dataclass
class EvalOutcome:
    run_id: int
    split: str
    scores: dict[str, Any]
    errors: dict[str, int]
    report: str
    report_path: str
    priors_comparison: dict[str, Any] | None = None  # F1 next to an earlier priors build's model (view)


def predict_with_progress(tagger: Any, sentences: Sequence[Sentence], batch_size: int, num_beams: int | None,
                          progress: bool) -> list[list[Entity]]:
    """The tagger's predictions in chunks, with a progress bar over sentences."""
    out: list[list[Entity]] = []
    chunk = max(batch_size * 4, 1)
    with tqdm(total=len(sentences), desc="predict", unit="sent", disable=not progress) as bar:
        for k in range(0, len(sentences), chunk):
            part = sentences[k : k + chunk]
            out += tagger.predict_tokens([s.tokens for s in part], batch_size, num_beams).entities
            bar.update(len(part))
    return out


def _with_tp(scores: dict[str, Any]) -> dict[str, Any]:
    """Per-type and per-kind counts name matches tp_pred; the warehouse's tp column is that count."""
    for field in ("per_type", "per_kind"):
        for sub in scores.get(field, {}).values():
            sub.setdefault("tp", sub.get("tp_pred"))
    return scores


def _entity_text(tokens: Sequence[str], e: Entity | None) -> str:
    return "∅" if e is None else f"[{e.text(tokens)}]{e.type}"


def error_examples(gold: Sequence[Sentence], predicted: Sequence[Sequence[Entity]], limit: int) -> dict[str, list[str]]:
    """A few wrong predictions per class, as "predicted ← gold in: sentence"."""
    from typeprior.warehouse.outcomes import Status, classify

    out: dict[str, list[str]] = {s.value: [] for s in Status if s is not Status.CORRECT}
    for g, p in zip(gold, predicted):
        for o in classify(g, p):
            bucket = out.get(o.status.value)
            if bucket is None or len(bucket) >= limit:
                continue
            sentence = " ".join(g.tokens)
            if o.status is Status.MISSED:
                bucket.append(f"missed {_entity_text(g.tokens, o.entity)} in: {sentence}")
            else:
                bucket.append(f"{_entity_text(g.tokens, o.entity)} ← gold {_entity_text(g.tokens, o.gold)} in: {sentence}")
    return out


def write_text(path: Path, text: str) -> Path:
    """Through the one safe-write helper: aside, renamed, umask mode, no FIFO or device replaced."""
    return safe_write.write_text(path, text)


def evaluate_run(
    warehouse: str | Path,
    model_dir: str | Path,
    corpus: str,
    split: str,
    sentences: Sequence[Sentence],
    report_path: str | Path,
    *,
    source: str | None = None,
    batch_size: int = 32,
    num_beams: int | None = None,
    parent_run_id: int | None = None,
    progress: bool = True,
    entity_structure: str | None = None,
) -> EvalOutcome:
    """Predict, score, store every prediction and outcome, and write the Markdown report.

    `entity_structure` overrides the one the model learned (`flat`, `nested`, `discontinuous`): a model saved
    before training recorded it decodes unconstrained otherwise. The one used is recorded with the run."""
    from typeprior.model.predict import Tagger

    tagger = Tagger.load(model_dir)
    cfg = tagger.model.config
    if entity_structure is not None:
        tagger.set_entity_structure(entity_structure)
    info = {
        "model_dir": str(model_dir), "corpus": corpus, "split": split, "source": source, "sentences": len(sentences),
        "variant": getattr(cfg, "variant", None), "backbone": getattr(cfg, "backbone", None),
        "w": getattr(cfg, "w", None), "priors_build": (getattr(cfg, "priors_build", None) or {}).get("build_id"),
        "batch_size": batch_size, "num_beams": num_beams, "entity_structure": cfg.entity_structure,
    }
    with open_warehouse(warehouse) as wh:
        run_id = start_run(wh, "evaluate", info, corpus=corpus, variant=info["variant"], backbone=info["backbone"],
                           w=info["w"], priors_build=info["priors_build"],
                           model_dir=str(model_dir), parent_run_id=parent_run_id)
    info["run_id"] = run_id
    try:
        predicted = predict_with_progress(tagger, sentences, batch_size, num_beams, progress)
        scores = _with_tp(score(sentences, predicted).to_dict())
        errors = error_breakdown(sentences, predicted)
        # one transaction: the report reads this run's scores back (priors_comparison), and a report that cannot
        # be written leaves no scores or predictions behind
        with open_warehouse(warehouse) as wh, wh.transaction():
            record_metrics(wh, run_id, split, scores)
            record_predictions(wh, run_id, split, sentences, predicted)
            finish_run(wh, run_id, "completed", message=f"report: {report_path}")
            compared = priors_comparison(wh, run_id, split)
            text = evaluation_report(info, scores, errors, error_examples(sentences, predicted, EXAMPLES_PER_CLASS),
                                     str(warehouse), compared)
            path = write_text(Path(report_path), text)
    except BaseException as err:
        with open_warehouse(warehouse) as wh:
            finish_run(wh, run_id, "failed", message=f"{type(err).__name__}: {err}")
        raise
    return EvalOutcome(run_id, split, scores, errors, text, str(path), compared)
