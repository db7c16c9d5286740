"""Typed errors of the knowledge base: each names what was wrong and where."""
from __future__ import annotations

from typeprior.errors import TypePriorError


class KBError(TypePriorError):
    """Base of every knowledge-base error."""


class SchemeError(KBError, ValueError):
    """A type scheme file is missing, malformed, or names something unknown."""

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)


class SourceError(KBError, ValueError):
    """A source specification or a source's input (dump file, snapshot) cannot be used."""

    def __init__(self, reason: str, where: str | None = None) -> None:
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)


class DumpFormatError(SourceError):
    """The dump file is not a MediaWiki XML export."""


class BuildNotFoundError(KBError, LookupError):
    """No (finished) build matches the request."""


class MissingTypesError(KBError, LookupError):
    """The build has no type vector for some requested types."""

    def __init__(self, build_id: int, missing: list[str], available: list[str]) -> None:
        self.build_id = build_id
        self.missing = missing
        self.available = available
        super().__init__(f"build {build_id} has no type prior for {missing}; it has {available}")


class EmbeddingDimensionError(KBError, ValueError):
    """The encoder's vectors do not have the dimension the warehouse stores (FLOAT[384])."""


class SourceUnavailableError(KBError):
    """A source did not answer within its retry budget. What it delivered before is saved and the build is not
    marked done, so running the same command again resumes where this one stopped."""

    def __init__(self, what: str, reason: str, where: str | None = None, status: int | None = None) -> None:
        self.what = what
        self.reason = reason
        self.where = where
        self.status = status
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}could not fetch {what} within the retry budget ({reason}); run again to resume")

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None, int | None]]:
        """Picklable with its fields, so it crosses from a Dask worker to the flow intact."""
        return (type(self), (self.what, self.reason, self.where, self.status))


class EmbeddingModelError(KBError, ValueError):
    """The sentence-transformers model given for the type embeddings is not a local model folder."""
