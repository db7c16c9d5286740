"""The real corpora in ../shared/data give the counts published for them (skips when the folder is absent)."""
from __future__ import annotations

import pytest

from typeprior.model.corpus import detect_format, read_corpus, write_corpus

pytestmark = pytest.mark.data

# file, detected format, sentences, entities, discontinuous (README of the shared data folder)
PUBLISHED = [
    ("conll2003/eng.train", "conll2003", 14041, 23499, 0),
    ("conll2003/eng.testa", "conll2003", 3250, 5942, 0),
    ("wnut17/wnut17train.conll", "bio", 3394, 1975, 0),
    ("wnut17/emerging.dev.conll", "bio", 1009, 836, 0),
    ("wnut17/emerging.test.annotated", "bio", 1287, 1079, 0),
    ("cadec/train.json", "w2ner", 5444, 4428, 491),
    ("cadec/dev.json", "w2ner", 1110, 897, 93),
    ("genia/dev.jsonlines", "genia", 1765, 4714, 0),
]


@pytest.mark.parametrize("name, fmt, sentences, entities, discontinuous", PUBLISHED)
def test_published_counts(shared_data, name, fmt, sentences, entities, discontinuous):
    path = shared_data / name
    assert detect_format(path) == fmt
    stats = read_corpus(path).stats()
    assert (stats["sentences"], stats["entities"], stats["discontinuous"]) == (sentences, entities, discontinuous)
    assert stats["flat"] + stats["nested"] + stats["discontinuous"] == entities
    assert sum(stats["types"].values()) == entities


def test_conll_types_and_flatness(shared_data):
    stats = read_corpus(shared_data / "conll2003/eng.testa").stats()
    assert set(stats["types"]) == {"PER", "LOC", "ORG", "MISC"}
    assert stats["nested"] == 0 and stats["flat"] == 5942


def test_genia_is_nested_and_keeps_sentence_ids(shared_data):
    c = read_corpus(shared_data / "genia/dev.jsonlines")
    assert c.stats()["nested"] > 0
    assert set(c.types) == {"DNA", "RNA", "protein", "cell_type", "cell_line"}
    assert c[0].id and c[0].id.startswith("MEDLINE:")


@pytest.mark.parametrize("name, fmt", [
    ("cadec/dev.json", "bartner"),
    ("genia/dev.jsonlines", "layered-bio"),
    ("wnut17/emerging.dev.conll", "bio"),
])
def test_real_round_trips(shared_data, tmp_path, name, fmt):
    original = read_corpus(shared_data / name)
    back = read_corpus(write_corpus(original, tmp_path / f"out.{fmt}", fmt))
    assert back.format == fmt
    assert [(s.tokens, s.entities) for s in back] == [(s.tokens, s.entities) for s in original]
