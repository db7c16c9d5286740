"""Decoding corpus files into numbered lines.

Every reader goes through here so that BOMs, CRLF line ends, trailing spaces and undecodable
bytes are handled once, and every error can name the line it comes from.
"""
from __future__ import annotations

import bisect
import codecs
import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator

from .errors import CorpusError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def decode(raw: bytes, path: str | Path | None = None) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16; bad bytes raise with their line."""
    if raw.startswith(_UTF16_BOMS):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start - exc.start % 2].decode("utf-16", errors="replace")
            raise CorpusError(f"bytes are not valid UTF-16: {exc.reason}", path, before.count("\n") + 1) from exc
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start:exc.end].hex(" ")
        raise CorpusError(f"undecodable bytes {bad} at column {column}: not UTF-8 ({exc.reason})", path, line) from exc


def read_text(path: str | Path) -> str:
    p = Path(path)
    return decode(read_bytes(p), p)


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes (the first `limit` of them when given); OS errors become CorpusError."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KINDS if test(mode)), "not a regular file")
            raise CorpusError(f"is {kind}, not a corpus file", path)
        with path.open("rb") as f:
            return f.read() if limit is None else f.read(limit)
    except FileNotFoundError as exc:
        what = "a symlink to a missing file" if path.is_symlink() else "no such file"
        raise CorpusError(what, path) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorpusError("is a symlink loop, not a corpus file", path) from None
        raise CorpusError(f"cannot read: {exc.strerror or exc}", path) from exc


def decode_prefix(raw: bytes, path: str | Path | None = None) -> str:
    """Decode the first bytes of a longer file: a character cut at the end is dropped, not an error."""
    for cut in range(4):
        try:
            return decode(raw[: len(raw) - cut] if cut else raw, path)
        except CorpusError as exc:
            if not isinstance(exc.__cause__, UnicodeDecodeError) or exc.__cause__.start < len(raw) - 4:
                raise
    return decode(raw, path)


def line_end(text: str) -> str:
    """The file's line end: "\\n" (which also ends CRLF lines), or "\\r" in an old Mac file that has no "\\n".

    Detected once per file, so a stray CR inside a Unix or Windows line stays part of that line.
    """
    return "\r" if "\n" not in text and "\r" in text else "\n"


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """(1-based number, line) pairs without line ends or trailing spaces and tabs.

    Splits on the file's line end only: str.splitlines would also split on U+2028, U+0085 and other
    characters that occur inside real tokens.
    """
    return [(n, line.rstrip(" \t\r")) for n, line in enumerate(text.split(line_end(text)), 1)]


class LineIndex:
    """Maps character offsets of a text to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer(re.escape(line_end(text)), text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)

    def column(self, offset: int) -> int:
        return offset - self._starts[self.line(offset) - 1] + 1


def json_records(text: str, path: str | Path | None = None) -> Iterator[tuple[int, Any]]:
    """The records of a JSON list, or of JSON lines (any whitespace-separated JSON values), with the line each starts on."""
    decoder = json.JSONDecoder()
    index = LineIndex(text)
    n = len(text)

    def skip(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def decode_value(i: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"invalid JSON: {exc.msg} (column {index.column(exc.pos)})", path,
                              index.line(exc.pos)) from exc
        except RecursionError:
            raise CorpusError("invalid JSON: a value nested too deeply to be a corpus record", path,
                              index.line(i)) from None

    surrogates = _SURROGATE_ESCAPE.search(text) is not None

    def value_at(i: int) -> tuple[Any, int]:
        value, end = decode_value(i)
        if surrogates:
            try:
                json.dumps(value, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = exc.object[exc.start:exc.end].encode("unicode_escape").decode("ascii")
                raise CorpusError(f"invalid text: a lone UTF-16 surrogate {bad} (\\u escape) is not a character",
                                  path, index.line(i)) from None
        return value, end

    i = skip(0)
    if i < n and text[i] == "[":
        i = skip(i + 1)
        if i < n and text[i] == "]":
            i = skip(i + 1)
        else:
            while True:
                record, end = value_at(i)
                yield index.line(i), record
                i = skip(end)
                if i < n and text[i] == ",":
                    i = skip(i + 1)
                    continue
                if i < n and text[i] == "]":
                    i = skip(i + 1)
                    break
                raise CorpusError("invalid JSON: expected ',' or ']' after a list item", path, index.line(min(i, n)))
        if i < n:
            raise CorpusError("invalid JSON: extra data after the closing ']'", path, index.line(i))
        return
    while i < n:
        record, end = value_at(i)
        yield index.line(i), record
        i = skip(end)
