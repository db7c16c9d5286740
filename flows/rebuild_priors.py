"""Prefect flow `rebuild-priors`: rebuild each scheme's type priors, and start training where their content changed.

After each build the flow compares the build's content hash (over the entity weights and E_t) with the scheme's
previous finished build. Only a different hash (or a first build) starts the training jobs that
flows/deployments.yaml lists for the scheme; an unchanged rebuild starts nothing. Every decision is recorded in
the warehouse table `prior_rebuilds`.

The trigger is `run_deployment(..., timeout=0)` on the served `train` deployment, not a Prefect automation: the
decision needs the warehouse (the hashes), which only our code reads, so an automation would still need this flow to
emit a custom event; run_deployment starts the run directly, links it to this flow run as a subflow, works the same
on the ephemeral server, and returns at once, so the rebuild closes its warehouse writes before training opens its own.
"""
from __future__ import annotations

import json
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment

from typeprior.warehouse import open_warehouse

from .build_type_priors import build_type_priors
from .config import TrainingJob, load_deployments
from .warehouse_path import warehouse_path

TRAIN_FLOW = "train"


def compare_with_previous(warehouse: str, build_id: int) -> dict[str, Any]:
    """The build's scheme and content hash next to the previous finished build of the same scheme."""
    with open_warehouse(warehouse) as wh:
        rows = wh.query("SELECT build_id, scheme, content_hash, status FROM kb_builds WHERE build_id = ?", [build_id])
        if not rows or rows[0]["status"] != "done":
            raise LookupError(f"knowledge-base build {build_id} is not a finished build")
        build = rows[0]
        previous = wh.query(
            "SELECT build_id, content_hash FROM kb_builds WHERE scheme = ? AND status = 'done' AND build_id < ? "
            "ORDER BY build_id DESC LIMIT 1",
            [build["scheme"], build_id],
        )
    prev = previous[0] if previous else None
    return {
        "build_id": build_id,
        "scheme": build["scheme"],
        "content_hash": build["content_hash"],
        "previous_build_id": None if prev is None else prev["build_id"],
        "previous_hash": None if prev is None else prev["content_hash"],
        "changed": prev is None or prev["content_hash"] != build["content_hash"],
    }


def record_decision(warehouse: str, decision: dict[str, Any], triggered: list[dict[str, Any]]) -> None:
    with open_warehouse(warehouse) as wh, wh.transaction():
        wh.execute(
            "INSERT OR REPLACE INTO prior_rebuilds (build_id, scheme, content_hash, previous_build_id, previous_hash, "
            "changed, triggered) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [decision["build_id"], decision["scheme"], decision["content_hash"], decision["previous_build_id"],
             decision["previous_hash"], decision["changed"], json.dumps(triggered)],
        )


@task(name="compare-content-hash", cache_policy=NO_CACHE)
def compare_task(warehouse: str, build_id: int) -> dict[str, Any]:
    return compare_with_previous(warehouse, build_id)


@task(name="trigger-training", cache_policy=NO_CACHE)
def trigger_task(deployment: str, job: TrainingJob, scheme: str, build_id: int, warehouse: str,
                 models_dir: str | None) -> dict[str, Any]:
    """Start one training run on the served deployment with the new build; do not wait for it."""
    params = {**job.parameters(priors=str(build_id), scheme=scheme), "warehouse": warehouse}
    if models_dir:
        params["models_dir"] = models_dir
    run = run_deployment(deployment, parameters=params, timeout=0,
                         flow_run_name=f"train-{job.corpus}-{job.variant}-priors{build_id}")
    return {"corpus": job.corpus, "variant": job.variant, "flow_run_id": str(run.id)}


@flow(name="rebuild-priors")
def rebuild_priors_flow(
    schemes: list[str] | None = None,
    sources: list[str] | None = None,
    warehouse: str | None = None,
    deployments: str | None = None,
    model: str | None = None,
    schemes_dir: str | None = None,
    kb_config: str | None = None,
    trigger: bool = True,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Rebuild, compare hashes, trigger training for changed schemes; returns one decision per scheme."""
    needs_config = trigger or not schemes or not sources
    conf = load_deployments(deployments) if needs_config else None
    wh = warehouse_path(warehouse or (conf.warehouse if conf else None))
    logger = get_run_logger()
    decisions = []
    for scheme in schemes or conf.schemes:
        build_id = build_type_priors(wh, scheme, list(sources or conf.kb_sources), model, schemes_dir, kb_config,
                                     progress)
        decision = compare_task(wh, build_id)
        triggered: list[dict[str, Any]] = []
        if decision["changed"] and trigger:
            deployment = f"{TRAIN_FLOW}/{conf.train_name}"
            triggered = [trigger_task(deployment, job, scheme, build_id, wh, conf.models_dir)
                         for job in conf.jobs_for(scheme)]
        logger.info("scheme %s: build %s %s (hash %s, previous %s); started %d training run(s)", scheme, build_id,
                    "changed" if decision["changed"] else "is unchanged", decision["content_hash"][:12],
                    (decision["previous_hash"] or "none")[:12], len(triggered))
        record_decision(wh, decision, triggered)
        decisions.append({**decision, "triggered": triggered})
    return decisions
