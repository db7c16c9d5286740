"""Token-per-line files: rows of columns, sentences separated by blank lines."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import CorpusError


@dataclass(frozen=True)
class Row:
    line: int
    fields: list[str]


def is_tabbed(lines: Iterable[tuple[int, str]], comment: str | None = None) -> bool:
    """Tab-separated when the first data line holds a tab; otherwise fields are split on spaces."""
    for _, line in lines:
        if line.strip() and not (comment and line.startswith(comment)):
            return "\t" in line
    return False


def split_fields(line: str, tabbed: bool) -> list[str]:
    """Fields of a row. Without tabs, runs of ASCII spaces separate fields, so a token that is a
    no-break or ideographic space survives."""
    if tabbed:
        return [f.strip(" ") for f in line.split("\t")]
    return [f for f in line.split(" ") if f]


def blocks(
    lines: list[tuple[int, str]],
    path: str | Path | None,
    *,
    comment: str | None = None,
    min_columns: int = 2,
) -> Iterator[list[Row]]:
    """Sentences as lists of rows; every row must have as many columns as the first one."""
    tabbed = is_tabbed(lines, comment)
    width: tuple[int, int] | None = None  # (columns, line where that was set)
    block: list[Row] = []
    for number, line in lines:
        if not line.strip():
            if block:
                yield block
                block = []
            continue
        if comment and line.startswith(comment):
            continue
        fields = split_fields(line, tabbed)
        if width is None:
            if len(fields) < min_columns:
                raise CorpusError(f"expected at least {min_columns} columns, found {len(fields)}", path, number)
            width = (len(fields), number)
        elif len(fields) != width[0]:
            raise CorpusError(
                f"ragged columns: {len(fields)} columns where line {width[1]} has {width[0]}", path, number
            )
        for k, field in enumerate(fields, 1):
            if not field:
                raise CorpusError(f"column {k} is empty", path, number)
        block.append(Row(number, fields))
    if block:
        yield block
