"""The pointer model on a tiny random BART: shapes, masks, padding invariance, cache, decoding constraints."""
from __future__ import annotations

import pytest
import torch

from typeprior.model.batching import encode_sentences
from typeprior.model.corpus import Entity, Sentence
from typeprior.model.decoding import DecodeState, allowed_mask, beam_decode, greedy_decode
from typeprior.model.generator import PAD, START, PointerNER
from typeprior.model.predict import Tagger
from typeprior.model.targets import END, delinearize

TYPES = ["LOC", "PER", "ADR"]
SENTS = [
    Sentence("John Smith lives in New York".split(), [Entity.span(0, 2, "PER"), Entity.span(4, 6, "LOC")]),
    Sentence("Paris".split(), [Entity.span(0, 1, "LOC")]),
    Sentence("pain in left and right knee".split(), [Entity.of([0, 2, 5], "ADR"), Entity.of([0, 4, 5], "ADR")]),
]


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    torch.manual_seed(0)
    t = Tagger.from_backbone("tiny-random", TYPES, word_shape=True)
    with torch.no_grad():  # make the random model's choices less degenerate than the default init
        for p in t.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    t.model.eval()
    return t


def _batch(tagger: Tagger, sentences):
    return encode_sentences(sentences, tagger.encoder, tagger.vocab)


def test_forward_shapes_and_masks(tagger: Tagger) -> None:
    b = _batch(tagger, SENTS)
    out = tagger.model(**b.model_inputs())
    n_words = max(len(s.tokens) for s in SENTS)
    assert out.logits.shape == (3, b.labels.shape[1], 1 + len(TYPES) + n_words)
    assert out.loss is not None and torch.isfinite(out.loss) and out.relation_loss is None
    assert torch.equal(out.loss, out.entity_loss)
    state = out.encoder_state
    assert state.word_states.shape == (3, n_words, tagger.model.config.d_model)
    # pointers beyond "Paris" (one word) are masked to the lowest score
    floor = torch.finfo(out.logits.dtype).min
    assert (out.logits[1, :, 1 + len(TYPES) + 1 :] == floor).all()
    assert (out.logits[0, :, : 1 + len(TYPES) + 6] > floor).all()
    # labels use PAD beyond each target; the loss ignores them
    assert (b.labels[1, 3:] == PAD).all()


def test_sentence_alone_equals_sentence_in_padded_batch(tagger: Tagger) -> None:
    alone = _batch(tagger, SENTS[1:2])
    batch = _batch(tagger, SENTS)
    with torch.no_grad():
        a = tagger.model(**alone.model_inputs())
        b = tagger.model(**batch.model_inputs())
    t = alone.labels.shape[1]
    assert torch.allclose(a.logits[0, :, :5], b.logits[1, :t, :5], atol=1e-5)
    assert torch.allclose(a.encoder_state.word_states[0, :1], b.encoder_state.word_states[1, :1], atol=1e-5)
    assert tagger.predict_tokens([SENTS[1].tokens]).entities[0] == tagger.predict_tokens([s.tokens for s in SENTS]).entities[1]


def test_cached_steps_match_the_full_pass(tagger: Tagger) -> None:
    b = _batch(tagger, SENTS[:1])
    w = b.words
    m = tagger.model
    with torch.no_grad():
        state = m.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
        prev = torch.cat([torch.tensor([[START]]), b.labels[:, :-1]], dim=1)
        full, _ = m.decode_step(state, prev)
        cache = m.new_cache()
        steps = []
        for i in range(prev.shape[1]):
            logits, cache = m.decode_step(state, prev[:, i : i + 1], cache)
            steps.append(logits)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-5)


def test_allowed_outputs(tagger: Tagger) -> None:
    m: PointerNER = tagger.model
    word_mask = torch.tensor([[True, True, True, False]] * 4)
    st = DecodeState(
        open_last=torch.tensor([-1, 1, -1, 2]),
        finished=torch.tensor([False, False, True, False]),
        budget=torch.tensor([10, 10, 10, 3]),
        closed_last=torch.tensor([-1, -1, -1, -1]),
    )
    assert m.config.entity_structure is None  # an untrained model: no structure constraint
    a = allowed_mask(m, st, word_mask, step=0)
    c = len(TYPES)
    # nothing open: END or any real word, no type
    assert a[0].tolist() == [True] + [False] * c + [True, True, True, False]
    # open after word 1: a type or a later word, not END
    assert a[1].tolist() == [False] + [True] * c + [False, False, True, False]
    # finished: END only
    assert a[2].tolist() == [True] + [False] * (c + 4)
    # two steps left with an entity open: only a type may close it (END follows)
    last = allowed_mask(m, st, word_mask, step=1)
    assert last[3].tolist() == [False] + [True] * c + [False] * 4


