"""The paper's variants end to end on a tiny random BART: gradients, padding, learning, save/load, baseline equality."""
from __future__ import annotations

import pytest
import torch

from test_model_training import MIXED, ModelRoundTrip, fast_training

from typeprior.model.attention import AttentionExtras
from typeprior.model.batching import encode_sentences
from typeprior.model.config import TypePriorConfig
from typeprior.model.decoding import beam_decode, greedy_decode
from typeprior.model.extended import ATTENTION_EXTRAS, ExtendedPointerNER
from typeprior.model.generator import PAD, START, PointerNER
from typeprior.model.predict import Tagger
from typeprior.model.targets import END
from typeprior.model.training import train

TYPES = sorted({e.type for s in MIXED for e in s.entities})
VARIANTS = ["baseline", "rp-tra", "rp-eta", "full"]
COMPONENTS = {
    "rp-tra": ["relation.grid", "relation.classifier", "relation_attention"],
    "rp-eta": ["relation.grid", "relation.classifier", "type_embeddings.names", "type_embeddings.priors.to_model",
               "type_prefix.mlps.encoder_self", "type_prefix.mlps.decoder_self", "type_prefix.mlps.decoder_cross"],
    "full": ["relation.grid", "relation.classifier", "relation_attention", "type_embeddings.names",
             "type_embeddings.priors.to_model", "type_prefix.mlps.encoder_self", "type_prefix.mlps.decoder_self",
             "type_prefix.mlps.decoder_cross"],
}


