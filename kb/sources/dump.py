"""The dump source: a MediaWiki XML export (`pages-articles`, plain or .bz2), streamed page by page."""
from __future__ import annotations

import bz2
import errno
import gzip
import os
import re
import stat
import zlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Iterator

from ..errors import DumpFormatError, SourceError
from ..schemes import Scheme
from ..wikitext import normalize_title, redirect_target
from .base import HarvestItem, RawPage, SkippedPage

_LANGLINK = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)?:[^\]]+\]\]")


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_DAMAGED = (OSError, EOFError, zlib.error)
"""What bz2 and gzip raise on a fake or truncated stream (OSError: Invalid data stream, EOFError, zlib.error)."""


def check_dump_file(path: Path) -> None:
    """SourceError unless `path` is a readable regular file, naming what it is instead."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceError("dump file does not exist", str(path)) from None
    except OSError as exc:
        reason = "is a symlink loop" if exc.errno == errno.ELOOP else f"cannot be read: {exc.strerror or exc}"
        raise SourceError(f"dump file {reason}", str(path)) from None
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise SourceError(f"is {kind}, not a dump file", str(path))
    if not os.access(path, os.R_OK):
        raise SourceError("dump file cannot be read: permission denied", str(path))


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(3)
    except OSError as exc:
        raise SourceError(f"dump file cannot be read: {exc.strerror or exc}", str(path)) from None


def _open(path: Path) -> IO[bytes]:
    magic = _magic(path)
    try:
        if magic == b"BZh":
            return bz2.open(path, "rb")
        if magic[:2] == b"\x1f\x8b":
            return gzip.open(path, "rb")
        return path.open("rb")
    except OSError as exc:
        raise SourceError(f"dump file cannot be read: {exc.strerror or exc}", str(path)) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_dump_pages(path: str | Path) -> Iterator[tuple[str, int, str | None, str | None]]:
    """(title, namespace, redirect title or None, wikitext or None) of every page, in file order."""
    path = Path(path)
    check_dump_file(path)
    try:
        yield from _pages(path)
    except _DAMAGED as err:
        what = "compressed stream" if _magic(path)[:2] in (b"BZ", b"\x1f\x8b") else "file"
        raise DumpFormatError(f"damaged or truncated {what}: {err}", str(path)) from None


def _pages(path: Path) -> Iterator[tuple[str, int, str | None, str | None]]:
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
        given = Path(path)
        check_dump_file(given)
        self.path = given.resolve()
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
