"""Writers: canonical JSON lines plus every other format that can express the corpus.

The file is written aside (a temporary file in the target folder) and renamed over the target
only when every sentence was written, so a failed write leaves the old file untouched.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..safe_write import write_text
from . import tagging
from .document import Corpus, Entity, Kind, Sentence
from .errors import CorpusError, UnknownFormatError, UnwritableError
from .formats import WRITABLE_FORMATS


def write_aside(path: str | Path, chunks: Iterable[str]) -> Path:
    """Write text through the one safe-write helper (aside, then renamed; see model/safe_write.py)."""
    try:
        return write_text(path, chunks)
    except OSError as exc:
        raise CorpusError(exc.strerror or str(exc), path) from exc


def _where(k: int, s: Sentence) -> str:
    return f"sentence {k + 1}" + (f" (id {s.id})" if s.id is not None else "")


def _column_safe(token: str) -> bool:
    """A tab-separated field keeps inner spaces, but not tabs, line ends or spaces at its ends."""
    return bool(token) and token == token.strip(" ") and not any(ch in token for ch in "\t\n\r")


def _line_safe(token: str) -> bool:
    """A token of a space-separated sentence line."""
    return bool(token) and not any(ch in token for ch in " \t\n\r")


def _check_text_tokens(sentences: list[Sentence], format: str, path: Any) -> None:
    """Token-per-line and sentence-per-line files cannot hold empty sentences or every character in a token."""
    safe = _line_safe if format == "bartner" else _column_safe
    for k, s in enumerate(sentences):
        if not s.tokens:
            raise UnwritableError(f"{_where(k, s)} has no tokens; {format} cannot express an empty sentence", path)
        for i, t in enumerate(s.tokens):
            if not safe(t):
                raise UnwritableError(f"{_where(k, s)}: token {i} {t!r} is empty or holds whitespace that "
                                      f"{format} cannot express", path)
        for e in s.entities:
            if any(ch.isspace() or ch == "|" for ch in e.type):
                raise UnwritableError(f"{_where(k, s)}: type {e.type!r} holds whitespace or '|', "
                                      f"which {format} cannot express", path)


_CAN_EXPRESS = {Kind.NESTED: "jsonl, w2ner, bartner, genia or layered-bio", Kind.DISCONTINUOUS: "jsonl, w2ner or bartner"}


def _no_kind(sentences: list[Sentence], kinds: set[Kind], format: str, path: Any) -> None:
    for k, s in enumerate(sentences):
        for e, kind in s.kinds():
            if kind in kinds:
                raise UnwritableError(
                    f"{_where(k, s)} has a {kind.value} entity {list(e.indices)} ({e.type}); "
                    f"{format} cannot express {kind.value} entities (write {_CAN_EXPRESS[kind]})", path)


def _spans(entities: Iterable[Entity]) -> list[tagging.Span]:
    return [(e.start, e.last + 1, e.type) for e in entities]


def _jsonl(sentences: list[Sentence], path: Any) -> Iterator[str]:
    for s in sentences:
        yield json.dumps(s.to_json(), ensure_ascii=False) + "\n"


def _w2ner(sentences: list[Sentence], path: Any) -> Iterator[str]:
    yield "["
    for k, s in enumerate(sentences):
        record = {"sentence": s.tokens, "ner": [{"index": list(e.indices), "type": e.type} for e in s.entities]}
        yield ("," if k else "") + "\n" + json.dumps(record, ensure_ascii=False)
    yield "\n]\n"


def _genia(sentences: list[Sentence], path: Any) -> Iterator[str]:
    _no_kind(sentences, {Kind.DISCONTINUOUS}, "genia", path)
    for s in sentences:
        record: dict = {"tokens": s.tokens}
        if s.id is not None:
            record["sent_id"] = s.id
        record["entity_mentions"] = [
            {"start": e.start, "end": e.last + 1, "entity_type": e.type, "text": e.text(s.tokens)} for e in s.entities
        ]
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _bio(sentences: list[Sentence], path: Any, scheme: str = "bio") -> Iterator[str]:
    tagging.check_scheme(scheme)
    _check_text_tokens(sentences, "bio", path)
    _no_kind(sentences, {Kind.NESTED, Kind.DISCONTINUOUS}, "bio", path)
    for k, s in enumerate(sentences):
        tags = tagging.encode(_spans(s.entities), len(s.tokens), scheme)
        yield ("\n" if k else "") + "".join(f"{t}\t{g}\n" for t, g in zip(s.tokens, tags))


def levels(entities: Iterable[Entity]) -> list[list[Entity]]:
    """Entities in layers without overlap, longest first: layer 0 holds the outermost entities."""
    layers: list[list[Entity]] = []
    for e in sorted(entities, key=lambda e: (-(e.last - e.start), e.start, e.type)):
        for layer in layers:
            if all(e.last < o.start or o.last < e.start for o in layer):
                layer.append(e)
                break
        else:
            layers.append([e])
    return layers


def _layered_bio(sentences: list[Sentence], path: Any, scheme: str = "bio") -> Iterator[str]:
    tagging.check_scheme(scheme)
    _check_text_tokens(sentences, "layered-bio", path)
    _no_kind(sentences, {Kind.DISCONTINUOUS}, "layered-bio", path)
    layered = [levels(s.entities) for s in sentences]
    depth = max([len(x) for x in layered] + [1])
    for k, (s, layers) in enumerate(zip(sentences, layered)):
        columns = [tagging.encode(_spans(layer), len(s.tokens), scheme) for layer in layers]
        columns += [["O"] * len(s.tokens)] * (depth - len(columns))
        rows = ("\t".join([t, *(c[i] for c in columns)]) + "\n" for i, t in enumerate(s.tokens))
        yield ("\n" if k else "") + "".join(rows)


def format_bartner_entities(entities: Iterable[Entity]) -> str:
    return "|".join(",".join(f"{a},{b}" for a, b in e.fragments()) + f" {e.type}" for e in entities)


def _bartner(sentences: list[Sentence], path: Any) -> Iterator[str]:
    _check_text_tokens(sentences, "bartner", path)
    for s in sentences:
        yield " ".join(s.tokens) + "\n" + format_bartner_entities(s.entities) + "\n\n"


WRITERS: dict[str, Callable[..., Iterator[str]]] = {
    "jsonl": _jsonl,
    "bio": _bio,
    "layered-bio": _layered_bio,
    "w2ner": _w2ner,
    "genia": _genia,
    "bartner": _bartner,
}


def write_corpus(corpus: Corpus | Iterable[Sentence], path: str | Path, format: str = "jsonl", **options: Any) -> Path:
    """Write a corpus; raises UnwritableError naming the first sentence the format cannot express.

    Options: `scheme` ("bio", "bioes" or "iob1") for bio and layered-bio.
    """
    if format not in WRITERS:
        hint = " (its POS and chunk columns are not kept: write bio)" if format == "conll2003" else ""
        raise UnknownFormatError(f"cannot write format {format!r}{hint}; writable formats: {', '.join(WRITERS)}", path)
    takes = list(inspect.signature(WRITERS[format]).parameters)[2:]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise CorpusError(f"format {format} does not take option(s) {', '.join(unknown)} "
                              f"(it takes {', '.join(takes) or 'no options'})", path)
    sentences = list(corpus)
    chunks = WRITERS[format](sentences, path, **options)
    first = next(chunks, "")  # generators check the whole corpus before their first chunk
    return write_aside(path, _chain(first, chunks))


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
