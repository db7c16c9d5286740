"""Each reader on small files written here, and format detection on them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from typeprior.model.corpus import FORMATS, Entity, Kind, detect_format, read_corpus

CONLL2003 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

In IN I-PP O
Paris NNP I-NP I-LOC
Lyon NNP I-NP B-LOC
and CC O O
Nice NNP I-NP I-LOC
"""

BIO = "Empire\tB-location\nState\tI-location\nBuilding\tI-location\n=\tO\nESB\tB-location\n\nhi\tO\n"
BIOES = "New\tB-LOC\nYork\tE-LOC\nis\tO\nbig\tO\nBob\tS-PER\n"
LAYERED = (
    "Bank\tB-ORG\tO\nof\tI-ORG\tO\nChina\tI-ORG\tB-GPE\n\n"
    "in\tO\tO\nBeijing\tB-GPE\tO\n"
)
GERMEVAL = (
    "#\thttp://de.wikipedia.org/wiki/Manfred_Korfmann [2009-10-17]\n"
    "1\tAufgrund\tO\tO\n2\tseiner\tO\tO\n3\tDeutschland-Karriere\tB-LOCpart\tO\n4\tin\tO\tO\n"
    "5\tBonner\tB-ORG\tB-LOCderiv\n6\tUni\tI-ORG\tO\n\n"
    "#\thttp://example.org [2009-10-18]\n1\tGanz\tO\tO\n"
)
W2NER = [
    {"sentence": ["Muscle", "Pain", "."], "ner": [{"index": [0, 1], "type": "ADR"}]},
    {"sentence": ["pain", "in", "legs", "and", "arms"], "ner": [{"index": [0, 1, 2], "type": "ADR"},
                                                           {"index": [0, 1, 4], "type": "ADR"}]},
    {"sentence": ["fine"], "ner": []},
]
GENIA = [
    {"tokens": ["IL-2", "gene", "expression"], "doc_id": "D1", "sent_id": "D1-0",
     "entity_mentions": [{"start": 0, "end": 2, "entity_type": "DNA", "text": "IL-2 gene"},
                         {"start": 0, "end": 1, "entity_type": "protein", "text": "IL-2"}]},
    {"tokens": ["none"], "doc_id": "D1", "sent_id": "D1-1", "entity_mentions": []},
]
BARTNER = "Muscle Pain .\n0,1 ADR\n\npain in legs and arms\n0,2 ADR|0,1,4,4 ADR\n\nfine\n\n\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def spans(sentence) -> list[tuple[list[int], str]]:
    return [(list(e.indices), e.type) for e in sentence.entities]


def test_conll2003_iob1_docstart_not_counted(tmp_path):
    p = write(tmp_path, "eng.train", CONLL2003)
    assert detect_format(p) == "conll2003"
    c = read_corpus(p)
    assert c.format == "conll2003"
    assert [s.tokens[0] for s in c] == ["EU", "Peter", "In"]
    assert spans(c[0]) == [([0], "ORG"), ([2], "MISC")]
    assert spans(c[1]) == [([0, 1], "PER")]
    # IOB1: B-LOC splits two adjacent LOC entities; I-LOC after O starts one
    assert spans(c[2]) == [([1], "LOC"), ([2], "LOC"), ([4], "LOC")]


def test_conll2003_iob2_copy_is_read_as_bio(tmp_path):
    p = write(tmp_path, "iob2.txt", "EU NNP I-NP B-ORG\nrejects VBZ I-VP O\nNew NNP I-NP B-LOC\nYork NNP I-NP I-LOC\n")
    assert detect_format(p) == "conll2003"
    assert spans(read_corpus(p)[0]) == [([0], "ORG"), ([2, 3], "LOC")]


def test_bio_two_columns(tmp_path):
    p = write(tmp_path, "wnut.conll", BIO)
    assert detect_format(p) == "bio"
    c = read_corpus(p)
    assert len(c) == 2
    assert spans(c[0]) == [([0, 1, 2], "location"), ([4], "location")]
    assert c[1].entities == []


def test_bioes_detected_from_tags(tmp_path):
    p = write(tmp_path, "bioes.tsv", BIOES)
    c = read_corpus(p)
    assert c.format == "bio"
    assert spans(c[0]) == [([0, 1], "LOC"), ([4], "PER")]


def test_layered_bio_gives_nested_entities(tmp_path):
    p = write(tmp_path, "nested.tsv", LAYERED)
    assert detect_format(p) == "layered-bio"
    c = read_corpus(p)
    assert spans(c[0]) == [([0, 1, 2], "ORG"), ([2], "GPE")]
    assert dict((e.type, k) for e, k in c[0].kinds()) == {"ORG": Kind.NESTED, "GPE": Kind.NESTED}
    assert spans(c[1]) == [([1], "GPE")]


def test_layered_bio_germeval_index_column_and_comments(tmp_path):
    p = write(tmp_path, "germeval.tsv", GERMEVAL)
    assert detect_format(p) == "layered-bio"
    c = read_corpus(p)
    assert len(c) == 2
    assert c[0].tokens[:2] == ["Aufgrund", "seiner"]
    assert spans(c[0]) == [([2], "LOCpart"), ([4], "LOCderiv"), ([4, 5], "ORG")]
    assert c[1].tokens == ["Ganz"]


@pytest.mark.parametrize("as_lines", [False, True])
def test_w2ner_list_or_lines(tmp_path, as_lines):
    text = "\n".join(json.dumps(r) for r in W2NER) if as_lines else json.dumps(W2NER, indent=1)
    p = write(tmp_path, "cadec.json", text)
    assert detect_format(p) == "w2ner"
    c = read_corpus(p)
    assert len(c) == 3
    assert spans(c[1]) == [([0, 1, 2], "ADR"), ([0, 1, 4], "ADR")]
    assert c.stats()["discontinuous"] == 1 and c.stats()["nested"] == 1


