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


def walk(source: LookupSource, scheme: Scheme, partition: str | None) -> list[str]:
    """The candidate titles of one partition, in walk order without repeats. Network only: no warehouse."""
    if partition is None:
        raise ValueError(f"{source.key} harvests one entity type at a time: name the partition")
    return list(dict.fromkeys(source.candidates(scheme, partition)))


def fetch_batch(source: LookupSource, titles: list[str], partition: str | None) -> list[HarvestItem]:
    """The pages (or skips) of one batch of titles. Network only: a worker returns these, one writer saves them."""
    return list(source.fetch(titles, partition))


def walked_titles(store: KBStore, source: LookupSource, scheme: Scheme, partition: str) -> list[str] | None:
    """The titles an earlier walk with the same categories and limits found, or None if it must walk."""
    if store.walked(source.key, scheme.name, partition, walk_hash(scheme, partition)):
        return store.candidates(source.key, scheme.name, partition)
    return None


def save_walk(store: KBStore, source: LookupSource, scheme: Scheme, partition: str, titles: list[str]) -> None:
    store.save_walk(source.key, scheme.name, partition, walk_hash(scheme, partition), titles)


def fetch_batches(store: KBStore, source: LookupSource, titles: list[str]) -> list[list[str]]:
    """The titles not yet held, cut into the source's batches."""
    held = store.held_titles(source.key)
    todo = [t for t in titles if t not in held]
    step = max(1, getattr(source, "batch_size", 20))
    return [todo[start:start + step] for start in range(0, len(todo), step)]


def save_batch(store: KBStore, source_key: str, items: list[HarvestItem]) -> tuple[int, int]:
    """Commit one fetched batch (one transaction); raises SourceUnavailableError after saving if it had errors."""
    written = store.save_items(source_key, items)
    raise_if_unavailable(source_key, items)
    return written


def harvest(store: KBStore, source: Source, scheme: Scheme, partition: str | None = None, *,
            batch_size: int = 500, progress: bool = True) -> HarvestReport:
    """Harvest one partition of a source (an entity type for the live API; None for a dump or the snapshot)."""
    fetched = skipped = 0
    if isinstance(source, LookupSource):
        if partition is None:
            raise ValueError(f"{source.key} harvests one entity type at a time: name the partition")
        titles = walked_titles(store, source, scheme, partition)
        if titles is None:
            titles = walk(source, scheme, partition)
            save_walk(store, source, scheme, partition, titles)
        batches = fetch_batches(store, source, titles)
        todo = sum(len(b) for b in batches)
        with tqdm(total=todo, desc=f"harvest {partition}", unit="page", disable=not progress) as bar:
            for batch in batches:
                items = fetch_batch(source, batch, partition)
                bar.update(len(batch))
                pages, skips = save_batch(store, source.key, items)
                fetched, skipped = fetched + pages, skipped + skips
        return HarvestReport(source.key, partition, len(titles), len(titles) - todo, fetched, skipped)
    held = store.held_titles(source.key)
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

