"""Prefect flow `build_type_priors`: harvest per type → parse and type → weigh → embed → aggregate.

The flow only orchestrates: each task calls a plain function of kb/ (kb.harvest, kb.entities, kb.build), opening the
warehouse by path. Harvest tasks run concurrently (one per entity type for the live API) and are retried; a retried
or re-run harvest resumes from what the warehouse already holds.
"""
from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from kb.build import BuildPlan, aggregate, embed, plan_build, start_build, weigh
from kb.embeddings import Encoder, encoder_id
from kb.entities import extract_entities
from kb.harvest import harvest
from kb.settings import load_settings
from kb.store import KBStore


def _plan(scheme: str, sources: list[str], model: str | None, schemes_dir: str | None,
          config: str | None) -> BuildPlan:
    return plan_build(scheme, sources, load_settings(config), model, schemes_dir)


@task(name="harvest", cache_policy=NO_CACHE)
def harvest_task(warehouse: str, scheme: str, source: str, partition: str | None, schemes_dir: str | None,
                 config: str | None, progress: bool) -> dict[str, Any]:
    plan = _plan(scheme, [source], None, schemes_dir, config)
    with KBStore.open(warehouse) as store:
        return vars(harvest(store, plan.sources[0], plan.scheme, partition, progress=progress))


@task(name="parse-and-type", cache_policy=NO_CACHE)
def parse_task(warehouse: str, scheme: str, source: str, schemes_dir: str | None, config: str | None) -> dict[str, Any]:
    plan = _plan(scheme, [source], None, schemes_dir, config)
    with KBStore.open(warehouse) as store:
        counts = extract_entities(store, plan.sources[0].key, plan.scheme, plan.settings)
    return {"pages": counts.pages, "typed": counts.typed, "untyped": counts.untyped}


@task(name="weigh", cache_policy=NO_CACHE)
def weigh_task(warehouse: str, build_id: int) -> int:
    with KBStore.open(warehouse) as store:
        return weigh(store, build_id)


@task(name="embed", cache_policy=NO_CACHE)
def embed_task(warehouse: str, build_id: int, model: str | None, config: str | None,
               progress: bool) -> tuple[int, str]:
    encoder = Encoder.from_settings(model, load_settings(config)["embedding"])
    with KBStore.open(warehouse) as store:
        return embed(store, build_id, encoder, progress), encoder.model_id


@task(name="aggregate", cache_policy=NO_CACHE)
def aggregate_task(warehouse: str, build_id: int, encoder_id: str) -> str:
    with KBStore.open(warehouse) as store:
        return aggregate(store, build_id, encoder_id)


@flow(name="build_type_priors")
def build_type_priors(warehouse: str, scheme: str, sources: list[str], model: str | None = None,
                      schemes_dir: str | None = None, config: str | None = None, progress: bool = True) -> int:
    """Build type priors for `scheme` from `sources` into the warehouse file; returns the build id."""
    plan = _plan(scheme, sources, model, schemes_dir, config)
    flow_settings = plan.settings["flow"]
    harvest_retrying = harvest_task.with_options(retries=int(flow_settings["harvest_retries"]),
                                                 retry_delay_seconds=float(flow_settings["harvest_retry_delay_s"]))
    with KBStore.open(warehouse) as store:
        build_id = start_build(store, plan, encoder_id(model, plan.settings["embedding"]["max_seq_length"]))
    try:
        parsed = []
        for spec, source in zip(sources, plan.sources):
            harvests = [harvest_retrying.submit(warehouse, scheme, spec, partition, schemes_dir, config, progress)
                        for partition in source.partitions(plan.scheme)]
            parsed.append(parse_task.submit(warehouse, scheme, spec, schemes_dir, config, wait_for=harvests))
        for future in parsed:
            future.result()
        weigh_task(warehouse, build_id)
        _, used_encoder = embed_task(warehouse, build_id, model, config, progress)
        aggregate_task(warehouse, build_id, used_encoder)
    except BaseException as err:
        with KBStore.open(warehouse) as store:
            store.fail_build(build_id, f"{type(err).__name__}: {err}")
        raise
    return build_id
