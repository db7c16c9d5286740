"""The typing rules on real snapshot pages: names against concepts, title heads, description conjuncts and stops,
the corpus-wide lower-case test, and the conll2003 and wnut17 types they give."""
from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache

import pytest

from typeprior.kb.classify import (Evidence, classify, concept_extract, description_head, is_common_noun,
                                   looks_like_name)
from typeprior.kb.entities import used_as_common_word, word_counts
from typeprior.kb.schemes import load_scheme
from typeprior.kb.sources.snapshot import snapshot_file
from typeprior.kb.wikitext import entity_name


@lru_cache(maxsize=1)
def _snapshot() -> tuple[dict[str, dict[str, str]], Counter[str]]:
    data = json.loads(snapshot_file().read_text(encoding="utf-8"))
    pages = {entry.get("title", key): entry for key, entry in data.items()}
    return pages, word_counts(entry["extract"] for entry in pages.values())


def typed(scheme: str, title: str) -> str | None:
    """The type the packaged scheme gives one real snapshot page, as a build would."""
    pages, words = _snapshot()
    entry, name = pages[title], entity_name(title)
    ev = Evidence(title, (), entry.get("description") or None, (), entry.get("topic") or None, entry["extract"],
                  used_as_common_word(name, words))
    got = classify(load_scheme(scheme), ev, name)
    return got.entity_type if got else None


@pytest.mark.parametrize("title, expected", [
    ("The New York Times", "ORG"),       # "the New York Times" in its own text is no common noun
    ("The Beatles", "ORG"),
    ("Time (magazine)", "ORG"),          # qualified by a description word of the scheme
    ("Le Monde", "ORG"),                 # "French daily newspaper founded in 1944": "founded" ends the head
    ("UNICEF", "ORG"),                   # "UN agency providing aid to children"
    ("Volkswagen", "ORG"),
    ("British Museum", "ORG"),
    ("Monty Python", "ORG"),             # a comedy group, not a person, though its topic is People
    ("Nestlé", "ORG"),                   # "food and drink company": the whole head first, then its conjuncts
    ("Florence Cathedral", "LOC"),       # a church building, not the Church
    ("Hagia Sophia", "LOC"),             # "Mosque and former church": the first conjunct
    ("Mayotte", "LOC"),                  # "Overseas department of France"
    ("Meroë", "LOC"),                    # "Ancient city along the eastern bank ...": "along" ends the head
    ("Mughal Empire", "LOC"),            # "1526–1857 empire in South Asia": a date range does not end the head
    ("Colosseum", "LOC"),
    ("Batman", "PER"),
    ("Thor", "PER"),
    ("Henry Ford", "PER"),
    ("Star Trek", "MISC"),
    ("Czech language", "MISC"),          # a class noun of names in a sentence-case title
    ("Basques", "MISC"),
    ("Cricket World Cup", "MISC"),       # by its title head "Cup"
    ("Heavy metal music", None),         # sentence case: a concept
    ("Kabuki", None),                    # "is a classical form of Japanese theatre"
    ("Artiodactyla", None),              # "Order of mammals"
    ("Legalism (Chinese philosophy)", None),
    ("Acting", None),                    # the other extracts write "acting"
    ("World War II", "MISC"),            # "Global conflict (1939–1945)"
    ("Heian period", "MISC"),            # a class noun of names, then "Period of Japanese history" (a pattern)
    ("Roman Republic", "LOC"),           # "Period of Roman history", but its head word "Republic" comes first
    ("Lutheranism", "MISC"),             # "Major branch of Protestantism": a pattern holds where "branch of " is excluded
    ("Mandarin Chinese", "MISC"),        # "Branch of the Chinese language family"
    ("Linux", "MISC"),                   # a pattern with \S keeps its case
    ("Zen", "MISC"),
    ("Great Depression", "MISC"),
    ("Maya civilization", "MISC"),       # a name that ends in its own class noun
    ("Phoenicia", "LOC"),                # "Ancient Semitic maritime civilization": a civilisation named for its land
    ("Odrysian kingdom", "LOC"),         # "Union of Thracian tribes ...": the class noun before the description
    ("Coptic Orthodox Church", "ORG"),   # "Christian denomination": the head word "Church"
    ("ABBA", "ORG"),                     # "Swedish pop group"
    ("Catherine de' Medici", "PER"),     # "de'" is a name particle
    ("Dar es Salaam", "LOC"),
    ("Ancient Olympic Games", "MISC"),   # "the ancient Olympic Games" in its text is still a name
    ("Battleship Potemkin", "MISC"),
    ("Jaws (film)", "MISC"),             # written "jaws" elsewhere, but its title qualifies it
    ("Anger", None),                     # "Intense hostile emotional state": a word the other extracts write in lower case
    ("Graffiti", None),                  # "Graffiti is writing or drawings ...": a mass noun
    ("Brahman", None),                   # "Metaphysical concept ..."
])
def test_conll2003_types_real_pages(title: str, expected: str | None) -> None:
    assert typed("conll2003", title) == expected