def kb_vectors(n: int = len(TYPES), seed: int = 1) -> torch.Tensor:
    """Stand-ins for knowledge-base type vectors: unit-length 384-d rows, as kb builds store them."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, 384, generator=g)
    return v / v.norm(dim=1, keepdim=True)


def tagger_for(variant: str, seed: int = 0, **config) -> Tagger:
    vectors = kb_vectors() if variant in ("rp-eta", "full") else None
    t = Tagger.from_backbone("tiny-random", TYPES, seed, type_vectors=vectors, variant=variant, **config)
    with torch.no_grad():  # less degenerate than the default init, so outputs differ between inputs
        for p in t.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return t


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_component(variant: str) -> None:
    t = tagger_for(variant)
    t.model.train()
    out = t.model(**encode_sentences(MIXED, t.encoder, t.vocab).model_inputs())
    assert (out.relation_loss is not None) == (variant != "baseline")
    if out.relation_loss is not None:
        assert torch.allclose(out.loss, out.entity_loss + 0.3 * out.relation_loss)
    out.loss.backward()
    dead = [n for n, p in t.model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not dead, f"{variant}: no gradient reaches {dead}"
    names = [n for n, _ in t.model.named_parameters()]
    for component in COMPONENTS.get(variant, []):
        assert any(n.startswith(component + ".") for n in names), f"{variant} lacks {component}"
    if variant == "baseline":
        assert type(t.model) is PointerNER


def test_full_variant_gives_a_sentence_the_same_output_alone_and_in_a_padded_batch() -> None:
    t = tagger_for("full")
    t.model.eval()
    batch = encode_sentences(MIXED, t.encoder, t.vocab)
    with torch.no_grad():
        together = t.model(**batch.model_inputs())
        together_rel = t.model.relation(together.encoder_state.word_states, together.encoder_state.word_mask)
        for i in (1, 6):  # shorter than the longest sentence: padded words and padded targets
            alone_batch = encode_sentences(MIXED[i : i + 1], t.encoder, t.vocab)
            alone = t.model(**alone_batch.model_inputs())
            n, steps = alone_batch.words.word_mask.shape[1], alone_batch.labels.shape[1]
            keep = 1 + len(TYPES) + n
            assert torch.allclose(alone.logits[0], together.logits[i, :steps, :keep], atol=1e-5)
            assert torch.allclose(alone.relation_loss, t.model.auxiliary_losses(
                t.model.encode(**{k: v[i : i + 1] for k, v in _encoder_inputs(batch).items()}), MIXED[i : i + 1]
            )["relation"], atol=1e-5)
            alone_rel = t.model.relation(alone.encoder_state.word_states, alone.encoder_state.word_mask)
            assert torch.allclose(alone_rel[0], together_rel[i, :n, :n], atol=1e-5)
    preds_alone = [t.predict_tokens([s.tokens], num_beams=k).entities[0] for s in MIXED for k in (1, 3)]
    preds_batch = [e for k in (1, 3) for e in t.predict_tokens([s.tokens for s in MIXED], num_beams=k).entities]
    assert sorted(map(tuple, preds_alone)) == sorted(map(tuple, preds_batch))


def _encoder_inputs(batch) -> dict[str, torch.Tensor]:
    w = batch.words
    return {"input_ids": w.input_ids, "attention_mask": w.attention_mask, "word_index": w.word_index,
            "word_mask": w.word_mask, "shape_ids": w.shape_ids}


@pytest.mark.parametrize("variant", ["rp-tra", "full"])
def test_cached_decoding_with_extras_equals_the_teacher_forced_pass(variant: str) -> None:
    """Extras never enter the key/value cache: step-by-step logits equal one pass over the whole prefix."""
    t = tagger_for(variant)
    t.model.eval()
    batch = encode_sentences(MIXED[:3], t.encoder, t.vocab)
    with torch.no_grad():
        state = t.model.encode(**_encoder_inputs(batch))
        assert isinstance(state.extras[ATTENTION_EXTRAS], AttentionExtras)
        seqs = greedy_decode(t.model, state)
        steps = max(len(s) for s in seqs)
        prev = torch.full((3, steps), END, dtype=torch.long)
        prev[:, 0] = START
        for i, s in enumerate(seqs):
            prev[i, 1 : len(s)] = torch.tensor(s[: steps - 1][: len(s) - 1])
        full, _ = t.model.decode_step(state, prev)
        cache = t.model.new_cache()
        for step in range(steps):
            logits, cache = t.model.decode_step(state, prev[:, step : step + 1], cache)
            assert torch.allclose(logits[:, 0], full[:, step], atol=1e-4), step
        beams = beam_decode(t.model, state, num_beams=3)
    assert len(beams) == 3 and all(b[-1] == END for b in beams)


def test_additions_off_equal_the_baseline_exactly() -> None:
    base = tagger_for("baseline")
    off = TypePriorConfig(**{**base.model.config.to_dict(), "variant": "rp-tra", "relation_prediction": False,
                             "relation_attention": False, "type_attention": False})
    extended = ExtendedPointerNER(off)
    extended.load_state_dict(base.model.state_dict(), strict=True)
    assert set(extended.state_dict()) == set(base.model.state_dict())
    for m in (base.model, extended):
        m.eval()
    inputs = encode_sentences(MIXED, base.encoder, base.vocab).model_inputs()
    with torch.no_grad():
        a, b = base.model(**inputs), extended(**inputs)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss) and b.relation_loss is None
    other = Tagger(extended, base.tokenizer)
    for k in (1, 3):
        assert base.predict([s.tokens for s in MIXED], num_beams=k) == other.predict([s.tokens for s in MIXED], num_beams=k)


def test_w_and_priors_are_recorded_and_checked() -> None:
    t = Tagger.from_backbone("tiny-random", TYPES, type_vectors=kb_vectors(), variant="full", w=0.7,
                             priors_build={"build_id": 3, "scheme": "demo", "content_hash": "abc"})
    cfg = t.model.config
    assert (cfg.variant, cfg.w, cfg.relation_weight, cfg.type_priors_from_kb) == ("full", 0.7, 0.7, True)
    assert cfg.additions == ("relation_prediction", "relation_attention", "type_attention")
    assert torch.equal(t.model.type_embeddings.vectors(), kb_vectors())
    learned = Tagger.from_backbone("tiny-random", TYPES, variant="rp-eta")
    assert not learned.model.config.type_priors_from_kb and learned.model.type_embeddings.vectors().requires_grad
    assert Tagger.from_backbone("tiny-random", TYPES, variant="baseline").model.config.w == 0.0
    with pytest.raises(ValueError, match="shape"):
        Tagger.from_backbone("tiny-random", TYPES, type_vectors=kb_vectors(2), variant="full")


def test_full_variant_predicts_a_5000_word_input() -> None:
    t = tagger_for("full")
    words = [f"w{i % 50}" for i in range(5000)]
    preds = t.predict_tokens([words], batch_size=8)
    assert len(preds.entities) == 1
    assert all(0 <= i < 5000 for e in preds.entities[0] for i in e.indices)


class TestFullVariant(ModelRoundTrip):
    """All three additions with knowledge-base E_T: learns flat, nested and discontinuous entities; save → load."""

    model_config = {"variant": "full", "type_vectors": kb_vectors()}

    def test_variant_w_and_priors_survive_save_and_load(self, tagger: Tagger, trained) -> None:
        cfg = tagger.model.config
        assert (cfg.variant, cfg.w, cfg.type_priors_from_kb) == ("full", 0.3, True)
        assert isinstance(tagger.model, ExtendedPointerNER)
        assert torch.equal(tagger.model.type_embeddings.vectors().cpu(), kb_vectors())
        assert (trained[0] / "model" / "model.safetensors").is_file()
        assert not (trained[0] / "model" / "type_priors.safetensors").exists()  # E_T is in model.safetensors


class TestRpTraVariant(ModelRoundTrip):
    """Relation prediction and token relation attention (learned nothing from the knowledge base)."""

    model_config = {"variant": "rp-tra", "w": 0.5}
