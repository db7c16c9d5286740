"""Shared by `ablation` and `weight_sweep`: a parent run whose children are train → evaluate pairs on one corpus."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typeprior.warehouse import open_warehouse
from typeprior.warehouse.runs import finish_run, start_run

from .config import defaults, output_dir
from .evaluate import evaluate_task
from .inputs import CorpusInput
from .settings import RunSettings
from .train import fit_task, resolve_priors_task
from .training import make_spec


@dataclass(frozen=True)
class Cell:
    """One child of the grid: a variant, a seed and (for the sweep) a weight."""

    variant: str
    seed: int
    w: float | None = None


def eval_split(data: CorpusInput, split: str | None) -> str:
    """The split asked for, else test, else dev."""
    if split is not None:
        data.split(split)
        return split
    return "test" if "test" in data.splits else "dev"


def start_parent(warehouse: str, kind: str, corpus: str, config: dict[str, Any]) -> int:
    with open_warehouse(warehouse) as wh:
        return start_run(wh, kind, config, corpus=corpus)


def finish_parent(warehouse: str, run_id: int, error: BaseException | None = None, message: str | None = None) -> None:
    with open_warehouse(warehouse) as wh:
        if error is None:
            finish_run(wh, run_id, "completed", message=message)
        else:
            finish_run(wh, run_id, "failed", message=f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class Places:
    """Where a grid's files go (flows/defaults.yaml's folders when None) and whether it shows progress."""

    models_dir: str | None = None
    reports_dir: str | None = None
    progress: bool = True


def run_cell(warehouse: str, parent_run_id: int, data: CorpusInput, cell: Cell, split: str, settings: RunSettings,
             places: Places) -> dict[str, Any]:
    """Train one cell and evaluate it on `split`; returns the evaluation result with the cell's training run."""
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
    name = f"{data.name}-{cell.variant}-seed{cell.seed}" + ("" if cell.w is None else f"-w{cell.w:g}")
    out = output_dir("models", places.models_dir) / f"run{parent_run_id}" / name
    spec = make_spec(warehouse, data.name, settings.but(seed=cell.seed, w=cell.w), variant=cell.variant, out=out,
                     parent_run_id=parent_run_id)
    priors = resolve_priors_task(warehouse, cell.variant, data.name, data.entity_types(), settings.priors_choice(),
                                 settings.scheme)
    trained = fit_task(warehouse, spec, data, priors, places.progress)
    report = output_dir("reports", places.reports_dir) / f"evaluation-{name}-{stamp}.md"
    evaluated = evaluate_task(warehouse, trained["model_dir"], data.name, split, data.split(split),
                              data.sources.get(split, ""), str(report), int(defaults()["evaluate"]["batch_size"]),
                              None, trained["run_id"], places.progress)
    return {**evaluated, "cell": cell, "train": trained}


def summarise(results: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Mean P/R/F1 over seeds and summed error counts, per value of `key` (variant or w), in first-seen order."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(getattr(r["cell"], key), []).append(r)
    rows = []
    for value, members in groups.items():
        n = len(members)
        errors: dict[str, int] = {}
        for m in members:
            for k, v in m["errors"].items():
                errors[k] = errors.get(k, 0) + v
        rows.append({key: value, "seeds": n,
                     **{f: sum(m["scores"][f] for m in members) / n for f in ("p", "r", "f1")},
                     "errors": errors, "run_ids": [m["train"]["run_id"] for m in members]})
    return rows


def report_file(places: Places, name: str) -> Path:
    return output_dir("reports", places.reports_dir) / name
