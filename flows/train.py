"""Prefect flow `train`: corpus (files or imported splits) + variant + backbone + priors build → a model folder
and a run row with the configuration, the priors build, per-epoch losses and dev scores."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from typeprior.kb.priors import TypePriorSet

from . import artifacts
from .inputs import CorpusInput, resolve_corpus, resolve_priors
from .report import priors_line
from .settings import RunSettings
from .training import TrainSpec, make_spec, train_run
from .warehouse_path import warehouse_path


@task(name="load-corpus", cache_policy=NO_CACHE)
def load_corpus_task(warehouse: str, corpus: str, train_file: str | None, dev_file: str | None,
                     test_file: str | None, format: str | None, import_files: bool) -> CorpusInput:
    return resolve_corpus(warehouse, corpus, train_file, dev_file, test_file, format, import_files)


@task(name="resolve-priors", cache_policy=NO_CACHE)
def resolve_priors_task(warehouse: str, variant: str, corpus: str, types: list[str], build: str | int,
                        scheme: str | None) -> TypePriorSet | None:
    return resolve_priors(warehouse, variant, corpus, types, build, scheme)


@task(name="fit", cache_policy=NO_CACHE)
def fit_task(warehouse: str, spec: TrainSpec, data: CorpusInput, priors: TypePriorSet | None,
             progress: bool) -> dict[str, Any]:
    return asdict(train_run(warehouse, spec, data, priors, progress))


@flow(name="train")
def train_flow(
    corpus: str = "demo",
    train_file: str | None = None,
    dev_file: str | None = None,
    test_file: str | None = None,
    format: str | None = None,
    variant: str | None = None,
    settings: RunSettings | None = None,
    out: str | None = None,
    resume: bool = False,
    warehouse: str | None = None,
    models_dir: str | None = None,
    import_files: bool = False,
    parent_run_id: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one variant on a corpus; returns the run id, the model folder, the best epoch and its dev F1.

    `settings` (flows/settings.py) holds backbone, priors, w, scheme, seed, epochs, batch_size, device, training
    and model; what it leaves unset comes from flows/defaults.yaml and the backbone's recipe."""
    settings = settings or RunSettings()
    wh = warehouse_path(warehouse)
    spec = make_spec(wh, corpus, settings, variant=variant, out=out, resume=resume, models_dir=models_dir,
                     parent_run_id=parent_run_id)
    data = load_corpus_task(wh, corpus, train_file, dev_file, test_file, format, import_files)
    chosen = resolve_priors_task(wh, spec.variant, corpus, data.entity_types(), settings.priors_choice(),
                                 settings.scheme)
    result = fit_task(wh, spec, data, chosen, progress)
    if result["learning_curve"]:
        artifacts.image(f"learning-curve-run-{result['run_id']}", result["learning_curve"],
                        f"Training loss and dev F1 per epoch of run {result['run_id']} ({corpus}, {spec.variant})")
    if result["priors_build"] is not None:
        line = priors_line(result["priors_comparison"], result["priors_build"])
        artifacts.markdown(f"priors-run-{result['run_id']}", f"Type priors of run {result['run_id']}: {line}.",
                           f"Dev F1 of run {result['run_id']} against the earlier priors build's model")
        change = (result["priors_comparison"] or {}).get("f1_change")
        log = get_run_logger()
        (log.warning if change is not None and change < 0 else log.info)("type priors: %s", line)
    return result
