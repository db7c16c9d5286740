"""Readers: one function per format, from decoded text to sentences.

Each reader takes the decoded text and the path (for error messages) plus its own keyword options,
and returns the sentences. `read_corpus` picks the reader by name or by `detect_format`.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Callable

from . import tagging
from .columns import Row, blocks, is_tabbed, split_fields
from .document import Corpus, Entity, Sentence
from .errors import CorpusError, EntityError, TagError, UnknownFormatError
from .text import json_records, numbered_lines, read_text

DOCSTART = "-DOCSTART-"


def _sentence(tokens: list[str], entities: list[Entity], path: Any, line: int, id: str | None = None) -> Sentence:
    try:
        return Sentence(tokens, entities, id)
    except EntityError as exc:
        raise EntityError(exc.reason, path, line) from None


def _tagged_sentence(rows: list[Row], columns: list[int], scheme: str, strict: bool, path: Any) -> Sentence:
    tokens = [r.fields[0] for r in rows]
    lines = [r.line for r in rows]
    entities: list[Entity] = []
    for c in columns:
        tags = [r.fields[c] for r in rows]
        for start, end, type_ in tagging.decode(tags, scheme, strict=strict, lines=lines, path=path):
            entities.append(Entity.span(start, end, type_))
    return _sentence(tokens, entities, path, rows[0].line)


def _all_tags(sentences: list[list[Row]], columns: list[int], path: Any) -> list[str]:
    tags = []
    for rows in sentences:
        for c in columns:
            for r in rows:
                try:
                    tagging.split_tag(r.fields[c])
                except TagError as exc:
                    raise TagError(exc.reason, path, r.line) from None
                tags.append(r.fields[c])
            tags.append("O")  # a sentence boundary ends any entity
    return tags


def read_conll2003(text: str, path: Any = None, *, scheme: str | None = None, strict: bool = True) -> list[Sentence]:
    """CoNLL-2003: `word ... NER` columns (NER tag last), `-DOCSTART-` lines between documents.

    The scheme is IOB1 when some entity starts with I- (the original files), else BIO (IOB2 copies).
    """
    sentences: list[list[Row]] = []
    for block in blocks(numbered_lines(text), path):
        current: list[Row] = []
        for row in block:
            if row.fields[0] == DOCSTART:
                if current:
                    sentences.append(current)
                current = []
                continue
            current.append(row)
        if current:
            sentences.append(current)
    last = [len(sentences[0][0].fields) - 1] if sentences else [1]
    tags = _all_tags(sentences, last, path)
    scheme = tagging.check_scheme(scheme) if scheme else tagging.iob1_or_bio(tags)
    return [_tagged_sentence(rows, last, scheme, strict, path) for rows in sentences]


def read_bio(text: str, path: Any = None, *, scheme: str | None = None, strict: bool = True) -> list[Sentence]:
    """Two columns `token<TAB>tag`; the scheme is BIOES when E- or S- tags occur, else BIO (IOB2).

    Strict by default: I-X must follow B-X or I-X. `strict=False` reads I- after O as a new entity.
    """
    sentences = list(blocks(numbered_lines(text), path))
    if sentences and len(sentences[0][0].fields) != 2:
        n = len(sentences[0][0].fields)
        raise CorpusError(f"bio expects 2 columns (token, tag), found {n}; try layered-bio or conll2003",
                          path, sentences[0][0].line)
    tags = _all_tags(sentences, [1], path)
    scheme = tagging.check_scheme(scheme) if scheme else tagging.detect_scheme(tags)
    return [_tagged_sentence(rows, [1], scheme, strict, path) for rows in sentences]


def _has_index_column(lines: list[tuple[int, str]]) -> bool:
    """GermEval-style files put a running token number before the token and `#` comment lines before sentences."""
    tabbed = is_tabbed(lines, "#")
    for _, line in lines:
        if line.strip() and not line.startswith("#"):
            fields = split_fields(line, tabbed)
            return len(fields) >= 3 and fields[0].isdigit() and not tagging.looks_like_tag(fields[1])
    return False


def read_layered_bio(
    text: str, path: Any = None, *, scheme: str | None = None, strict: bool = True, index_column: bool | None = None
) -> list[Sentence]:
    """One tag column per nesting level: `[n] token tag_level1 tag_level2 ...`.

    Each column is decoded on its own and the entities of all levels are joined. A leading token
    number column (GermEval 2014) is found by itself; in such files `#` lines are comments.
    """
    lines = numbered_lines(text)
    if index_column is None:
        index_column = _has_index_column(lines)
    sentences = list(blocks(lines, path, comment="#" if index_column else None, min_columns=3 if index_column else 2))
    if index_column:
        for rows in sentences:
            for k, r in enumerate(rows, 1):
                if r.fields[0] != str(k):
                    raise CorpusError(f"token number {r.fields[0]!r} where {k} was expected", path, r.line)
        sentences = [[Row(r.line, r.fields[1:]) for r in rows] for rows in sentences]
    columns = list(range(1, len(sentences[0][0].fields))) if sentences else []
    tags = _all_tags(sentences, columns, path)
    scheme = tagging.check_scheme(scheme) if scheme else tagging.detect_scheme(tags)
    return [_tagged_sentence(rows, columns, scheme, strict, path) for rows in sentences]


def _expect(cond: bool, reason: str, path: Any, line: int) -> None:
    if not cond:
        raise CorpusError(reason, path, line)


def _tokens(record: dict, key: str, path: Any, line: int) -> list[str]:
    tokens = record.get(key)
    _expect(isinstance(tokens, list), f"{key!r} must be a list of strings", path, line)
    _expect(all(isinstance(t, str) for t in tokens), f"{key!r} holds a value that is not a string", path, line)
    return tokens


def _int(value: Any, what: str, path: Any, line: int) -> int:
    _expect(isinstance(value, int) and not isinstance(value, bool), f"{what} must be an integer, got {value!r}", path, line)
    return value


def _shown(indices: list[int]) -> str:
    """Indices for a message: a long list is cut, so a hostile entity cannot make a huge error."""
    if len(indices) <= 8:
        return str(indices)
    return f"[{', '.join(map(str, indices[:4]))}, ... {indices[-1]}] ({len(indices)} indices)"


def _entity(indices: list[int], type_: Any, n: int, path: Any, line: int, strictly_sorted: bool = True) -> Entity:
    _expect(isinstance(type_, str) and type_.strip() != "", f"entity {_shown(indices)} has an empty type", path, line)
    bad = [i for i in indices if not 0 <= i < n]
    _expect(not bad, f"entity {_shown(indices)} ({type_}): index {bad[0] if bad else ''} out of range for {n} tokens",
            path, line)
    try:
        return Entity(tuple(indices), type_) if strictly_sorted else Entity.of(indices, type_)
    except EntityError as exc:
        raise EntityError(exc.reason, path, line) from None


_ENTITY_LISTS = {"w2ner": "ner", "genia": "entity_mentions", "jsonl": "entities"}
"""The key holding each JSON format's entities: a record with another format's key was given the wrong --format."""


def _records(text: str, path: Any, format: str) -> list[tuple[int, dict]]:
    own = _ENTITY_LISTS[format]
    out = []
    for line, record in json_records(text, path):
        _expect(isinstance(record, dict), f"expected a JSON object, got {type(record).__name__}", path, line)
        if own not in record:
            other = next((f for f, key in _ENTITY_LISTS.items() if key in record and f != format), None)
            if other is not None:
                raise CorpusError(f"the record has {_ENTITY_LISTS[other]!r}, not {own!r}: it is {other}, not "
                                  f"{format} (pass --format {other}, or omit --format)", path, line)
        out.append((line, record))
    return out


def _read_index_records(text: str, path: Any, format: str, tokens_key: str, index_key: str, item: str,
                        id_key: str | None) -> list[Sentence]:
    """JSON records holding tokens and a list of {index list, type} items (W2NER and the canonical format)."""
    out = []
    for line, r in _records(text, path, format):
        tokens = _tokens(r, tokens_key, path, line)
        list_key = _ENTITY_LISTS[format]
        raw = r.get(list_key, [])
        _expect(isinstance(raw, list), f"'{list_key}' must be a list", path, line)
        entities = []
        for e in raw:
            _expect(isinstance(e, dict) and isinstance(e.get(index_key), list),
                    f"{item} needs an '{index_key}' list", path, line)
            idx = [_int(i, "an index", path, line) for i in e[index_key]]
            entities.append(_entity(idx, e.get("type"), len(tokens), path, line))
        sid = None if id_key is None else r.get(id_key)
        out.append(_sentence(tokens, entities, path, line, None if sid is None else str(sid)))
    return out


def read_w2ner(text: str, path: Any = None) -> list[Sentence]:
    """W2NER JSON: `{"sentence": [...], "ner": [{"index": [ascending ids], "type": T}]}`, as a list or JSON lines."""
    return _read_index_records(text, path, "w2ner", "sentence", "index", "a 'ner' item", None)


def _squeeze(s: str) -> str:
    return re.sub(r"\s+", "", s)


def read_genia(text: str, path: Any = None, *, check_text: bool = True) -> list[Sentence]:
    """GENIA-style JSON lines: `tokens`, `entity_mentions` with `start`, exclusive `end`, `entity_type`.

    When a mention carries `text`, it must equal its tokens (spaces aside): a mismatch means
    shifted offsets, which would otherwise pass unnoticed.
    """
    out = []
    for line, r in _records(text, path, "genia"):
        tokens = _tokens(r, "tokens", path, line)
        mentions = r.get("entity_mentions", [])
        _expect(isinstance(mentions, list), "'entity_mentions' must be a list", path, line)
        entities = []
        for m in mentions:
            _expect(isinstance(m, dict), "an entity mention must be an object", path, line)
            start = _int(m.get("start"), "'start'", path, line)
            end = _int(m.get("end"), "'end'", path, line)
            _expect(start < end, f"mention [{start}, {end}) is empty ('end' is exclusive)", path, line)
            _expect(0 <= start and end <= len(tokens),
                    f"mention [{start}, {end}) out of range for {len(tokens)} tokens", path, line)
            entity = _entity(list(range(start, end)), m.get("entity_type"), len(tokens), path, line)
            if check_text and isinstance(m.get("text"), str):
                got = " ".join(tokens[start:end])
                _expect(_squeeze(got) == _squeeze(m["text"]),
                        f"mention [{start}, {end}) covers {got!r} but its text is {m['text']!r}", path, line)
            entities.append(entity)
        sid = r.get("sent_id", r.get("id"))
        out.append(_sentence(tokens, entities, path, line, None if sid is None else str(sid)))
    return out


def read_jsonl(text: str, path: Any = None) -> list[Sentence]:
    """The project's canonical JSON lines: `{"tokens", "entities": [{"indices", "type"}], "id"?}`."""
    return _read_index_records(text, path, "jsonl", "tokens", "indices", "an entity", "id")


