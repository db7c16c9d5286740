"""Format names and detection from a file's content.

Detection looks at the first records only (JSON keys, or the shape of the first lines), so it
is cheap on large files; `--format` overrides it when a file is ambiguous.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import tagging
from .columns import is_tabbed, split_fields
from .errors import CorpusError, UnknownFormatError
from .text import decode, decode_prefix, json_records, numbered_lines, read_bytes

FORMATS: tuple[str, ...] = ("conll2003", "bio", "layered-bio", "w2ner", "genia", "bartner", "jsonl")
"""Every readable format."""

WRITABLE_FORMATS: tuple[str, ...] = ("jsonl", "bio", "layered-bio", "w2ner", "genia", "bartner")
"""conll2003 is read-only: its POS and chunk columns are not kept, so write `bio` instead."""

_SAMPLE_BYTES = 1 << 20
_SAMPLE_LINES = 200
_BARTNER_ANNOTATION = re.compile(r"^\d+,\d+(,\d+,\d+)* \S+(\|\d+,\d+(,\d+,\d+)* \S+)*$")


def detect_format(path: str | Path) -> str:
    """Name of the format of a corpus file, from its first records."""
    p = Path(path)
    raw = read_bytes(p, _SAMPLE_BYTES + 1)
    if len(raw) <= _SAMPLE_BYTES:
        return detect_text(decode(raw, p), p)
    raw = raw[:_SAMPLE_BYTES]
    cut = max(raw.rfind(b"\n"), raw.rfind(b"\r")) + 1
    return detect_text(decode_prefix(raw[:cut] or raw, p), p)


def _json_format(record: Any, path: Any, line: int) -> str:
    if isinstance(record, dict):
        keys = set(record)
        if {"sentence", "ner"} <= keys:
            return "w2ner"
        if {"tokens", "entity_mentions"} <= keys:
            return "genia"
        if {"tokens", "entities"} <= keys:
            return "jsonl"
        raise UnknownFormatError(f"JSON records with keys {sorted(keys)} match no known format", path, line)
    raise UnknownFormatError(f"JSON value of type {type(record).__name__} is not a corpus record", path, line)


def detect_text(text: str, path: Any = None) -> str:
    stripped = text.lstrip()
    if not stripped:
        raise UnknownFormatError("the file is empty: nothing to detect a format from (pass --format)", path)
    json_error: CorpusError | None = None
    if stripped[0] in "[{":
        try:
            first = next(iter(json_records(text, path)), None)
        except CorpusError as exc:
            json_error = exc  # maybe a token-per-line file whose first token is "[" or "{"
        else:
            if first is None:
                raise UnknownFormatError("an empty JSON list: nothing to detect a format from (pass --format)", path)
            return _json_format(first[1], path, first[0])
    lines = numbered_lines(text)
    try:
        if _looks_like_bartner(lines):
            return "bartner"
        return _column_format(lines, path)
    except UnknownFormatError:
        if json_error is not None:
            raise json_error from None
        raise


def _groups(lines: list[tuple[int, str]]) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    for _, line in lines[: _SAMPLE_LINES * 3]:
        if line.strip():
            current.append(line)
        elif current:
            groups.append(current)
            current = []
    if current and len(lines) <= _SAMPLE_LINES * 3:
        groups.append(current)
    return groups


def _looks_like_bartner(lines: list[tuple[int, str]]) -> bool:
    """Groups of one sentence line plus at most one `s,e TYPE|...` line, at least one of them annotated."""
    groups = _groups(lines)
    if not groups or any(len(g) > 2 for g in groups):
        return False
    annotated = [g for g in groups if len(g) == 2]
    return bool(annotated) and all(_BARTNER_ANNOTATION.match(g[1]) for g in annotated)


def _column_format(lines: list[tuple[int, str]], path: Any) -> str:
    data = [(n, line) for n, line in lines if line.strip()][:_SAMPLE_LINES]
    tabbed = is_tabbed(data)
    rows = [(n, split_fields(line, tabbed)) for n, line in data]
    if any(fields[0] == "-DOCSTART-" for _, fields in rows):
        return "conll2003"
    body = [fields for _, fields in rows if not fields[0].startswith("#")] or [f for _, f in rows]
    width = len(body[0])
    if width >= 2 and all(len(f) == width for f in body):
        tag_columns = [all(tagging.looks_like_tag(f[c]) for f in body) for c in range(width)]
        if tag_columns[-1]:
            if width == 2:
                return "bio"
            if all(tag_columns[1:]):
                return "layered-bio"
            if width >= 3 and all(f[0].isdigit() for f in body) and all(tag_columns[2:]):
                return "layered-bio"
            return "conll2003"
    n = rows[0][0]
    raise UnknownFormatError(
        f"cannot tell the format from the first lines (first: {data[0][1][:60]!r}); pass --format, one of "
        f"{', '.join(FORMATS)}",
        path,
        n,
    )
