"""Prefect flow `build_type_priors`: walk per type → fetch per batch → parse and type → weigh → embed per batch →
aggregate.

The network and model work (category walks, page batches, embedding batches) runs as worker tasks on a configurable
task runner (settings `flow.task_runner`: a thread pool here, or a Dask cluster through prefect-dask). Workers never
open the warehouse: they return records, and the flow's own process is the single writer that commits them to DuckDB,
batch by batch in submission order (DuckDB has one writer; a fixed order makes the build independent of the runner).
Writer tasks are called directly, so they run in the flow's process whatever the runner. A re-run resumes from what
the warehouse holds.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from tqdm.auto import tqdm
from typeprior.kb.build import BuildPlan, aggregate, plan_build, start_build, weigh
from typeprior.kb.embeddings import embedding_batches, encode_batch, encoder_id
from typeprior.kb.entities import extract_entities
from typeprior.kb.errors import KBError, SourceUnavailableError
from typeprior.kb.harvest import (
    fetch_batch,
    fetch_batches,
    harvest,
    save_walk,
    walk,
    walked_titles,
)
from typeprior.kb.schemes import Scheme
from typeprior.kb.settings import load_settings
from typeprior.kb.sources import LookupSource, SkippedPage, open_source
from typeprior.kb.sources.base import HarvestItem
from typeprior.kb.store import KBStore

Submit = Callable[[Task, dict[str, Any]], PrefectFuture]


def task_runner_from_settings(spec: dict[str, Any]) -> TaskRunner:
    """The worker tasks' runner from settings `flow.task_runner` (kind threads or dask)."""
    kind = spec.get("kind")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=spec.get("max_workers"))
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as err:
            raise KBError("flow.task_runner kind 'dask' needs prefect-dask: pip install 'typeprior[distributed]'") from err
        if spec.get("address"):
            return DaskTaskRunner(address=str(spec["address"]))
        return DaskTaskRunner(cluster_kwargs={"n_workers": int(spec["n_workers"]),
                                              "threads_per_worker": int(spec["threads_per_worker"])})
    raise KBError(f"settings flow.task_runner.kind must be 'threads' or 'dask', not {kind!r}")


@contextmanager
def worker_runner(spec: dict[str, Any]) -> Iterator[Submit]:
    """Open the configured runner for the flow's duration; yields submit(task, parameters) -> future."""
    with task_runner_from_settings(spec) as runner:
        yield lambda t, parameters: runner.submit(t, parameters)


# ---- worker tasks: network or model work, no warehouse ------------------------------------------------------------

@task(name="walk", cache_policy=NO_CACHE)
def walk_task(source: str, settings: dict[str, Any], scheme: Scheme, partition: str) -> list[str]:
    return walk(_lookup(source, settings), scheme, partition)


@task(name="fetch", cache_policy=NO_CACHE)
def fetch_task(source: str, settings: dict[str, Any], partition: str, titles: list[str]) -> list[HarvestItem]:
    """One page batch; a batch that ran out of its client's retries raises (so Prefect retries the task)."""
    lookup = _lookup(source, settings)
    items = fetch_batch(lookup, titles, partition)
    failed = [i for i in items if isinstance(i, SkippedPage) and i.reason == "error"]
    if failed:
        raise SourceUnavailableError(", ".join(repr(i.title) for i in failed[:3]), failed[0].detail, lookup.key)
    return items


@task(name="embed-batch", cache_policy=NO_CACHE)
def embed_batch_task(model: str | None, embedding: dict[str, Any], names: list[str]) -> tuple[str, Any]:
    return encode_batch(model, embedding, names)


def _lookup(spec: str, settings: dict[str, Any]) -> LookupSource:
    source = open_source(spec, settings)
    if not isinstance(source, LookupSource):
        raise KBError(f"source {spec!r} is not looked up page by page")
    return source


# ---- writer tasks: called directly, so they run in the flow's process, the warehouse's one writer ---------------

@task(name="commit-walk", cache_policy=NO_CACHE)
def commit_walk_task(warehouse: str, source: LookupSource, scheme: Scheme, partition: str, titles: list[str]) -> None:
    with KBStore.open(warehouse) as store:
        save_walk(store, source, scheme, partition, titles)


@task(name="commit-pages", cache_policy=NO_CACHE)
def commit_pages_task(warehouse: str, source_key: str, items: list[HarvestItem]) -> tuple[int, int]:
    with KBStore.open(warehouse) as store:
        return store.save_items(source_key, items)


@task(name="commit-embeddings", cache_policy=NO_CACHE)
def commit_embeddings_task(warehouse: str, model_id: str, names: list[str], vectors: Any) -> None:
    with KBStore.open(warehouse) as store:
        store.save_embeddings(model_id, names, vectors)


@task(name="harvest-stream", cache_policy=NO_CACHE)
def harvest_stream_task(warehouse: str, plan: BuildPlan, index: int, progress: bool) -> dict[str, Any]:
    """A dump or the snapshot: a local file read front to back, written as it is read (by the writer)."""
    with KBStore.open(warehouse) as store:
        return vars(harvest(store, plan.sources[index], plan.scheme, None, progress=progress))