_SPANS = re.compile(r"^\d+,\d+(,\d+,\d+)*$")


def parse_bartner_entities(annotation: str, n: int, path: Any, line: int) -> list[Entity]:
    """`s,e[,s2,e2...] TYPE|...` with inclusive ends."""
    entities = []
    for item in annotation.split("|"):
        parts = item.split(" ")
        _expect(len(parts) == 2 and _SPANS.match(parts[0]) is not None and parts[1] != "",
                f"annotation {item!r} is not 's,e[,s2,e2...] TYPE'", path, line)
        bounds = [int(x) for x in parts[0].split(",")]
        fragments = sorted(zip(bounds[::2], bounds[1::2]))
        indices: list[int] = []
        for s, e in fragments:
            _expect(s <= e, f"annotation {item!r}: fragment {s},{e} ends before it starts (ends are inclusive)", path, line)
            _expect(e < n, f"annotation {item!r}: index {e} out of range for {n} tokens", path, line)
            _expect(not indices or s > indices[-1], f"annotation {item!r}: fragments overlap", path, line)
            indices.extend(range(s, e + 1))
        entities.append(_entity(indices, parts[1], n, path, line))
    return entities


def read_bartner(text: str, path: Any = None) -> list[Sentence]:
    """BARTNER's discontinuous format: a sentence line, an annotation line (may be empty), a blank line."""
    out = []
    group: list[tuple[int, str]] = []
    for number, line in numbered_lines(text) + [(0, "")]:
        if line.strip():
            group.append((number, line))
            continue
        if not group:
            continue
        _expect(len(group) <= 2, "expected a sentence line and one annotation line before a blank line",
                path, group[2][0] if len(group) > 2 else 0)
        (first, sentence), *ann = group
        tokens = sentence.split(" ")
        _expect("" not in tokens, "empty token (two spaces in a row or a leading space)", path, first)
        entities = parse_bartner_entities(ann[0][1], len(tokens), path, ann[0][0]) if ann else []
        out.append(_sentence(tokens, entities, path, first))
        group = []
    return out