def test_genia_exclusive_end(tmp_path):
    p = write(tmp_path, "dev.jsonlines", "\n".join(json.dumps(r) for r in GENIA) + "\n")
    assert detect_format(p) == "genia"
    c = read_corpus(p)
    assert spans(c[0]) == [([0], "protein"), ([0, 1], "DNA")]
    assert c[0].id == "D1-0"
    assert c.stats() == {"sentences": 2, "entities": 2, "flat": 0, "nested": 2, "discontinuous": 0,
                         "types": {"DNA": 1, "protein": 1}}


def test_bartner_inclusive_ends_and_empty_annotation_line(tmp_path):
    p = write(tmp_path, "train.txt", BARTNER)
    assert detect_format(p) == "bartner"
    c = read_corpus(p)
    assert [s.tokens for s in c] == [["Muscle", "Pain", "."], "pain in legs and arms".split(), ["fine"]]
    assert spans(c[0]) == [([0, 1], "ADR")]
    assert spans(c[1]) == [([0, 1, 2], "ADR"), ([0, 1, 4], "ADR")]
    assert c[2].entities == []


def test_canonical_jsonl_with_ids(tmp_path):
    rows = [{"tokens": ["a", "b", "c"], "entities": [{"indices": [0, 2], "type": "X"}], "id": "s1"},
            {"tokens": ["d"], "entities": []}]
    p = write(tmp_path, "c.jsonl", "\n".join(json.dumps(r) for r in rows))
    assert detect_format(p) == "jsonl"
    c = read_corpus(p)
    assert [s.id for s in c] == ["s1", None]
    assert c[0].entities == [Entity((0, 2), "X")]


def test_duplicates_within_a_sentence_count_once(tmp_path):
    rec = {"sentence": ["a", "b"], "ner": [{"index": [0], "type": "X"}, {"index": [0], "type": "X"}]}
    c = read_corpus(write(tmp_path, "d.json", json.dumps([rec])))
    assert c.stats()["entities"] == 1


def test_bom_crlf_and_trailing_spaces(tmp_path):
    text = "\ufeffEmpire\tB-location  \r\nState\tI-location\r\n\t\r\nhi\tO \r\n"
    p = write(tmp_path, "bom.conll", text)
    assert detect_format(p) == "bio"
    c = read_corpus(p)
    assert [s.tokens for s in c] == [["Empire", "State"], ["hi"]]
    assert spans(c[0]) == [([0, 1], "location")]
    j = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps(W2NER).replace(", ", ",\r\n").encode())
    assert len(read_corpus(j)) == 3


def test_utf16_with_bom(tmp_path):
    p = write(tmp_path, "u16.tsv", BIO.encode("utf-16"))
    assert spans(read_corpus(p)[0]) == [([0, 1, 2], "location"), ([4], "location")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file_is_an_empty_corpus(tmp_path, fmt):
    p = write(tmp_path, "empty", "\ufeff\n\n")
    assert len(read_corpus(p, fmt)) == 0
    assert len(read_corpus(p)) == 0


def test_empty_sentences_in_json_are_kept(tmp_path):
    p = write(tmp_path, "e.json", json.dumps([{"sentence": [], "ner": []}, W2NER[0]]))
    c = read_corpus(p)
    assert [len(s.tokens) for s in c] == [0, 3]


def test_blank_line_runs_do_not_make_empty_sentences(tmp_path):
    p = write(tmp_path, "gaps.conll", "\n\n\na\tO\n\n\n\nb\tB-X\n\n")
    assert [s.tokens for s in read_corpus(p)] == [["a"], ["b"]]


def test_first_token_bracket_is_not_json(tmp_path):
    p = write(tmp_path, "brackets.conll", "[\tO\nhi\tB-X\n]\tO\n")
    assert detect_format(p) == "bio"
    assert spans(read_corpus(p)[0]) == [([1], "X")]


def test_explicit_format_overrides_detection(tmp_path):
    p = write(tmp_path, "two.tsv", "a\tB-X\tB-Y\n")
    assert read_corpus(p).format == "layered-bio"
    c = read_corpus(p, "conll2003")
    assert spans(c[0]) == [([0], "Y")]


def test_detection_reads_only_a_prefix_even_when_it_cuts_a_character(tmp_path, monkeypatch):
    from typeprior.model.corpus import formats

    records = [{"sentence": ["café"] * 3, "ner": [{"index": [0], "type": "X"}]}] * 50
    p = write(tmp_path, "one_line.json", json.dumps(records, ensure_ascii=False))
    raw = p.read_bytes()
    assert b"\n" not in raw
    first = len(json.dumps(records[0], ensure_ascii=False).encode()) + 1
    inside = raw.index("é".encode(), first) + 1  # the sample ends inside a two-byte character
    monkeypatch.setattr(formats, "_SAMPLE_BYTES", inside)
    assert detect_format(p) == "w2ner"
    monkeypatch.setattr(formats, "_SAMPLE_BYTES", 64)
    p2 = write(tmp_path, "long.conll", "".join(f"tok{i}\tB-X\n" for i in range(100)))
    assert detect_format(p2) == "bio"


def test_space_separated_columns_keep_unicode_space_tokens(tmp_path):
    p = write(tmp_path, "zh.txt", "北 B-GPE O\n\u3000 O O\n京 I-GPE O\n")
    c = read_corpus(p, "layered-bio", strict=False)
    assert c[0].tokens == ["北", "\u3000", "京"]
