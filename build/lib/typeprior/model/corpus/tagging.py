"""Tag schemes for token-per-line corpora: IOB1, BIO (IOB2) and BIOES.

Decoding is strict by default, per scheme:
- iob1 (CoNLL-2003): an entity may start with I-; B- only separates two adjacent entities of one type.
- bio (IOB2): every entity starts with B-; I-X must follow B-X or I-X.
- bioes: B- opens, I- continues, E- closes, S- is a one-token entity.
With `strict=False` a broken sequence is read the way conlleval and seqeval read it: an I- (or E-)
that continues nothing starts a new entity, and an entity left open ends before the next O, B- or S-.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .errors import TagError

SCHEMES = ("iob1", "bio", "bioes")
_PREFIXES = {"iob1": "BI", "bio": "BI", "bioes": "BIES"}

Span = tuple[int, int, str]
"""(start, end exclusive, type)."""


def split_tag(tag: str) -> tuple[str, str | None]:
    """("O", None) or (prefix, type); raises TagError (without a location) on anything else."""
    if tag == "O":
        return "O", None
    prefix, sep, type_ = tag.partition("-")
    if not sep or len(prefix) != 1 or prefix not in "BIES":
        raise TagError(f"unknown tag scheme: tag {tag!r} is neither O nor B-/I-/E-/S- followed by a type")
    if not type_.strip():
        raise TagError(f"tag {tag!r} has an empty type")
    return prefix, type_


def looks_like_tag(field: str) -> bool:
    try:
        split_tag(field)
    except TagError:
        return False
    return True


def detect_scheme(tags: Sequence[str]) -> str:
    """bioes when any E- or S- tag occurs, else bio."""
    for tag in tags:
        if tag[:2] in ("E-", "S-"):
            return "bioes"
    return "bio"


def iob1_or_bio(tags: Sequence[str]) -> str:
    """iob1 when some entity starts with I- (the CoNLL-2003 original), else bio (an IOB2 copy)."""
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            return "iob1"
        prev = tag
    return "bio"


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise TagError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    return scheme


def decode(
    tags: Sequence[str],
    scheme: str,
    *,
    strict: bool = True,
    lines: Sequence[int] | None = None,
    path: str | Path | None = None,
) -> list[Span]:
    """Spans of a tag sequence; errors name `path` and the line of the offending tag (lines[i])."""
    check_scheme(scheme)
    allowed = _PREFIXES[scheme]
    spans: list[Span] = []
    open_: list = []  # [start, type] of the entity being read, if any

    def fail(i: int, reason: str) -> TagError:
        return TagError(reason, path, lines[i] if lines is not None else i + 1)

    def close(i: int, why: str) -> None:
        if not open_:
            return
        if strict and scheme == "bioes":
            raise fail(i, f"entity {open_[1]} opened by B- is not closed by E- before {why}")
        spans.append((open_[0], i, open_[1]))
        open_.clear()

    hint = " (pass strict=False / --lenient to start a new entity there, or scheme iob1)"
    for i, tag in enumerate(tags):
        try:
            prefix, type_ = split_tag(tag)
        except TagError as exc:
            raise fail(i, exc.reason) from None
        if prefix == "O":
            close(i, "an O tag")
            continue
        if prefix not in allowed:
            raise fail(i, f"tag {tag!r} is not part of scheme {scheme} (prefixes {', '.join(allowed)})")
        continues = bool(open_) and open_[1] == type_
        if prefix == "I":
            if continues:
                continue
            if strict and scheme != "iob1":
                after = f"after an entity of type {open_[1]}" if open_ else "after O"
                raise fail(i, f"I-{type_} {after} in strict {scheme.upper()}{hint}")
            if open_:
                spans.append((open_[0], i, open_[1]))
                open_.clear()
            open_[:] = [i, type_]
        elif prefix == "B":
            if strict and scheme == "iob1" and not continues:
                raise fail(i, f"B-{type_} does not follow an entity of type {type_}; IOB1 uses B- only between "
                              "two adjacent entities of one type (pass --scheme bio for IOB2 files)")
            close(i, f"B-{type_}")
            open_[:] = [i, type_]
        elif prefix == "E":
            if continues:
                spans.append((open_[0], i + 1, type_))
                open_.clear()
                continue
            if strict:
                after = f"after an entity of type {open_[1]}" if open_ else "after O"
                raise fail(i, f"E-{type_} {after} in strict BIOES{hint}")
            if open_:
                spans.append((open_[0], i, open_[1]))
                open_.clear()
            spans.append((i, i + 1, type_))
        else:  # S
            close(i, f"S-{type_}")
            spans.append((i, i + 1, type_))
    if open_:
        if strict and scheme == "bioes":
            raise fail(len(tags) - 1, f"entity {open_[1]} opened by B- is not closed by E- at the end of the sentence")
        spans.append((open_[0], len(tags), open_[1]))
    return spans


def encode(spans: Sequence[Span], length: int, scheme: str = "bio") -> list[str]:
    """Tags for non-overlapping spans (the caller checks that they do not overlap)."""
    check_scheme(scheme)
    tags = ["O"] * length
    for start, end, type_ in sorted(spans):
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{type_}"
            continue
        tags[start] = f"B-{type_}"
        for i in range(start + 1, end):
            tags[i] = f"I-{type_}"
        if scheme == "bioes":
            tags[end - 1] = f"E-{type_}"
    if scheme == "iob1":
        prev_end, prev_type = -1, None
        for start, end, type_ in sorted(spans):
            if not (start == prev_end and type_ == prev_type):
                tags[start] = f"I-{type_}"
            prev_end, prev_type = end, type_
    return tags
