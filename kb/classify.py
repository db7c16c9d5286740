"""Decide the entity type of a page under a scheme from its evidence.

Evidence, strongest first: the infobox template, the name's head word when it is one of the scheme's class nouns
of names ("Maya civilization", "Odrysian kingdom"), the head of the Wikidata short description, the head word of
the name, the scheme's patterns over the whole description ("Branch of Protestantism", "Period of Roman history"),
the page's own categories, the snapshot topic. A page whose name is used as a common noun in its own text
("a desert is ...") is not a named entity and is only typed by an infobox, unless the scheme's types are common
nouns themselves (`common_nouns: true`: symptoms, proteins, cell types, where "insulin is ..." is the normal way to
write). Beyond the infobox, a page must be written as a name (sentence-case titles are concepts), and the topic,
the weakest evidence, also needs an extract that names a thing rather than defining a kind (kb/README.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .schemes import Scheme

_HEAD_STOP = re.compile(
    r"(?<=\S)\s(?:in|of|by|from|on|for|at|with|to|found|located|situated|based|that|who|which|near|between|during|within|resulting|characterized|characterised|caused|causing|involving|affecting|due"
    r"|primarily|mainly|largely|mostly|chiefly|partly|spanning|straddling|along|across|around|throughout|under|since"
    r"|founded|established|formed|headquartered|dedicated|devoted|providing|making|specialising|specializing|owned"
    r"|operated|consisting|comprising|known|named|created|developed|produced|published|written|directed|led|ruled"
    r"|associated|native|indigenous|originating|spoken|used|made|designed|composed|related|derived|performed|worn"
    r"|held|launched|adopted|signed|fought|played|celebrated|observed|usually|often|typically|commonly|traditionally"
    r"|concentrated|centred|centered)\s"
    r"|[,;(:]|\s[–—]\s",
    re.IGNORECASE,
)
# Lower-case words a proper name may hold: function words and the particles of personal names.
_NAME_PARTICLES = frozenset(
    "a an and as at by de del della der des di du da das dos den el en et for from in into la le les los of on or "
    "the to upon van von vs with y e bin ibn wa al ter zu es und no bint ben las de' 't off".split()
)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    """What a page offers for typing, whatever its source."""

    title: str
    infoboxes: tuple[str, ...] = ()
    description: str | None = None
    categories: tuple[str, ...] = ()
    topic: str | None = None
    text: str = ""
    common_use: bool = False  # the source's other texts use the name more often in lower case than capitalised


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
    """True when the text uses the name in lower case as an ordinary word (the page is about a concept). A name
    led by an article ("The Beatles") is a name: "the Beatles" in running text is no common noun; so is a name
    with a capitalised later word, whose first word running text may write in lower case."""
    if not text or not name[:1].isupper() or name.lower() == name or _ARTICLE.match(name):
        return False
    if any(w[:1].isupper() for w in re.split(r"\s+of\s+", name, maxsplit=1)[0].split()[1:]):
        return False  # "the ancient Olympic Games", "the battleship Potemkin": a lower-case first word, still a name
    lowered = name[:1].lower() + name[1:]
    return re.search(r"(?<![\w\[|])" + re.escape(lowered) + r"s?\b", text) is not None


def looks_like_name(name: str, name_nouns: tuple[str, ...] = ()) -> bool:
    """True when every word of the name but its function words, name particles and the scheme's class nouns of
    names (`name_nouns`: "Czech language", "Han dynasty") is capitalised (or a number): Wikipedia writes titles in
    sentence case, so "Heavy metal music" is a concept and "Black Sabbath" a name."""
    for word in re.split(r"[\s]+", name.strip()):
        bare = re.sub(r"^(?:[dl]['’]|al-)", "", word).lstrip("\"'‘“(")
        if not bare or not bare[0].isalpha() or bare[0].isupper():
            continue
        if word.lower() not in _NAME_PARTICLES and word.lower() not in name_nouns:
            return False
    return True


def concept_extract(name: str, text: str, heads: tuple[str, ...]) -> bool:
    """True when the extract opens by defining a kind of thing, not naming one: "Sagas are ...", "Legalism refers to ...", or
    "Kabuki is a classical form of ..." with a head word of `heads` (form, genre, school, ...)."""
    first = text.strip()[:300]
    if re.match(re.escape(name) + r"(?:s\s+(?:are|were)|\s+refers\s+to)\b", first):
        return True
    m = re.match(r"[^.]*?\s(?:is|was|are|were)\s+(?:a|an|the)\s+([^.,;]{0,80})", first)
    if not m or not heads:
        return False
    words = re.findall(r"[a-z]+", m.group(1).lower())[:6]
    return any(w in heads for w in words)


def _title_head(name: str) -> str | None:
    """The head word of a multi-word name: "Florence Cathedral" → "Cathedral", "University of Oxford" →
    "University"; None for a one-word name."""
    core = re.split(r"\s+of\s+", _ARTICLE.sub("", name.strip()), maxsplit=1)
    words = core[0].split()
    if len(words) < 2 and len(core) == 1:
        return None
    return words[-1] if words else None


def classify(scheme: Scheme, ev: Evidence, name: str | None = None) -> TypeAssignment | None:
    """The type of the page under the scheme, or None when no evidence matches."""
    for box in ev.infoboxes:
        for spec in scheme.types:
            for pattern in spec.infoboxes:
                if fnmatchcase(box, pattern):
                    return TypeAssignment(spec.name, f"infobox:{box}")
    name = name or ev.title
    if not scheme.common_nouns and is_common_noun(name, ev.text) and not _qualified_as(scheme, ev, name):
        return None
    # a one-word name the other extracts write mostly in lower case ("war", "anger") is a word, unless the title
    # qualifies it ("Jaws (film)")
    ordinary_word = ev.common_use and ev.title == name
    proper = scheme.common_nouns or (looks_like_name(name, scheme.name_nouns) and not ordinary_word)
    head_word = _title_head(name) if proper else None
    own = (head_word or "").lower()
    if own in scheme.name_nouns:
        for spec in scheme.types:
            # a name that ends in its own class noun: "Maya civilization", "Qin dynasty", "Ottoman Empire"
            if own in {h.lower() for h in spec.title_heads}:
                return TypeAssignment(spec.name, f"title:{own}")
    desc = ev.description.strip().lower() if ev.description and proper else ""
    if desc and not any(desc.startswith(x) or x in desc for x in scheme.exclude_descriptions):
        head = description_head(desc)
        for part in [head] + head.split(" and "):
            best = _best_phrase(scheme, part)
            if best is not None:
                return TypeAssignment(best[0], f"description:{best[1]}")
    if head_word is not None:
        for spec in scheme.types:
            if head_word in spec.title_heads:
                return TypeAssignment(spec.name, f"title:{head_word}")
    for spec in scheme.types if desc else ():  # specific enough to hold where an exclusion ("branch of ") does not
        for pattern in spec.description_patterns:
            if re.search(pattern, desc, re.IGNORECASE):
                return TypeAssignment(spec.name, f"description-pattern:{pattern}")
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
    if ev.topic and proper and not ev.common_use and not _concept(scheme, ev, name):
        for spec in scheme.types:
            if ev.topic in spec.topics:
                return TypeAssignment(spec.name, f"topic:{ev.topic}")
    return None


def _concept(scheme: Scheme, ev: Evidence, name: str) -> bool:
    """True when a page the topic alone would type reads as a concept: its extract defines a kind of thing, its
    description's head is "concept" ("Metaphysical concept"), or its extract uses the name as a mass noun
    ("Graffiti is writing or drawings ...")."""
    if concept_extract(name, ev.text, scheme.concept_heads):
        return True
    head = description_head(ev.description) if ev.description else ""
    if head and head.split()[-1] in ("concept", "concepts"):
        return True
    mass_noun = (re.escape(name) + r"\s+(?:is|are)\s+(?!(?:a|an|the|one|any|part|considered|also|often|usually|"
                 r"commonly|widely|generally)\b)[a-z]+ing\b|" + re.escape(name) + r"\s+(?:is|are)\s+[a-z]+\s+or\s")
    return re.match(mass_noun, ev.text.strip()) is not None


def _best_phrase(scheme: Scheme, head: str) -> tuple[str, str] | None:
    """The type whose longest description phrase ends the head ("capital and largest city": tried whole, then
    per conjunct, so "Mosque and former church" is typed by "mosque")."""
    best: tuple[int, str, str] | None = None
    for spec in scheme.types:
        for phrase in spec.descriptions:
            if _ends_with_phrase(head.strip(), phrase) and (best is None or len(phrase) > best[0]):
                best = (len(phrase), spec.name, phrase)
    return (best[1], best[2]) if best else None


def _qualified_as(scheme: Scheme, ev: Evidence, name: str) -> bool:
    """True when the title's disambiguator is one of the scheme's description words and a word of the page's own
    description head ("Time (magazine)", "American news magazine"), and the text does not open by defining the word
    ("A model is ..."): the page is the named thing, whatever ordinary uses of the word its text makes."""
    m = re.search(r"\(([^)]*)\)\s*$", ev.title)
    if not m or not ev.description or re.match(r"(?:an?|the)\s+" + re.escape(name.lower()) + r"\b", ev.text.strip().lower()):
        return False
    words = set(re.findall(r"[\w-]+", description_head(ev.description)))
    qualifier = m.group(1).strip().lower().split()
    known = {phrase for spec in scheme.types for phrase in spec.descriptions}
    return bool(qualifier) and qualifier[-1] in words and qualifier[-1] in known
