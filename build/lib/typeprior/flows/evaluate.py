"""Prefect flow `evaluate`: a model on a split → overall, per-type and per-kind scores and every prediction in the
warehouse, an error breakdown (boundary / type / both / spurious / missed) and a Markdown report."""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Sequence

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from typeprior.model.corpus import Sentence
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import list_splits, load_corpus
from typeprior.warehouse.runs import get_run

from . import artifacts
from .config import FlowConfigError, defaults, output_dir, project_path
from .evaluation import evaluate_run
from .report import error_rows, pct
from .warehouse_path import warehouse_path


def resolve_model(warehouse: str, model: str) -> tuple[str, int | None]:
    """A model folder, or `run:ID` for the folder of a finished training run (which becomes the parent run)."""
    if not model.startswith("run:"):
        return model, None
    try:
        run_id = int(model[4:])
    except ValueError:
        raise FlowConfigError(f"model {model!r}: write run:ID with a numeric run id") from None
    with open_warehouse(warehouse) as wh:
        run = get_run(wh, run_id)
    if run["kind"] != "train" or not run["model_dir"]:
        raise FlowConfigError(f"run {run_id} is a {run['kind']} run without a model folder, not a training run")
    return run["model_dir"], run_id


def pick_split(warehouse: str, corpus: str, split: str | None) -> str:
    """The split asked for, else the default (test), else dev when the corpus has no test split."""
    if split is not None:
        return split
    wanted = defaults()["evaluate"]["split"]
    with open_warehouse(warehouse) as wh:
        have = {r["split"] for r in list_splits(wh) if r["corpus"] == corpus}
    return wanted if wanted in have or "dev" not in have else "dev"


@task(name="load-split", cache_policy=NO_CACHE)
def load_split_task(warehouse: str, corpus: str, split: str, data_file: str | None,
                    format: str | None) -> tuple[list[Sentence], str]:
    if data_file is not None:
        from typeprior.model.corpus import read_corpus

        path = project_path(data_file)
        return read_corpus(path, format).sentences, str(path)
    with open_warehouse(warehouse) as wh:
        return load_corpus(wh, corpus, split).sentences, f"warehouse:{corpus}/{split}"


@task(name="predict-and-score", cache_policy=NO_CACHE)
def evaluate_task(warehouse: str, model_dir: str, corpus: str, split: str, sentences: Sequence[Sentence],
                  source: str, report_path: str, batch_size: int, beams: int | None, parent_run_id: int | None,
                  progress: bool) -> dict[str, Any]:
    return asdict(evaluate_run(warehouse, model_dir, corpus, split, sentences, report_path, source=source,
                               batch_size=batch_size, num_beams=beams, parent_run_id=parent_run_id,
                               progress=progress))


def publish(result: dict[str, Any], corpus: str) -> None:
    """The report as Markdown, the per-type scores and the error breakdown as tables, on this flow run."""
    run_id, split = result["run_id"], result["split"]
    artifacts.markdown(f"evaluation-report-run-{run_id}", result["report"],
                       f"Evaluation of run {run_id} on {corpus}/{split}")
    scores = result["scores"]
    rows = [{"scope": "overall", "key": "", "p": pct(scores["p"]), "r": pct(scores["r"]), "f1": pct(scores["f1"])}]
    for scope, field in (("type", "per_type"), ("kind", "per_kind")):
        rows += [{"scope": scope, "key": k, "p": pct(s["p"]), "r": pct(s["r"]), "f1": pct(s["f1"])}
                 for k, s in scores[field].items() if s.get("gold") or s.get("pred")]
    artifacts.table(f"evaluation-scores-run-{run_id}", rows, f"Scores of run {run_id} on {corpus}/{split} (%)")
    artifacts.table(f"evaluation-errors-run-{run_id}",
                    [dict(zip(("error", "count", "share", "meaning", "targeted_by"), r))
                     for r in error_rows(result["errors"])],
                    f"Error breakdown of run {run_id} on {corpus}/{split}")


@flow(name="evaluate")
def evaluate_flow(
    model: str,
    corpus: str = "demo",
    split: str | None = None,
    data_file: str | None = None,
    format: str | None = None,
    warehouse: str | None = None,
    reports_dir: str | None = None,
    batch_size: int | None = None,
    beams: int | None = None,
    parent_run_id: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a model folder (or run:ID) on a corpus split (imported, or `data_file`)."""
    wh = warehouse_path(warehouse)
    model_dir, train_run = resolve_model(wh, model)
    split = split or ("test" if data_file is not None else pick_split(wh, corpus, None))
    sentences, source = load_split_task(wh, corpus, split, data_file, format)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = output_dir("reports", reports_dir) / f"evaluation-{corpus}-{split}-{stamp}-{time.time_ns() % 10**6:06d}.md"
    result = evaluate_task(wh, model_dir, corpus, split, sentences, source, str(report),
                           batch_size or int(defaults()["evaluate"]["batch_size"]), beams,
                           parent_run_id if parent_run_id is not None else train_run, progress)
    publish(result, corpus)
    return result

