"""Beam search with cross-attention keys shared by the beams of a sentence, and stopped sentences dropped from
the batch, decodes exactly as the plain path.

The plain path (`shared_cross=False, drop_done=None`) is what decoding did before: BART projects the
cross-attention keys and values for every beam row, the whole cache, cross part included, is reordered with the
beams at every step, the attention extras are appended to the cross keys at every step, and stopped sentences
stay in the batch to the end.
"""
from __future__ import annotations

import pytest
import torch

from test_model_training import MIXED
from test_variants import _encoder_inputs, tagger_for

from typeprior.model.attention import ExtraKV
from typeprior.model.batching import encode_sentences
from typeprior.model.corpus.document import Sentence
from typeprior.model.decoding import beam_decode, greedy_decode
from typeprior.model.generator import START
from typeprior.model.targets import END


# sentences of very different lengths (budgets of 11 to 36 steps): short ones stop long before the batch does
VARIED = [*MIXED[:5], Sentence(["Paris"]), Sentence("Mary visited".split()), Sentence([w for s in MIXED for w in s.tokens])]


def _encoded(variant: str, sentences: list[Sentence] = VARIED):
    torch.manual_seed(0)  # tagger_for perturbs the weights with the global generator
    t = tagger_for(variant)
    t.model.eval()
    batch = encode_sentences(sentences, t.encoder, t.vocab, with_labels=False)
    with torch.no_grad():
        return t.model, t.model.encode(**_encoder_inputs(batch))


@pytest.mark.parametrize("variant", ["baseline", "rp-tra", "full"])
def test_shared_cross_keys_and_dropped_sentences_decode_exactly_as_the_plain_path(variant: str, monkeypatch) -> None:
    model, state = _encoded(variant)
    plain = {k: beam_decode(model, state, k, shared_cross=False, drop_done=None) for k in (1, 3, 4)}
    # the comparison is not between empty outputs: entities are generated, and beam search finds other ones
    assert any(len(s) > 1 for s in plain[4])
    assert plain[4] != plain[1]
    assert greedy_decode(model, state) == plain[1] == greedy_decode(model, state, shared_cross=False)
    rows: list[int] = []
    step = model.decode_step
    monkeypatch.setattr(model, "decode_step", lambda *a, **kw: rows.append(a[1].shape[0]) or step(*a, **kw))
    for k in (3, 4):
        for shared, drop in ((True, None), (True, 0.25), (True, 0.01), (False, 0.01)):
            rows.clear()
            assert beam_decode(model, state, k, shared_cross=shared, drop_done=drop) == plain[k], (k, shared, drop)
            assert rows[0] == k * len(VARIED)
            if drop == 0.01:  # rows leave as soon as their sentence stops: some do before the last step
                assert min(rows) < rows[0] and rows == sorted(rows, reverse=True)
    with pytest.raises(ValueError, match="drop_done"):
        beam_decode(model, state, 3, drop_done=0.0)
    for shared, drop in ((True, 0.25), (True, 0.01), (False, 0.01), (True, 1.0)):
        rows.clear()
        assert greedy_decode(model, state, shared_cross=shared, drop_done=drop) == plain[1], (shared, drop)
        if drop == 0.01:  # finished sentences leave greedy decoding too
            assert min(rows) < rows[0] == len(VARIED) and rows == sorted(rows, reverse=True)
    with pytest.raises(ValueError, match="drop_done"):
        greedy_decode(model, state, drop_done=1.5)


@pytest.mark.parametrize("variant", ["rp-tra", "full"])
def test_shared_cross_cache_holds_what_bart_computes_for_every_beam(variant: str) -> None:
    model, state = _encoded(variant)
    b, beams = state.hidden.shape[0], 3
    expanded = state.index_select(torch.arange(b).repeat_interleave(beams))
    prev = torch.full((b * beams, 1), START, dtype=torch.long)
    with torch.no_grad():
        plain_logits, plain = model.decode_step(expanded, prev, model.new_cache())
        shared_logits, shared = model.decode_step(expanded, prev, model.cross_attention_cache(state, beams))
    assert torch.equal(shared_logits, plain_logits)
    layers = list(zip(plain.cross_attention_cache.layers, shared.cross_attention_cache.layers))
    assert len(layers) == model.config.bart.decoder_layers
    for p, s in layers:
        assert torch.equal(p.keys, s.keys) and torch.equal(p.values, s.values)


