"""What every source gives the harvest: raw pages and skipped pages, behind one interface."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator, Protocol, runtime_checkable

from ..schemes import Scheme


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RawPage:
    """One page as a source delivered it, with the signals its weight is computed from."""

    title: str
    content: str
    content_kind: str = "wikitext"          # 'wikitext' or 'extract'
    description: str | None = None
    topic: str | None = None
    redirect_to: str | None = None
    pageviews: int | None = None
    langlinks: int | None = None
    page_length: int | None = None
    harvested_for: str | None = None
    aliases: list[str] = field(default_factory=list)
    fetched_at: datetime = field(default_factory=utcnow)


@dataclass
class SkippedPage:
    """A page the source could not deliver, and why ('missing', 'malformed', 'error', 'invalid')."""

    title: str
    reason: str
    detail: str = ""


HarvestItem = RawPage | SkippedPage


@runtime_checkable
class Source(Protocol):
    """A place pages come from. `key` names it in the warehouse (the same key means the same pages)."""

    key: str

    def partitions(self, scheme: Scheme) -> list[str | None]:
        """Units a harvest can run concurrently: entity type names (live) or [None] (the whole source)."""
        ...


@runtime_checkable
class StreamingSource(Source, Protocol):
    """A source read front to back (a dump, a snapshot): it yields every page not yet held."""

    def stream(self, held: set[str]) -> Iterator[HarvestItem]:
        ...


@runtime_checkable
class LookupSource(Source, Protocol):
    """A source asked title by title (the live API): first the candidates of a type, then their pages."""

    def candidates(self, scheme: Scheme, partition: str | None) -> Iterator[str]:
        """Titles found for this partition (walks the type's categories, capped by the scheme's limits)."""
        ...

    def fetch(self, titles: list[str], partition: str | None) -> Iterator[HarvestItem]:
        """The pages for these titles, each title answered once (a page or a skip)."""
        ...
