"""Parse and type: turn a source's raw pages into typed entities, in-link counts and aliases.

Wikitext pages are parsed with mwparserfromhell (infobox, categories, wikilinks, redirects); extracts (the snapshot)
are typed from their short description and topic. In-links count the links from the source's other pages to a
title (through redirects); for extracts they count how often a title's name is mentioned in the other extracts.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Iterable

import pandas as pd

from .classify import Evidence, classify
from .schemes import Scheme
from .store import KBStore
from .wikitext import entity_name, parse_wikitext

_TOKEN = re.compile(r"\w+(?:[.'’&+-]\w+)*", re.UNICODE)


@dataclass(frozen=True)
class EntityCounts:
    pages: int
    redirects: int
    typed: dict[str, int]
    untyped: int

    @property
    def entities(self) -> int:
        return sum(self.typed.values())


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _qualifier_words(title: str) -> set[str]:
    m = re.search(r"\(([^)]*)\)\s*$", title)
    return {w.lower() for w in _tokens(m.group(1)) if len(w) > 3} if m else set()


def count_mentions(texts: dict[str, str], names: dict[str, str], max_words: int) -> Counter[str]:
    """How often each title's name occurs in the other texts: whole words, case-sensitive, the longest known name
    at each position winning; a name several titles share splits its count between them. A disambiguated title
    ("Republic (Plato)") counts a mention of its bare name only in a text that also has a word of its qualifier."""
    by_key: dict[str, list[str]] = {}
    qualifiers = {title: _qualifier_words(title) for title in names}
    for title, name in names.items():
        key = " ".join(_tokens(name))
        if key and len(key.split(" ")) <= max_words:
            by_key.setdefault(key, []).append(title)
    counts: Counter[str] = Counter()
    for own_title, text in texts.items():
        toks = _tokens(text)
        lowered: set[str] | None = None
        i = 0
        while i < len(toks):
            for n in range(min(max_words, len(toks) - i), 0, -1):
                sharers = by_key.get(" ".join(toks[i:i + n]))
                if sharers:
                    for title in sharers:
                        if title == own_title:
                            continue
                        if qualifiers[title]:
                            lowered = lowered if lowered is not None else {t.lower() for t in toks}
                            if not qualifiers[title] & lowered:
                                continue
                        counts[title] += 1.0 / len(sharers)
                    i += n
                    break
            else:
                i += 1
    return Counter({t: round(c) for t, c in counts.items() if round(c) > 0})


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """Case-sensitive counts of every word in the texts."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_tokens(text))
    return counts


def used_as_common_word(name: str, words: Counter[str]) -> bool:
    """True for a one-word name the texts write more often in lower case than capitalised ("Acting", "Imam"):
    across a corpus, a name keeps its capital and a common noun loses it (weak evidence is then not enough)."""
    if " " in name or not name[:1].isupper():
        return False
    lower = words.get(name.lower(), 0)
    return lower > 0 and lower >= words.get(name, 0)


def _type_page(scheme: Scheme, ev: Evidence, name: str, non_entity: list[str], rows: list[dict[str, str]]) -> int:
    """Type one page into `rows`; 1 when it stays untyped."""
    assignment = None if _non_entity(ev.title, non_entity) else classify(scheme, ev, name)
    if assignment is None:
        return 1
    rows.append({"title": ev.title, "entity_type": assignment.entity_type, "name": name, "evidence": assignment.evidence})
    return 0


def _non_entity(title: str, patterns: list[str]) -> bool:
    low = title.lower()
    return any(re.match(p, low) for p in patterns)


def extract_entities(store: KBStore, source_key: str, scheme: Scheme, settings: dict[str, Any]) -> EntityCounts:
    """Type every page of `source_key` under `scheme` and store entities, in-links and aliases (replacing any)."""
    non_entity = settings["typing"]["non_entity_titles"]
    redirects: dict[str, str] = {r["alias"]: r["title"] for r in store.query(
        "SELECT alias, title FROM kb_aliases WHERE source_key = $s", {"s": source_key})}
    links: Counter[str] = Counter()
    extracts: dict[str, str] = {}
    titles: list[str] = []
    rows: list[dict[str, str]] = []
    pending: list[tuple[str, str, Evidence]] = []
    untyped = 0
    for page in store.raw_pages(source_key):
        title = page["title"]
        if page["redirect_to"]:
            redirects[title] = page["redirect_to"]
            continue
        titles.append(title)
        name = entity_name(title)
        if page["content_kind"] == "wikitext":
            parsed = parse_wikitext(title, page["content"])
            if parsed.redirect_to:
                redirects[title] = parsed.redirect_to
                titles.pop()
                continue
            links.update(set(parsed.links))
            ev = Evidence(title, tuple(parsed.infoboxes), page["description"] or parsed.short_description,
                          tuple(parsed.categories), page["topic"], page["content"])
        else:
            extracts[title] = page["content"]
            pending.append((title, name, Evidence(title, (), page["description"], (), page["topic"], page["content"])))
            continue
        untyped += _type_page(scheme, ev, name, non_entity, rows)
    words = word_counts(extracts.values()) if pending else Counter()
    for title, name, ev in pending:
        ev = replace(ev, common_use=used_as_common_word(name, words))
        untyped += _type_page(scheme, ev, name, non_entity, rows)
    held = set(titles)
    inlinks: Counter[str] = Counter()
    for target, n in links.items():
        target = redirects.get(target, target)
        if target in held:
            inlinks[target] += n
    if extracts:
        inlinks.update(count_mentions(extracts, {t: entity_name(t) for t in held},
                                      int(settings["snapshot"]["max_mention_words"])))
    entities = pd.DataFrame(rows, columns=["title", "entity_type", "name", "evidence"])
    inlink_frame = pd.DataFrame({"title": list(inlinks), "inlinks": list(inlinks.values())},
                                columns=["title", "inlinks"])
    alias_frame = pd.DataFrame({"title": list(redirects.values()), "alias": list(redirects)},
                               columns=["title", "alias"])
    store.replace_derived(source_key, scheme.name, entities, inlink_frame, alias_frame)
    typed = Counter(r["entity_type"] for r in rows)
    return EntityCounts(len(titles), len(redirects), {t: typed.get(t, 0) for t in scheme.type_names}, untyped)