@pytest.mark.parametrize("variant", ["rp-tra", "full"])
def test_beam_rows_with_the_shared_cache_follow_the_teacher_forced_pass(variant: str) -> None:
    """Step-by-step logits of expanded beam rows with the shared cache equal one pass over their whole prefix."""
    model, state = _encoded(variant)
    b, beams = state.hidden.shape[0], 2
    expanded = state.index_select(torch.arange(b).repeat_interleave(beams))
    g = torch.Generator().manual_seed(0)
    steps = 5
    prev = torch.randint(1, model.pointer_offset + 3, (b * beams, steps), generator=g)
    prev[:, 0] = START
    with torch.no_grad():
        full, _ = model.decode_step(expanded, prev)
        cache = model.cross_attention_cache(state, beams)
        for step in range(steps):
            logits, cache = model.decode_step(expanded, prev[:, step : step + 1], cache)
            assert torch.allclose(logits[:, 0], full[:, step], atol=1e-4), step


def _layer_kv(batch: int = 2, length: int = 5) -> tuple[torch.Tensor, torch.Tensor, ExtraKV]:
    g = torch.Generator().manual_seed(0)
    key, value = torch.randn(batch, 2, length, 4, generator=g), torch.randn(batch, 2, length, 4, generator=g)
    extra = ExtraKV(torch.randn(1, 2, 3, 4, generator=g), torch.randn(1, 2, 3, 4, generator=g))
    return key, value, extra


def test_appended_extras_are_remembered_for_the_same_unchanged_keys_only() -> None:
    key, value, extra = _layer_kv()
    with torch.no_grad():
        k1, v1 = extra.appended_to(key, value, remember=True)
        assert torch.equal(k1, torch.cat([key, extra.key.expand(2, -1, -1, -1)], dim=2))
        assert torch.equal(v1, torch.cat([value, extra.value.expand(2, -1, -1, -1)], dim=2))
        k2, v2 = extra.appended_to(key, value, remember=True)
        assert k2 is k1 and v2 is v1
        key.add_(1.0)  # changed in place: appended again
        k3, _ = extra.appended_to(key, value, remember=True)
        assert k3 is not k1 and torch.equal(k3[:, :, :5], key)
        other = key.clone()  # equal values, another tensor
        assert extra.appended_to(other, value, remember=True)[0] is not k3
        assert extra.appended_to(key, value)[0] is not extra.appended_to(key, value)[0]


def test_appended_extras_with_gradients_are_not_remembered() -> None:
    key, value, extra = _layer_kv()
    key.requires_grad_(True)
    k1, _ = extra.appended_to(key, value, remember=True)
    k2, _ = extra.appended_to(key, value, remember=True)
    assert k1 is not k2 and k1.requires_grad
    k1.sum().backward()
    assert torch.equal(key.grad, torch.ones_like(key))


@pytest.mark.parametrize("variant", ["rp-tra", "full"])
def test_decoding_under_inference_mode_matches_no_grad(variant: str) -> None:
    model, state = _encoded(variant)
    expected = beam_decode(model, state, 4)
    torch.manual_seed(0)
    t = tagger_for(variant)
    t.model.eval()
    batch = encode_sentences(VARIED, t.encoder, t.vocab, with_labels=False)
    with torch.inference_mode():  # inference tensors keep no version counter: the extras are joined afresh
        inferred = t.model.encode(**_encoder_inputs(batch))
        assert beam_decode(t.model, inferred, 4) == expected
        assert greedy_decode(t.model, inferred) == greedy_decode(model, state)
