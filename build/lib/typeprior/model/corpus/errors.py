"""Typed errors for corpus input: every one names the file, the line and the reason."""
from __future__ import annotations

from pathlib import Path

from typeprior.errors import TypePriorError


class CorpusError(TypePriorError, ValueError):
    """A corpus file could not be read as its format says it should be."""

    def __init__(self, reason: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}")


class UnknownFormatError(CorpusError):
    """The format could not be detected from the content, or an unknown format was asked for."""


class EntityError(CorpusError):
    """An entity is malformed: empty type, indices out of range, unsorted or duplicate indices."""


class TagError(CorpusError):
    """A tag sequence breaks its scheme: unknown prefix, empty type, I- after O in strict BIO..."""


class UnwritableError(CorpusError):
    """A corpus holds something the target format cannot express (nested entities in BIO, spaces in tokens)."""
