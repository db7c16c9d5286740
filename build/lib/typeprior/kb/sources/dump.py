"""The dump source: a MediaWiki XML export (`pages-articles`, plain or .bz2), streamed page by page."""
from __future__ import annotations

import bz2
import gzip
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Iterator

from ..errors import DumpFormatError, SourceError
from ..schemes import Scheme
from ..wikitext import normalize_title, redirect_target
from .base import HarvestItem, RawPage, SkippedPage

_LANGLINK = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)?:[^\]]+\]\]")


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as f:
        magic = f.read(3)
    if magic == b"BZh":
        return bz2.open(path, "rb")
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return path.open("rb")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_dump_pages(path: str | Path) -> Iterator[tuple[str, int, str | None, str | None]]:
    """(title, namespace, redirect title or None, wikitext or None) of every page, in file order."""
    path = Path(path)
    if not path.is_file():
        raise SourceError("dump file does not exist", str(path))
    with _open(path) as stream:
        context = ET.iterparse(stream, events=("start", "end"))
        try:
            _, root = next(context)
        except ET.ParseError as err:
            raise DumpFormatError(f"not an XML file: {err}", str(path)) from err
        if _local(root.tag) != "mediawiki":
            raise DumpFormatError(f"root element is <{_local(root.tag)}>, not <mediawiki>", str(path))
        try:
            for event, elem in context:
                if event != "end" or _local(elem.tag) != "page":
                    continue
                title = ns = redirect = text = None
                for child in elem:
                    name = _local(child.tag)
                    if name == "title":
                        title = child.text
                    elif name == "ns":
                        ns = child.text
                    elif name == "redirect":
                        redirect = child.get("title")
                    elif name == "revision":
                        for part in child:
                            if _local(part.tag) == "text":
                                text = part.text or ""
                root.clear()
                if title:
                    yield title, int(ns) if ns and ns.lstrip("-").isdigit() else 0, redirect, text
        except ET.ParseError as err:
            raise DumpFormatError(f"broken XML after the last complete page: {err}", str(path)) from err


class DumpSource:
    """Every article (namespace 0) of a dump; redirects arrive as pages whose `redirect_to` is set."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise SourceError("dump file does not exist", str(self.path))
        self.key = f"dump:{self.path}"

    def partitions(self, scheme: Scheme) -> list[str | None]:
        return [None]

    def stream(self, held: set[str]) -> Iterator[HarvestItem]:
        for raw_title, ns, redirect, text in iter_dump_pages(self.path):
            if ns != 0:
                continue
            title = normalize_title(raw_title)
            if title in held:
                continue
            if text is None:
                yield SkippedPage(title, "malformed", "page has no revision text")
                continue
            target = normalize_title(redirect) if redirect else redirect_target(text)
            yield RawPage(
                title=title,
                content=text,
                content_kind="wikitext",
                redirect_to=target,
                langlinks=len(_LANGLINK.findall(text)) if target is None else None,
                page_length=len(text.encode()),
            )