@task(name="parse-and-type", cache_policy=NO_CACHE)
def parse_task(warehouse: str, plan: BuildPlan, index: int) -> dict[str, Any]:
    with KBStore.open(warehouse) as store:
        counts = extract_entities(store, plan.sources[index].key, plan.scheme, plan.settings)
    return {"pages": counts.pages, "typed": counts.typed, "untyped": counts.untyped}


@task(name="weigh", cache_policy=NO_CACHE)
def weigh_task(warehouse: str, build_id: int) -> int:
    with KBStore.open(warehouse) as store:
        return weigh(store, build_id)


@task(name="aggregate", cache_policy=NO_CACHE)
def aggregate_task(warehouse: str, build_id: int, model_id: str, types: list[str]) -> str:
    with KBStore.open(warehouse) as store:
        return aggregate(store, build_id, model_id, types)


# ---- the flow ---------------------------------------------------------------------------------------------------

def harvest_lookup(submit: Submit, warehouse: str, plan: BuildPlan, index: int, spec: str, progress: bool) -> None:
    """Walk the types not walked yet, then fetch every batch not held; raises the first SourceUnavailableError after
    committing everything that did arrive."""
    source = plan.sources[index]
    assert isinstance(source, LookupSource)
    flow_settings = plan.settings["flow"]
    retrying = {"retries": int(flow_settings["harvest_retries"]),
                "retry_delay_seconds": float(flow_settings["harvest_retry_delay_s"])}
    titles: dict[str, list[str]] = {}
    with KBStore.open(warehouse) as store:
        for partition in source.partitions(plan.scheme):
            assert partition is not None
            known = walked_titles(store, source, plan.scheme, partition)
            if known is not None:
                titles[partition] = known
    walks = {p: submit(walk_task.with_options(**retrying),
                       {"source": spec, "settings": plan.settings, "scheme": plan.scheme, "partition": p})
             for p in source.partitions(plan.scheme) if p is not None and p not in titles}
    failures: list[SourceUnavailableError] = []
    for partition, future in walks.items():
        try:
            found = future.result()
        except SourceUnavailableError as err:
            failures.append(err)
            continue
        commit_walk_task(warehouse, source, plan.scheme, partition, found)
        titles[partition] = found
    with KBStore.open(warehouse) as store:
        batches = [(p, batch) for p in sorted(titles, key=list(source.partitions(plan.scheme)).index)
                   for batch in fetch_batches(store, source, titles[p])]
    fetches = [(p, batch, submit(fetch_task.with_options(**retrying),
                                 {"source": spec, "settings": plan.settings, "partition": p, "titles": batch}))
               for p, batch in batches]
    with tqdm(total=sum(len(b) for _, b, _ in fetches), desc=f"harvest {source.key}", unit="page",
              disable=not progress) as bar:
        for _, batch, future in fetches:
            try:
                items = future.result()
            except SourceUnavailableError as err:
                failures.append(err)
                items = [SkippedPage(title, "error", err.reason) for title in batch]
            commit_pages_task(warehouse, source.key, items)
            bar.update(len(batch))
    if failures:
        raise failures[0]


def embed_distributed(submit: Submit, warehouse: str, build_id: int, model: str | None,
                      embedding: dict[str, Any]) -> str:
    """Embed the build's names the cache lacks, one worker task per batch; returns the model id."""
    model_id = encoder_id(model, embedding["max_seq_length"])
    with KBStore.open(warehouse) as store:
        batches = embedding_batches(store, model_id, store.weights(build_id)["name"].tolist(),
                                    int(embedding["batch_size"]) * 4)
    futures = [submit(embed_batch_task, {"model": model, "embedding": embedding, "names": b}) for b in batches]
    for names, future in zip(batches, futures):
        used, vectors = future.result()
        if used != model_id:
            raise KBError(f"a worker embedded with {used}, not {model_id}: workers need the same model files")
        commit_embeddings_task(warehouse, model_id, names, vectors)
    return model_id


@flow(name="build_type_priors")
def build_type_priors(warehouse: str, scheme: str, sources: list[str], model: str | None = None,
                      schemes_dir: str | None = None, config: str | None = None, progress: bool = True) -> int:
    """Build type priors for `scheme` from `sources` into the warehouse file; returns the build id."""
    plan = plan_build(scheme, sources, load_settings(config), model, schemes_dir)
    with KBStore.open(warehouse) as store:
        build_id = start_build(store, plan, encoder_id(model, plan.settings["embedding"]["max_seq_length"]))
    try:
        with worker_runner(plan.settings["flow"]["task_runner"]) as submit:
            for index, (spec, source) in enumerate(zip(sources, plan.sources)):
                if isinstance(source, LookupSource):
                    harvest_lookup(submit, warehouse, plan, index, spec, progress)
                else:
                    harvest_stream_task(warehouse, plan, index, progress)
            for index in range(len(plan.sources)):
                parse_task(warehouse, plan, index)
            weigh_task(warehouse, build_id)
            model_id = embed_distributed(submit, warehouse, build_id, model, plan.settings["embedding"])
        aggregate_task(warehouse, build_id, model_id, plan.scheme.type_names)
    except BaseException as err:
        with KBStore.open(warehouse) as store:
            store.fail_build(build_id, f"{type(err).__name__}: {err}")
        raise
    return build_id