@pytest.mark.parametrize("structure", ["discontinuous", "nested", "flat"])
def test_the_entity_structure_limits_pointers(tagger: Tagger, structure: str) -> None:
    m: PointerNER = tagger.model
    word_mask = torch.tensor([[True] * 5] * 2)
    # row 0: an entity open at word 1, none closed; row 1: nothing open, the last entity ended at word 2
    st = DecodeState(open_last=torch.tensor([1, -1]), finished=torch.tensor([False, False]),
                     budget=torch.tensor([10, 10]), closed_last=torch.tensor([-1, 2]))
    c = len(TYPES)
    m.config.entity_structure = structure
    try:
        a = allowed_mask(m, st, word_mask, step=0)
    finally:
        m.config.entity_structure = None
    inside = {"discontinuous": [2, 3, 4], "nested": [2], "flat": [2]}[structure]
    outside = {"discontinuous": [0, 1, 2, 3, 4], "nested": [0, 1, 2, 3, 4], "flat": [3, 4]}[structure]
    assert [i for i in range(5) if a[0, 1 + c + i]] == inside
    assert [i for i in range(5) if a[1, 1 + c + i]] == outside
    assert bool(a[0, 1:1 + c].all()) and bool(a[1, 0])  # a type closes, END ends, whatever the structure


@pytest.mark.parametrize("structure", ["nested", "flat"])
def test_decoding_keeps_to_the_entity_structure(tagger: Tagger, structure: str) -> None:
    from typeprior.model.corpus.document import Kind, kind_within

    b = _batch(tagger, SENTS)
    w = b.words
    m = tagger.model
    state = m.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
    m.config.entity_structure = structure
    try:
        outputs = [greedy_decode(m, state), beam_decode(m, state, num_beams=3)]
    finally:
        m.config.entity_structure = None
    allowed = {Kind.FLAT} if structure == "flat" else {Kind.FLAT, Kind.NESTED}
    found = 0
    for seqs in outputs:
        for s, seq in zip(SENTS, seqs):
            entities = delinearize(seq, tagger.vocab, num_words=len(s.tokens)).entities
            found += len(entities)
            assert {kind_within(e, entities) for e in entities} <= allowed, (structure, entities)
    assert found  # the random model does predict entities, so the check has something to check


def test_generated_sequences_are_well_formed(tagger: Tagger) -> None:
    b = _batch(tagger, SENTS)
    w = b.words
    m = tagger.model
    state = m.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
    for seqs in (greedy_decode(m, state), beam_decode(m, state, num_beams=3)):
        assert len(seqs) == 3
        for s, seq in zip(SENTS, seqs):
            assert seq[-1] == END
            n = len(s.tokens)
            assert len(seq) <= int(m.config.max_len + m.config.max_len_a * n) + 1
            assert delinearize(seq, tagger.vocab, num_words=n).dropped == 0


def _logprob(m: PointerNER, state, i: int, seq: list[int]) -> float:
    one = state.index_select(torch.tensor([i]))
    logits, _ = m.decode_step(one, torch.tensor([[START] + seq[:-1]]))
    return float(logits.log_softmax(-1)[0, torch.arange(len(seq)), torch.tensor(seq)].sum())


def test_beam_of_one_is_greedy(tagger: Tagger) -> None:
    b = _batch(tagger, SENTS)
    w = b.words
    m = tagger.model
    state = m.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
    assert beam_decode(m, state, num_beams=1) == greedy_decode(m, state)


def test_a_wide_beam_finds_the_best_well_formed_sequence(tagger: Tagger, monkeypatch) -> None:
    """Two words and a budget of five steps: few enough sequences to enumerate them all."""
    m = tagger.model
    monkeypatch.setattr(m.config, "max_len", 4)
    monkeypatch.setattr(m.config, "max_len_a", 0.0)
    sents = [Sentence(["New", "York"]), Sentence(["knee", "pain"])]
    w = _batch(tagger, sents).words
    p, types = tagger.vocab.pointer_offset, range(1, 1 + len(TYPES))
    entities = [[p + i for i in ws] + [t] for ws in ([0], [1], [0, 1]) for t in types]
    candidates = [[END]] + [e + [END] for e in entities] + [e + f + [END] for e in entities for f in entities if len(e + f) < 5]
    with torch.no_grad():
        state = m.encode(w.input_ids, w.attention_mask, w.word_index, w.word_mask, w.shape_ids)
        greedy = greedy_decode(m, state)
        for penalty in (0.0, 1.0):
            found = beam_decode(m, state, num_beams=64, length_penalty=penalty)
            for i in range(len(sents)):
                value = lambda c: _logprob(m, state, i, c) / len(c) ** penalty  # noqa: E731
                assert found[i] == max(candidates, key=value)
                assert value(found[i]) >= value(greedy[i]) - 1e-5
                assert delinearize(found[i], tagger.vocab, num_words=2).dropped == 0
            if penalty:
                assert any(len(f) > 1 for f in found)  # the averaged optimum is not the empty sequence


def test_mixed_precision_keeps_the_output_softmax_in_float32(tagger: Tagger) -> None:
    b = _batch(tagger, SENTS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = tagger.model(**b.model_inputs())
    assert out.logits.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    assert tagger.model.pointer_mlp[0].weight.grad is not None
    tagger.model.zero_grad(set_to_none=True)
