"""Decide the entity type of a page under a scheme from its evidence.

Evidence, strongest first: the infobox template, the head of the Wikidata short description, the page's own
categories, the snapshot topic. A page whose name is used as a common noun in its own text ("a desert is ...")
is not a named entity and is only typed by an infobox, unless the scheme's types are common nouns themselves
(`common_nouns: true`: symptoms, proteins, cell types, where "insulin is ..." is the normal way to write).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .schemes import Scheme

_HEAD_STOP = re.compile(
    r"\s(?:in|of|by|from|on|for|at|with|found|located|situated|based|that|who|which|near|between|during|within|resulting|characterized|characterised|caused|causing|involving|affecting|due"
    r"|primarily|mainly|largely|mostly|chiefly|partly|spanning|straddling)\s|[,;(–—:]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Evidence:
    """What a page offers for typing, whatever its source."""

    title: str
    infoboxes: tuple[str, ...] = ()
    description: str | None = None
    categories: tuple[str, ...] = ()
    topic: str | None = None
    text: str = ""


@dataclass(frozen=True)
class TypeAssignment:
    entity_type: str
    evidence: str


def description_head(description: str) -> str:
    """The head phrase of a short description: "City in France" → "city", "1968 film by X" → "1968 film"."""
    head = _HEAD_STOP.split(" " + description.strip() + " ", maxsplit=1)[0]
    return re.sub(r"\s+", " ", head).strip().lower()


def _ends_with_phrase(head: str, phrase: str) -> bool:
    return head == phrase or head.endswith(" " + phrase) or head.endswith("-" + phrase)


def is_common_noun(name: str, text: str) -> bool:
    """True when the text uses the name in lower case as an ordinary word (the page is about a concept)."""
    if not text or not name[:1].isupper() or name.lower() == name:
        return False
    lowered = name[:1].lower() + name[1:]
    return re.search(r"(?<![\w\[|])" + re.escape(lowered) + r"s?\b", text) is not None


def classify(scheme: Scheme, ev: Evidence, name: str | None = None) -> TypeAssignment | None:
    """The type of the page under the scheme, or None when no evidence matches."""
    for box in ev.infoboxes:
        for spec in scheme.types:
            for pattern in spec.infoboxes:
                if fnmatchcase(box, pattern):
                    return TypeAssignment(spec.name, f"infobox:{box}")
    if not scheme.common_nouns and is_common_noun(name or ev.title, ev.text):
        return None
    if ev.description:
        desc = ev.description.strip().lower()
        if not any(desc.startswith(x) or x in desc for x in scheme.exclude_descriptions):
            head = description_head(desc)
            best: tuple[int, str, str] | None = None
            for spec in scheme.types:
                for phrase in spec.descriptions:
                    if _ends_with_phrase(head, phrase) and (best is None or len(phrase) > best[0]):
                        best = (len(phrase), spec.name, phrase)
            if best is not None:
                return TypeAssignment(best[1], f"description:{best[2]}")
    if ev.categories:
        votes: dict[str, int] = {}
        first: dict[str, str] = {}
        cats = [" " + c.lower() + " " for c in ev.categories]
        for spec in scheme.types:
            for pattern in spec.category_patterns:
                hits = [c for c in cats if pattern in c]
                if hits:
                    votes[spec.name] = votes.get(spec.name, 0) + len(hits)
                    first.setdefault(spec.name, hits[0].strip())
        if votes:
            winner = max(scheme.type_names, key=lambda t: votes.get(t, 0))
            return TypeAssignment(winner, f"category:{first[winner]}")
    if ev.topic:
        for spec in scheme.types:
            if ev.topic in spec.topics:
                return TypeAssignment(spec.name, f"topic:{ev.topic}")
    return None
