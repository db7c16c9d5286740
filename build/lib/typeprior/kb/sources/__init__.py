"""Where pages come from: the live MediaWiki API, a dump file, or the offline snapshot, behind one interface."""
from __future__ import annotations

from typing import Any

from ..errors import SourceError
from .base import HarvestItem, LookupSource, RawPage, SkippedPage, Source, StreamingSource
from .dump import DumpSource
from .live import LiveSource, MaxLagError, MediaWikiApiError, MediaWikiClient
from .snapshot import SnapshotSource

__all__ = [
    "DumpSource", "HarvestItem", "LiveSource", "LookupSource", "MaxLagError", "MediaWikiApiError",
    "MediaWikiClient", "RawPage", "SkippedPage", "SnapshotSource", "Source", "StreamingSource", "open_source",
]


def open_source(spec: str, settings: dict[str, Any]) -> Source:
    """`live`, `api:URL`, `dump:PATH` or `snapshot` (or `snapshot:PATH` for a JSON file of the same shape)."""
    kind, _, arg = spec.partition(":")
    if kind == "live" and not arg:
        live = settings["live"]
        return LiveSource(MediaWikiClient.from_settings(live), live["batch_size"], live["pageview_days"])
    if kind == "api" and arg:
        live = settings["live"]
        return LiveSource(MediaWikiClient.from_settings(live, api_url=arg), live["batch_size"], live["pageview_days"])
    if kind == "dump" and arg:
        return DumpSource(arg)
    if kind == "snapshot":
        snap = settings["snapshot"]
        return SnapshotSource(arg or None, snap["package"], snap["resource"])
    raise SourceError(f"unknown source {spec!r}: use live, api:URL, dump:PATH or snapshot")
