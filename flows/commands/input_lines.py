"""The lines `typeprior predict` tags: split on line ends only, decoded one line at a time.

A file or stdin is read as bytes and split on "\\r\\n", "\\r" and "\\n" alone: str.splitlines would also split on
U+2028, U+0085 and form feed, which occur inside real text, and give more outputs than input lines. A line that is
not UTF-8 is kept as a `BadLine` in its place, so the valid lines are still tagged and every output line still
matches its input line.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class BadLine:
    """An input line that could not be decoded; `reason` names the bytes."""

    where: str
    number: int
    reason: str

    def __str__(self) -> str:
        return f"{self.where}:{self.number}: {self.reason}"

    def answer(self) -> dict[str, object]:
        """What `predict` prints in this line's place."""
        return {"line": self.number, "error": self.reason}


class UndecodableInputError(ValueError):
    """Some input lines were not UTF-8: they were skipped (the others tagged), and the command fails."""


def undecodable(lines: list[str | BadLine]) -> UndecodableInputError | None:
    """The error naming the first undecodable line, when there is one."""
    bad = [line for line in lines if isinstance(line, BadLine)]
    if not bad:
        return None
    more = f" ({len(bad)} of {len(lines)} lines undecodable)" if len(bad) > 1 else ""
    return UndecodableInputError(f"{bad[0]}{more}")


def split_lines(raw: bytes, where: str) -> list[str | BadLine]:
    """The decoded lines of `raw` (a final line end adds no empty line); undecodable ones as BadLine."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    parts = _LINE_END.split(raw)
    if parts and parts[-1] == b"":
        parts.pop()
    out: list[str | BadLine] = []
    for number, part in enumerate(parts, 1):
        try:
            out.append(part.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad = part[exc.start:exc.end].hex(" ")
            out.append(BadLine(where, number, f"not UTF-8 (bytes {bad} at column {exc.start + 1}); line skipped"))
    return out


def read_lines(path: Path | None, stdin: BinaryIO | None = None) -> list[str | BadLine]:
    """The lines of `path`, or of stdin when it is None; OSError when the file cannot be read."""
    if path is None:
        return split_lines((stdin or sys.stdin.buffer).read(), "<stdin>")
    return split_lines(Path(path).read_bytes(), str(path))
