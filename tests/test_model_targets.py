"""Target linearisation (entities → ids → entities), words → sub-words, raw text → words."""
from __future__ import annotations

import pytest

from typeprior.model.backbone import load_tokenizer, minilm_path
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.targets import END, TargetError, TargetVocab, delinearize, linearize
from typeprior.model.tokenization import SHAPE_DIGIT, SHAPE_LOWER, SHAPE_MIXED, SHAPE_OTHER, SHAPE_TITLE, SHAPE_UPPER, WordEncoder, split_words, word_shape

VOCAB = TargetVocab(("LOC", "PER", "ADR"))


def test_bartner_example_order_and_ids() -> None:
    # LOC words [0,1) and LOC words [2,5): pointers then type, sorted by (first, last) index, then END
    ents = [Entity.span(2, 5, "LOC"), Entity.span(0, 1, "LOC")]
    p = VOCAB.pointer_offset
    assert linearize(ents, VOCAB) == [p + 0, 1, p + 2, p + 3, p + 4, 1, END]


@pytest.mark.parametrize(
    "entities",
    [
        [],
        [Entity.span(0, 2, "PER"), Entity.span(4, 6, "LOC")],  # flat
        [Entity.span(0, 4, "LOC"), Entity.span(1, 2, "PER"), Entity.span(1, 3, "LOC")],  # nested
        [Entity.of([0, 2, 5], "ADR"), Entity.of([0, 4, 5], "ADR"), Entity.span(5, 6, "ADR")],  # discontinuous
    ],
)
def test_round_trip(entities: list[Entity]) -> None:
    ids = linearize(entities, VOCAB, num_words=6)
    back = delinearize(ids, VOCAB, num_words=6)
    assert back.dropped == 0
    assert back.entities == Sentence(["w"] * 6, entities).entities


def test_ill_formed_pieces_are_dropped_and_counted() -> None:
    p = VOCAB.pointer_offset
    seq = [1, p + 3, p + 1, 2, p + 0, p + 1, 3, p + 9, 1, p + 4]  # type first; decreasing; beyond; left open
    d = delinearize(seq + [END], VOCAB, num_words=6)
    assert d.entities == [Entity((0, 1), "ADR")]
    assert d.dropped == 4


def test_linearize_rejects_unknown_type_and_out_of_range() -> None:
    with pytest.raises(TargetError, match="ORG"):
        linearize([Entity.span(0, 1, "ORG")], VOCAB)
    with pytest.raises(TargetError, match="beyond"):
        linearize([Entity.span(0, 4, "LOC")], VOCAB, num_words=3)


def test_words_map_to_their_first_sub_word() -> None:
    enc = WordEncoder(load_tokenizer(minilm_path()))
    words = [["Tokenization", "of", "\u200b", "EU"], ["Hi"]]
    batch = enc.encode(words)
    tok = enc.tokenizer
    ids = batch.input_ids[0].tolist()
    first = batch.word_index[0].tolist()
    assert tok.convert_ids_to_tokens(ids[first[0]]) == "token"
    assert ids[first[2]] == tok.unk_token_id  # a word with no sub-word keeps a position as [UNK]
    assert first == sorted(first) and len(set(first)) == 4
    assert batch.word_mask.tolist() == [[True] * 4, [True, False, False, False]]
    assert batch.input_ids[1, batch.attention_mask[1].sum() :].eq(tok.pad_token_id).all()


def test_truncated_words_are_masked() -> None:
    enc = WordEncoder(load_tokenizer(minilm_path()), max_length=6)
    batch = enc.encode([["a", "b", "c", "d", "e", "f", "g"]])
    assert batch.word_mask[0].tolist() == [True] * 4 + [False] * 3


def test_split_words_keeps_character_offsets() -> None:
    text = "Dr. O'Neil flew to New York, (USA) on 3.5 days' notice."
    words = split_words(text)
    assert all(text[w.start : w.end] == w.text for w in words)
    assert [w.text for w in words][:6] == ["Dr", ".", "O'Neil", "flew", "to", "New"]
    assert "3.5" in [w.text for w in words]


def test_word_shapes() -> None:
    assert [word_shape(w) for w in ["paris", "Paris", "EU", "iPhone", "1990", "--", "I"]] == [
        SHAPE_LOWER, SHAPE_TITLE, SHAPE_UPPER, SHAPE_MIXED, SHAPE_DIGIT, SHAPE_OTHER, SHAPE_TITLE,
    ]


def test_long_sentences_split_into_pieces_that_fit() -> None:
    enc = WordEncoder(load_tokenizer(minilm_path()), max_length=12)
    words = ["tokenization", "is", "fun"] * 5  # "tokenization" is two sub-words
    pieces = enc.chunks(words)
    assert len(pieces) > 1
    assert [w for _, ws in pieces for w in ws] == words
    assert [first for first, _ in pieces] == [sum(len(ws) for _, ws in pieces[:i]) for i in range(len(pieces))]
    for _, ws in pieces:
        batch = enc.encode([ws])
        assert batch.word_mask[0].all()  # nothing truncated
    assert enc.chunks(["short", "one"]) == [(0, ["short", "one"])]
