"""The shapes of the MediaWiki answers the live source reads, validated in one place.

wikipedia-api hands back whatever JSON the server sent. A mirror, a proxy or a hostile server can send well-formed
JSON of another shape (a namespace that is not a number, `query` as a string, `revisions` as a string), which
would otherwise surface as a KeyError or TypeError deep in the harvest. Every answer goes through these models
and a mismatch becomes one `WikiAnswerError` naming the endpoint, the request and the field.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..errors import SourceError


class WikiAnswerError(SourceError):
    """A MediaWiki answer did not have the shape of a MediaWiki answer (or followed `continue` for ever)."""


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Member(_Shape):
    ns: int
    title: StrictStr


class MembersQuery(_Shape):
    categorymembers: list[Member] = []


class Rename(_Shape):
    from_: StrictStr = Field(alias="from")
    to: StrictStr


class Slot(_Shape):
    star: StrictStr | None = Field(None, alias="*")
    content: StrictStr | None = None


class Revision(_Shape):
    slots: dict[str, Slot] | None = None
    star: StrictStr | None = Field(None, alias="*")
    content: StrictStr | None = None

    def text(self) -> str | None:
        main = (self.slots or {}).get("main")
        source: Slot | Revision = main if main is not None else self
        return source.star if source.star is not None else source.content


class Page(_Shape):
    title: StrictStr | None = None
    ns: int | None = None
    missing: Any = None
    invalid: Any = None
    invalidreason: StrictStr | None = None
    revisions: list[Revision] | None = None
    description: StrictStr | None = None
    pageviews: dict[str, int | None] | None = None
    langlinks: list[dict[str, Any]] | None = None
    length: int | None = None


class PagesQuery(_Shape):
    normalized: list[Rename] = []
    redirects: list[Rename] = []
    pages: dict[str, Page] = {}


class Answer(_Shape):
    """The envelope of an action=query answer: `query` is checked by the caller's own model."""

    query: dict[str, Any] = {}
    continue_: dict[str, StrictStr | int] | None = Field(None, alias="continue")


Query = TypeVar("Query", MembersQuery, PagesQuery)


def _first_problem(err: ValidationError, prefix: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {first['msg']}, got {str(first.get('input'))[:60]!r}{more}"


def parse_answer(body: dict[str, Any], model: type[Query], what: str, where: str) -> tuple[Query, dict[str, Any] | None]:
    """The validated `query` part of one answer and its `continue` dict; WikiAnswerError when either is off."""
    try:
        envelope = Answer.model_validate(body)
        return model.model_validate(envelope.query), envelope.continue_
    except ValidationError as err:
        prefix = "" if err.title == "Answer" else "query"
        raise WikiAnswerError(f"unexpected answer to {what}: {_first_problem(err, prefix)}", where) from None
