"""Prefect flow `train`: corpus (files or imported splits) + variant + backbone + priors build → a model folder
and a run row with the configuration, the priors build, per-epoch losses and dev scores."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from typeprior.warehouse import open_warehouse

from . import artifacts
from .config import check_variant, defaults, output_dir
from .inputs import CorpusInput, PriorsChoice, resolve_corpus, resolve_priors
from .training import TrainSpec, train_run
from .warehouse_path import warehouse_path


@task(name="load-corpus", cache_policy=NO_CACHE)
def load_corpus_task(warehouse: str, corpus: str, train_file: str | None, dev_file: str | None,
                     test_file: str | None, format: str | None, import_files: bool) -> CorpusInput:
    return resolve_corpus(warehouse, corpus, train_file, dev_file, test_file, format, import_files)


@task(name="resolve-priors", cache_policy=NO_CACHE)
def resolve_priors_task(warehouse: str, variant: str, corpus: str, types: list[str], build: str | int,
                        scheme: str | None) -> PriorsChoice | None:
    return resolve_priors(warehouse, variant, corpus, types, build, scheme)


@task(name="fit", cache_policy=NO_CACHE)
def fit_task(warehouse: str, spec: TrainSpec, data: CorpusInput, priors: PriorsChoice | None,
             progress: bool) -> dict[str, Any]:
    return asdict(train_run(warehouse, spec, data, priors, progress))


def unfinished_out_dir(warehouse: str, corpus: str, variant: str) -> str | None:
    """The output folder of the latest unfinished training run of this corpus and variant (what --resume picks)."""
    with open_warehouse(warehouse) as wh:
        rows = wh.query("SELECT model_dir FROM runs WHERE kind = 'train' AND corpus = ? AND variant = ? "
                        "AND status <> 'completed' ORDER BY run_id DESC LIMIT 1", [corpus, variant])
    return rows[0]["model_dir"] if rows else None


def make_spec(warehouse: str, corpus: str, variant: str | None, backbone: str | None, w: float | None,
              seed: int | None, epochs: int | None, batch_size: int | None, device: str | None,
              training: dict[str, Any] | None, out: str | None, resume: bool, models_dir: str | None,
              parent_run_id: int | None) -> TrainSpec:
    """Flow parameters with the defaults of flows/defaults.yaml filled in, and the output folder chosen."""
    d = defaults()["train"]
    variant = check_variant(variant or d["variant"])
    if out is None and resume:
        out = unfinished_out_dir(warehouse, corpus, variant)
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        suffix = "" if w is None else f"-w{w:g}"
        out = str(output_dir("models", models_dir) / f"{corpus}-{variant}{suffix}-{stamp}-{time.time_ns() % 10**6:06d}")
    return TrainSpec(
        corpus=corpus, variant=variant, backbone=backbone or d["backbone"], out_dir=str(Path(out).resolve()),
        w=d["w"] if w is None else w, seed=d["seed"] if seed is None else seed, epochs=epochs,
        batch_size=batch_size, device=device, training=dict(training or {}), resume=resume,
        parent_run_id=parent_run_id,
    )


@flow(name="train")
def train_flow(
    corpus: str = "demo",
    train_file: str | None = None,
    dev_file: str | None = None,
    test_file: str | None = None,
    format: str | None = None,
    variant: str | None = None,
    backbone: str | None = None,
    priors: str = "latest",
    w: float | None = None,
    scheme: str | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    training: dict[str, Any] | None = None,
    out: str | None = None,
    resume: bool = False,
    warehouse: str | None = None,
    models_dir: str | None = None,
    import_files: bool = False,
    parent_run_id: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one variant on a corpus; returns the run id, the model folder, the best epoch and its dev F1."""
    wh = warehouse_path(warehouse)
    spec = make_spec(wh, corpus, variant, backbone, w, seed, epochs, batch_size, device, training, out, resume,
                     models_dir, parent_run_id)
    data = load_corpus_task(wh, corpus, train_file, dev_file, test_file, format, import_files)
    chosen = resolve_priors_task(wh, spec.variant, corpus, data.entity_types(), priors, scheme)
    result = fit_task(wh, spec, data, chosen, progress)
    if result["learning_curve"]:
        artifacts.image(f"learning-curve-run-{result['run_id']}", result["learning_curve"],
                        f"Training loss and dev F1 per epoch of run {result['run_id']} ({corpus}, {spec.variant})")
    return result