@pytest.mark.parametrize("title, expected", [
    ("The Beatles", "group"),
    ("Microsoft", "corporation"),
    ("The New York Times", "corporation"),
    ("Android (operating system)", "product"),
    ("Coca-Cola", "product"),
    ("Spirited Away", "creative-work"),
    ("Brooklyn Bridge", "location"),
    ("Barack Obama", "person"),
    ("Basques", None),                   # an ethnic group is no WNUT group
    ("Tea", None),                       # a generic drink is no product
])
def test_wnut17_types_real_pages(title: str, expected: str | None) -> None:
    assert typed("wnut17", title) == expected


def test_names_are_told_from_concepts_by_their_form() -> None:
    assert looks_like_name("Black Sabbath") and looks_like_name("Romeo and Juliet")
    assert looks_like_name("Ludwig van Beethoven") and looks_like_name("2001: A Space Odyssey")
    assert not looks_like_name("Heavy metal music") and not looks_like_name("Italian literature")
    assert looks_like_name("Czech language", ("language",)) and not looks_like_name("Czech language")
    assert not is_common_noun("The Beatles", "The Beatles were a band; the Beatles split in 1970.")
    assert concept_extract("Saga", "Sagas are prose stories.", ())
    assert concept_extract("Legalism", "Legalism refers to a school.", ())
    assert concept_extract("Kabuki", "Kabuki is a classical form of theatre.", ("form",))
    assert not concept_extract("Paris", "Paris is the capital of France.", ("form",))


def test_a_lower_case_first_word_before_a_capitalised_one_keeps_a_name() -> None:
    assert not is_common_noun("Ancient Olympic Games", "Games like the ancient Olympic Games were held.")
    assert is_common_noun("Cinema of China", "The cinema of China is large.")   # only the words before "of" count
    assert is_common_noun("Desert", "A desert is a barren area.")


def test_description_heads_stop_at_participles_and_spaced_dashes_only() -> None:
    assert description_head("French daily newspaper founded in 1944") == "french daily newspaper"
    assert description_head("1526–1857 empire in South Asia") == "1526–1857 empire"
    assert description_head("Alliance of various Eurasian nomads – 6th to 9th centuries") == "alliance"
    assert description_head("Indigenous people of Mesoamerica") == "indigenous people"
    assert description_head("Motorsport championship held worldwide") == "motorsport championship"
    assert description_head("Christian holiday usually on December 25") == "christian holiday"


def test_one_word_names_written_in_lower_case_elsewhere_lose_the_topic_fallback() -> None:
    words = word_counts(["Many take up acting.", "acting is hard", "Acting school", "Torah and Torah study"])
    assert used_as_common_word("Acting", words) and not used_as_common_word("Torah", words)
    assert not used_as_common_word("New York", words)
    scheme = load_scheme("conll2003")
    weak = Evidence("Acting", topic="Arts", text="Acting is an activity.", common_use=True)
    assert classify(scheme, weak) is None
    assert classify(scheme, Evidence("Torah", topic="Philosophy and religion")).entity_type == "MISC"
