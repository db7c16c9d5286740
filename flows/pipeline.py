"""Prefect flow `pipeline`: import the corpus → build type priors → train → evaluate, as one orchestrated run.

With no parameters it runs the demo on embedded defaults (flows/defaults.yaml `pipeline`): the corpus in
flows/demo, the offline Wikipedia snapshot as knowledge-base source, the offline MiniLM-based backbone, the DuckDB
file warehouse and Prefect's ephemeral local server.
"""
from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from .config import check_variant, defaults, scheme_for, uses_priors
from .evaluate import evaluate_flow
from .inputs import resolve_corpus
from .rebuild_priors import rebuild_priors_flow
from .settings import RunSettings
from .train import train_flow
from .warehouse_path import warehouse_path


@task(name="import-corpus", cache_policy=NO_CACHE)
def import_task(warehouse: str, corpus: str, train_file: str | None, dev_file: str | None, test_file: str | None,
                format: str | None) -> dict[str, str]:
    """Store the corpus files as splits of the warehouse (so they can be queried), or use the imported ones."""
    return resolve_corpus(warehouse, corpus, train_file, dev_file, test_file, format, import_files=True).sources


@flow(name="pipeline")
def pipeline_flow(
    corpus: str | None = None,
    train_file: str | None = None,
    dev_file: str | None = None,
    test_file: str | None = None,
    format: str | None = None,
    kb_sources: list[str] | None = None,
    kb_model: str | None = None,
    variant: str | None = None,
    settings: RunSettings | None = None,
    warehouse: str | None = None,
    models_dir: str | None = None,
    reports_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The whole path; returns where the model, report, plots and warehouse are, with the run ids.

    `settings` (flows/settings.py) is how the model trains; the priors are the build this pipeline makes of
    `settings.scheme` (default: the corpus's scheme), and the demo trains flows/defaults.yaml's pipeline epochs."""
    settings = settings or RunSettings()
    p = defaults()["pipeline"]
    wh = warehouse_path(warehouse)
    demo = corpus is None and train_file is None
    corpus = corpus or p["corpus"]
    if demo:
        train_file, dev_file, test_file = p["train_file"], p["dev_file"], p["test_file"]
    variant = check_variant(variant or defaults()["train"]["variant"])
    sources = import_task(wh, corpus, train_file, dev_file, test_file, format)
    build_id = None
    if uses_priors(variant):
        decisions = rebuild_priors_flow(schemes=[scheme_for(corpus, settings.scheme)],
                                        sources=kb_sources or p["kb_sources"],
                                        warehouse=wh, model=kb_model, trigger=False, progress=progress)
        build_id = decisions[0]["build_id"]
    chosen = settings.but(priors=str(build_id) if build_id else "none",
                          epochs=settings.epochs if settings.epochs is not None else (p["epochs"] if demo else None))
    trained = train_flow(corpus=corpus, variant=variant, settings=chosen, warehouse=wh, models_dir=models_dir,
                         progress=progress)
    split = "test" if "test" in sources else "dev"
    evaluated = evaluate_flow(model=trained["model_dir"], corpus=corpus, split=split, warehouse=wh,
                              reports_dir=reports_dir, parent_run_id=trained["run_id"], progress=progress)
    return {
        "warehouse": wh,
        "corpus": corpus,
        "priors_build": build_id,
        "train_run_id": trained["run_id"],
        "evaluate_run_id": evaluated["run_id"],
        "model_dir": trained["model_dir"],
        "learning_curve": trained["learning_curve"],
        "report": evaluated["report_path"],
        "split": split,
        "f1": evaluated["scores"]["f1"],
        "errors": evaluated["errors"],
    }