READERS: dict[str, Callable[..., list[Sentence]]] = {
    "conll2003": read_conll2003,
    "bio": read_bio,
    "layered-bio": read_layered_bio,
    "w2ner": read_w2ner,
    "genia": read_genia,
    "bartner": read_bartner,
    "jsonl": read_jsonl,
}


def reader_options(format: str) -> list[str]:
    params = list(inspect.signature(READERS[format]).parameters.values())[2:]
    return [p.name for p in params]


def read_corpus(path: str | Path, format: str | None = None, **options: Any) -> Corpus:
    """Read a corpus file; the format is detected from the content when not given.

    Options go to the format's reader: `scheme` and `strict` for the tagged formats, `index_column`
    for layered-bio, `check_text` for genia. An empty file (or empty JSON list) is an empty corpus.
    """
    from .formats import detect_text

    text = read_text(path)
    if format is None:
        if not text.strip() or text.strip() == "[]":
            return Corpus([], source=str(path), format=None)
        format = detect_text(text, path)
    if format not in READERS:
        raise UnknownFormatError(f"unknown format {format!r}; readable formats: {', '.join(READERS)}", path)
    unknown = sorted(set(options) - set(reader_options(format)))
    if unknown:
        takes = ", ".join(reader_options(format)) or "no options"
        raise CorpusError(f"format {format} does not take option(s) {', '.join(unknown)} (it takes {takes})", path)
    return Corpus(READERS[format](text, path, **options), source=str(path), format=format)
