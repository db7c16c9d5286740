"""Harvest: pages of a source into the warehouse, resumable.

Each batch is written in its own transaction as soon as it arrives; a re-run first reads what the warehouse holds
(pages, their aliases, lasting skips), so a harvest killed midway continues where it stopped, fetching nothing twice.
A live harvest also keeps the titles its category walk found, so a resumed harvest does not walk again.
A batch whose fetch ran out of retries is saved (as 'error' skips) and then stops the harvest with
SourceUnavailableError, so a partial harvest never looks complete.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tqdm.auto import tqdm

from .errors import SourceUnavailableError
from .schemes import Scheme
from .sources.base import HarvestItem, LookupSource, SkippedPage, Source, StreamingSource
from .store import KBStore


@dataclass(frozen=True)
class HarvestReport:
    source_key: str
    partition: str | None
    candidates: int
    already_held: int
    fetched: int
    skipped: int


def walk_hash(scheme: Scheme, entity_type: str) -> str:
    """What decides a category walk: the type's categories and the scheme's limits."""
    spec = scheme.type(entity_type)
    data = {"categories": spec.categories, "limits": vars(scheme.limits)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def raise_if_unavailable(source_key: str, items: list[HarvestItem]) -> None:
    """A batch with 'error' skips ran out of retries: stop (after it was saved) so the harvest cannot look complete."""
    failed = [i for i in items if isinstance(i, SkippedPage) and i.reason == "error"]
    if failed:
        shown = ", ".join(repr(i.title) for i in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        raise SourceUnavailableError(shown, failed[0].detail, source_key)


def harvest(store: KBStore, source: Source, scheme: Scheme, partition: str | None = None, *,
            batch_size: int = 500, progress: bool = True) -> HarvestReport:
    """Harvest one partition of a source (an entity type for the live API; None for a dump or the snapshot)."""
    held = store.held_titles(source.key)
    fetched = skipped = 0
    if isinstance(source, LookupSource):
        if partition is None:
            raise ValueError(f"{source.key} harvests one entity type at a time: name the partition")
        whash = walk_hash(scheme, partition)
        if store.walked(source.key, scheme.name, partition, whash):
            titles = store.candidates(source.key, scheme.name, partition)
        else:
            titles = list(dict.fromkeys(source.candidates(scheme, partition)))
            store.save_walk(source.key, scheme.name, partition, whash, titles)
        todo = [t for t in titles if t not in held]
        step = max(1, getattr(source, "batch_size", 20))
        with tqdm(total=len(todo), desc=f"harvest {partition}", unit="page", disable=not progress) as bar:
            for start in range(0, len(todo), step):
                items = list(source.fetch(todo[start:start + step], partition))
                pages, skips = store.save_items(source.key, items)
                fetched, skipped = fetched + pages, skipped + skips
                bar.update(len(todo[start:start + step]))
                raise_if_unavailable(source.key, items)
        return HarvestReport(source.key, partition, len(titles), len(titles) - len(todo), fetched, skipped)
    if not isinstance(source, StreamingSource):
        raise TypeError(f"{type(source).__name__} is neither a lookup nor a streaming source")
    buffer: list[HarvestItem] = []
    with tqdm(desc=f"harvest {source.key.split(':', 1)[0]}", unit="page", disable=not progress) as bar:
        for item in source.stream(held):
            buffer.append(item)
            if len(buffer) >= batch_size:
                pages, skips = store.save_items(source.key, buffer)
                fetched, skipped = fetched + pages, skipped + skips
                bar.update(len(buffer))
                buffer = []
        if buffer:
            pages, skips = store.save_items(source.key, buffer)
            fetched, skipped = fetched + pages, skipped + skips
            bar.update(len(buffer))
    return HarvestReport(source.key, partition, len(held) + fetched + skipped, len(held), fetched, skipped)

