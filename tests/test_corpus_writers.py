"""Writers: round trips through every writable format, clear errors where a format cannot express a corpus."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typeprior.model.corpus import (
    WRITABLE_FORMATS,
    Corpus,
    CorpusError,
    Entity,
    Sentence,
    UnknownFormatError,
    UnwritableError,
    read_corpus,
    write_corpus,
)
from typeprior.model.corpus import tagging
from typeprior.model.corpus.writers import WRITERS, levels

FLAT = [
    Sentence(["EU", "rejects", "German", "call"], [Entity.span(0, 1, "ORG"), Entity.span(2, 3, "MISC")], "s1"),
    Sentence(["New", "York", "and", "Los", "Angeles"], [Entity.span(0, 2, "LOC"), Entity.span(3, 5, "LOC")]),
    Sentence(["nothing", "here"]),
]
NESTED = FLAT + [Sentence(["Bank", "of", "China", "now"], [Entity.span(0, 3, "ORG"), Entity.span(2, 3, "GPE")])]
DISCONTINUOUS = NESTED + [
    Sentence(["pain", "in", "legs", "and", "arms"], [Entity.span(0, 3, "ADR"), Entity((0, 1, 4), "ADR")])
]
CAN_WRITE = {
    "jsonl": DISCONTINUOUS, "w2ner": DISCONTINUOUS, "bartner": DISCONTINUOUS,
    "genia": NESTED, "layered-bio": NESTED, "bio": FLAT,
}


def content(sentences) -> list[tuple[list[str], list[Entity]]]:
    return [(s.tokens, s.entities) for s in sentences]


def test_every_writable_format_is_covered():
    assert set(WRITERS) == set(WRITABLE_FORMATS) == set(CAN_WRITE)


@pytest.mark.parametrize("fmt", WRITABLE_FORMATS)
def test_round_trip_detects_and_reads_back(tmp_path, fmt):
    sentences = CAN_WRITE[fmt]
    out = write_corpus(Corpus(sentences), tmp_path / f"out.{fmt}", fmt)
    back = read_corpus(out)
    assert back.format == fmt
    assert content(back) == content(sentences)


def test_jsonl_keeps_ids_and_genia_writes_sent_id(tmp_path):
    assert read_corpus(write_corpus(FLAT, tmp_path / "a.jsonl", "jsonl"))[0].id == "s1"
    assert read_corpus(write_corpus(FLAT, tmp_path / "a.genia", "genia"))[0].id == "s1"


@pytest.mark.parametrize("scheme", ["bio", "bioes", "iob1"])
def test_bio_schemes_round_trip(tmp_path, scheme):
    out = write_corpus(FLAT, tmp_path / f"{scheme}.tsv", "bio", scheme=scheme)
    assert content(read_corpus(out, scheme=scheme)) == content(FLAT)


def test_bartner_text_layout(tmp_path):
    out = write_corpus(DISCONTINUOUS[-1:] + FLAT[-1:], tmp_path / "d.txt", "bartner")
    assert out.read_text() == "pain in legs and arms\n0,2 ADR|0,1,4,4 ADR\n\nnothing here\n\n\n"


@pytest.mark.parametrize("fmt, sentences, words", [
    ("bio", NESTED, "sentence 4 has a nested entity [0, 1, 2] (ORG); bio cannot express nested"),
    ("bio", [Sentence(["pain", "in", "arms"], [Entity((0, 2), "ADR")])],
     "sentence 1 has a discontinuous entity [0, 2] (ADR); bio cannot express discontinuous entities (write jsonl"),
    ("genia", DISCONTINUOUS, "sentence 5 has a discontinuous entity"),
    ("layered-bio", DISCONTINUOUS, "sentence 5 has a discontinuous entity"),
])
def test_unwritable_corpus_names_first_sentence_and_leaves_old_file(tmp_path, fmt, sentences, words):
    target = tmp_path / "keep.txt"
    target.write_text("old content")
    with pytest.raises(UnwritableError) as info:
        write_corpus(sentences, target, fmt)
    assert words in info.value.reason and info.value.path == str(target)
    assert target.read_text() == "old content"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_tab_separated_formats_keep_spaces_inside_tokens(tmp_path):
    sentences = [Sentence(["ER- cells", "x"], [Entity.span(0, 1, "cell_type")])]
    for fmt in ("bio", "layered-bio"):
        assert content(read_corpus(write_corpus(sentences, tmp_path / fmt, fmt))) == content(sentences)
    with pytest.raises(UnwritableError, match="token 0 'ER- cells' is empty or holds whitespace"):
        write_corpus(sentences, tmp_path / "b.txt", "bartner")


@pytest.mark.parametrize("sentence, words", [
    (Sentence(["New\tYork", "is"], [Entity.span(0, 1, "LOC")]), "token 0 'New\\tYork' is empty or holds whitespace"),
    (Sentence(["a", " b"]), "token 1 ' b' is empty or holds whitespace"),
    (Sentence([]), "has no tokens"),
    (Sentence(["a"], [Entity.span(0, 1, "two words")]), "type 'two words' holds whitespace"),
])
@pytest.mark.parametrize("fmt", ["bio", "layered-bio", "bartner"])
def test_text_formats_refuse_what_they_cannot_hold(tmp_path, sentence, words, fmt):
    with pytest.raises(UnwritableError, match="sentence 1"):
        write_corpus([sentence], tmp_path / "x", fmt)
    with pytest.raises(UnwritableError) as info:
        write_corpus([sentence], tmp_path / "x", fmt)
    assert words in info.value.reason
    assert content(read_corpus(write_corpus([sentence], tmp_path / "ok.jsonl"))) == content([sentence])


def test_unknown_and_read_only_formats(tmp_path):
    with pytest.raises(UnknownFormatError, match="write bio"):
        write_corpus(FLAT, tmp_path / "x", "conll2003")
    with pytest.raises(CorpusError, match="does not take option"):
        write_corpus(FLAT, tmp_path / "x", "jsonl", scheme="bio")


def test_levels_put_outer_entities_first():
    e = NESTED[-1].entities
    assert levels(e) == [[Entity.span(0, 3, "ORG")], [Entity.span(2, 3, "GPE")]]
    same = [Entity.span(0, 2, "A"), Entity.span(0, 2, "B"), Entity.span(3, 4, "A")]
    assert [len(x) for x in levels(same)] == [2, 1]


@st.composite
def flat_spans(draw):
    n = draw(st.integers(1, 12))
    spans, i = [], 0
    while i < n:
        length = draw(st.integers(0, 3))
        if length and i + length <= n:
            spans.append((i, i + length, draw(st.sampled_from(["A", "B"]))))
            i += length
        else:
            i += 1
    return n, spans


@settings(max_examples=150, deadline=None)
@given(flat_spans(), st.sampled_from(tagging.SCHEMES))
def test_tag_encoding_round_trips(case, scheme):
    n, spans = case
    assert tagging.decode(tagging.encode(spans, n, scheme), scheme) == spans


def test_writing_onto_a_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="is a directory"):
        write_corpus(FLAT, tmp_path, "jsonl")
    assert os.listdir(tmp_path) == []
