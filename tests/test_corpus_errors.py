"""Bad input raises a typed error naming the file, the line and the reason."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from typeprior.model.corpus import CorpusError, EntityError, TagError, UnknownFormatError, detect_format, read_corpus
from typeprior.model.corpus.tagging import decode


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def raises(path: Path, error: type, line: int | None, words: str, **kw) -> CorpusError:
    with pytest.raises(error) as info:
        read_corpus(path, **kw)
    exc = info.value
    assert exc.path == str(path)
    assert exc.line == line
    assert words in exc.reason, exc.reason
    assert str(path) in str(exc) and (line is None or f":{line}:" in str(exc))
    return exc


def test_i_after_o_in_strict_bio_names_the_line(tmp_path):
    p = write(tmp_path, "a.conll", "a\tO\nb\tB-X\n\nc\tO\nd\tI-X\n")
    raises(p, TagError, 5, "I-X after O in strict BIO")
    c = read_corpus(p, strict=False)
    assert [list(e.indices) for e in c[1].entities] == [[1]]


def test_i_after_other_type_in_strict_bio(tmp_path):
    p = write(tmp_path, "b.conll", "a\tB-X\nb\tI-Y\n")
    raises(p, TagError, 2, "after an entity of type X")
    assert [(list(e.indices), e.type) for e in read_corpus(p, strict=False)[0].entities] == [([0], "X"), ([1], "Y")]


def test_iob1_scheme_reads_i_after_o(tmp_path):
    p = write(tmp_path, "c.conll", "a\tO\nb\tI-X\nc\tI-X\n")
    assert [list(e.indices) for e in read_corpus(p, scheme="iob1")[0].entities] == [[1, 2]]


def test_iob1_b_after_o_is_an_error_unless_lenient(tmp_path):
    p = write(tmp_path, "m.txt", "EU NNP I-NP I-ORG\nin IN O O\nParis NNP I-NP B-LOC\n")
    raises(p, TagError, 3, "B-LOC does not follow")
    assert [e.type for e in read_corpus(p, strict=False)[0].entities] == ["ORG", "LOC"]


@pytest.mark.parametrize("tags, line, words", [
    (["B-X", "O"], 2, "not closed by E-"),
    (["B-X", "I-X"], 2, "not closed by E-"),
    (["O", "E-X"], 2, "E-X after O"),
    (["B-X", "S-Y"], 2, "not closed by E-"),
])
def test_strict_bioes(tags, line, words):
    with pytest.raises(TagError) as info:
        decode(tags, "bioes", path="f.tsv")
    assert info.value.line == line and words in info.value.reason


def test_lenient_bioes_closes_open_entities():
    assert decode(["B-X", "O", "E-Y", "I-Z"], "bioes", strict=False) == [(0, 1, "X"), (2, 3, "Y"), (3, 4, "Z")]


@pytest.mark.parametrize("tag, words", [("B_PER", "unknown tag scheme"), ("PER", "unknown tag scheme"),
                                        ("X-PER", "unknown tag scheme"), ("B-", "empty type")])
def test_unknown_tags(tmp_path, tag, words):
    p = write(tmp_path, "t.conll", f"a\tO\nb\t{tag}\n")
    raises(p, TagError, 2, words, format="bio")


def test_s_tag_in_bio_scheme(tmp_path):
    p = write(tmp_path, "s.conll", "a\tB-X\nb\tS-X\n")
    raises(p, TagError, 2, "not part of scheme bio", scheme="bio")


def test_unknown_scheme_option(tmp_path):
    p = write(tmp_path, "s.conll", "a\tB-X\n")
    with pytest.raises(TagError, match="unknown tag scheme 'bilou'"):
        read_corpus(p, scheme="bilou")


def test_ragged_columns(tmp_path):
    p = write(tmp_path, "r.conll", "a\tO\nb\tB-X\textra\n")
    raises(p, CorpusError, 2, "ragged columns: 3 columns where line 1 has 2", format="bio")


def test_bio_with_three_columns_points_elsewhere(tmp_path):
    p = write(tmp_path, "r3.conll", "a\tO\tO\n")
    raises(p, CorpusError, 1, "try layered-bio", format="bio")


def test_undecodable_bytes_name_their_line(tmp_path):
    p = write(tmp_path, "u.conll", b"a\tO\nb\tO\nc\xff\xfe\tO\n")
    exc = raises(p, CorpusError, 3, "undecodable bytes ff at column 2", format="bio")
    assert "UTF-8" in exc.reason


def test_invalid_json_line(tmp_path):
    p = write(tmp_path, "bad.jsonl", '{"tokens": ["a"], "entities": []}\n{"tokens": ["b"], "entities": [}\n')
    raises(p, CorpusError, 2, "invalid JSON")


def test_invalid_json_in_a_list(tmp_path):
    p = write(tmp_path, "bad.json", '[\n{"sentence": ["a"], "ner": []},\n{"sentence": ["b"] "ner": []}\n]')
    raises(p, CorpusError, 3, "invalid JSON", format="w2ner")


def test_extra_data_after_list(tmp_path):
    p = write(tmp_path, "x.json", '[{"sentence": ["a"], "ner": []}]\n]\n')
    raises(p, CorpusError, 2, "extra data", format="w2ner")


def test_index_out_of_range_w2ner(tmp_path):
    rows = [{"sentence": ["a"], "ner": []}, {"sentence": ["a", "b"], "ner": [{"index": [1, 2], "type": "X"}]}]
    p = write(tmp_path, "o.json", "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]")
    raises(p, CorpusError, 3, "index 2 out of range for 2 tokens")


def test_unsorted_indices_w2ner(tmp_path):
    p = write(tmp_path, "u.json", json.dumps([{"sentence": ["a", "b"], "ner": [{"index": [1, 0], "type": "X"}]}]))
    raises(p, EntityError, 1, "not strictly increasing")


def test_empty_type(tmp_path):
    p = write(tmp_path, "e.jsonl", json.dumps({"tokens": ["a"], "entities": [{"indices": [0], "type": " "}]}))
    raises(p, CorpusError, 1, "empty type")


def test_genia_empty_span_and_text_mismatch(tmp_path):
    base = {"tokens": ["a", "b", "c"], "entity_mentions": []}
    empty = dict(base, entity_mentions=[{"start": 1, "end": 1, "entity_type": "X"}])
    p = write(tmp_path, "g.jsonl", json.dumps(base) + "\n" + json.dumps(empty) + "\n")
    raises(p, CorpusError, 2, "is empty ('end' is exclusive)")
    shifted = dict(base, entity_mentions=[{"start": 0, "end": 1, "entity_type": "X", "text": "a b"}])
    p = write(tmp_path, "g2.jsonl", json.dumps(shifted) + "\n")
    raises(p, CorpusError, 1, "covers 'a' but its text is 'a b'")
    assert len(read_corpus(p, check_text=False)[0].entities) == 1


def test_bartner_bad_annotations(tmp_path):
    p = write(tmp_path, "b.txt", "a b c\n0,1 X\n\nd e\n1,2 X\n\n")
    raises(p, CorpusError, 5, "index 2 out of range for 2 tokens")
    p = write(tmp_path, "b2.txt", "a b c\n2,1 X\n\n")
    raises(p, CorpusError, 2, "ends before it starts", format="bartner")
    p = write(tmp_path, "b3.txt", "a b c\n0,1 X\nextra\n\n")
    raises(p, CorpusError, 3, "expected a sentence line and one annotation line", format="bartner")
    p = write(tmp_path, "b4.txt", "a b c\n0,1\n\n")
    raises(p, CorpusError, 2, "is not 's,e[,s2,e2...] TYPE'", format="bartner")


def test_wrong_json_shape(tmp_path):
    p = write(tmp_path, "s.json", json.dumps([["a", "b"]]))
    with pytest.raises(UnknownFormatError) as info:
        read_corpus(p)
    assert info.value.line == 1
    raises(p, CorpusError, 1, "expected a JSON object", format="w2ner")
    p = write(tmp_path, "k.json", json.dumps([{"words": ["a"]}]))
    raises(p, UnknownFormatError, 1, "match no known format")


def test_undetectable_and_unknown_formats(tmp_path):
    p = write(tmp_path, "plain.txt", "just some words\nand more words here\n")
    raises(p, UnknownFormatError, 1, "pass --format")
    with pytest.raises(UnknownFormatError, match="unknown format 'xml'"):
        read_corpus(p, "xml")
    with pytest.raises(UnknownFormatError, match="empty"):
        detect_format(write(tmp_path, "empty.txt", ""))


def test_missing_file_and_unknown_option(tmp_path):
    raises(tmp_path / "nope.conll", CorpusError, None, "no such file")
    p = write(tmp_path, "a.json", json.dumps([{"sentence": ["a"], "ner": []}]))
    raises(p, CorpusError, None, "does not take option(s) scheme", scheme="bio")
