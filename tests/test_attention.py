"""The attention seam on a tiny random BART: no extras changes nothing; extras match a direct computation."""
from __future__ import annotations

import copy

import pytest
import torch
from transformers import BartConfig, BartModel

from typeprior.model.attention import (
    DECODER_CROSS,
    DECODER_SELF,
    ENCODER_SELF,
    EXTRAS_KWARG,
    AttentionExtras,
    AttentionExtrasError,
    ExtraKV,
    attention_extras,
    install_extended_attention,
)

HEADS, WIDTH, LAYERS = 2, 16, 2
HEAD_DIM = WIDTH // HEADS


def tiny_bart(impl: str) -> BartModel:
    torch.manual_seed(0)
    cfg = BartConfig(
        vocab_size=40, d_model=WIDTH, encoder_layers=LAYERS, decoder_layers=LAYERS,
        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    model = BartModel(cfg).eval()
    model.set_attn_implementation(impl)
    return model


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 40, (2, 7), generator=g)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0
    ids[1, 4:] = 1
    dec = torch.randint(3, 40, (2, 5), generator=g)
    dec_mask = torch.ones(2, 5, dtype=torch.long)
    dec_mask[0, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec, "decoder_attention_mask": dec_mask}


def random_extra(b: int, n: int, seed: int, mask: list[list[bool]] | None = None) -> ExtraKV:
    g = torch.Generator().manual_seed(seed)
    m = None if mask is None else torch.tensor(mask, dtype=torch.bool)
    return ExtraKV(torch.randn(b, HEADS, n, HEAD_DIM, generator=g), torch.randn(b, HEADS, n, HEAD_DIM, generator=g), m)


def empty_extras(b: int = 2) -> AttentionExtras:
    def empty() -> ExtraKV:
        return ExtraKV(torch.zeros(b, HEADS, 0, HEAD_DIM), torch.zeros(b, HEADS, 0, HEAD_DIM), torch.zeros(b, 0, dtype=torch.bool))
    return AttentionExtras([empty() for _ in range(LAYERS)], [empty() for _ in range(LAYERS)], [empty() for _ in range(LAYERS)])


def full_extras() -> AttentionExtras:
    return AttentionExtras(
        [random_extra(1, 3, 10 + i) for i in range(LAYERS)],
        [random_extra(2, 2, 20 + i, [[True, False], [True, True]]) for i in range(LAYERS)],
        [random_extra(2, 4, 30 + i, [[True, True, True, True], [True, True, False, False]]) for i in range(LAYERS)],
    )


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_without_extras_the_model_is_unchanged(impl: str) -> None:
    plain = tiny_bart(impl)
    extended = install_extended_attention(copy.deepcopy(plain))
    assert extended.config._attn_implementation == f"typeprior_extended_{impl}"
    inputs = batch()
    with torch.no_grad():
        ref = plain(**inputs)
        out = extended(**inputs)
        with attention_extras(empty_extras()):
            zero = extended(**inputs)
    for got in (out, zero):
        assert torch.equal(got.encoder_last_hidden_state, ref.encoder_last_hidden_state)
        assert torch.equal(got.last_hidden_state, ref.last_hidden_state)


def decode_steps(model: BartModel, inputs: dict, extras: AttentionExtras | None) -> tuple[torch.Tensor, int]:
    """Greedy-style incremental decoding over the given decoder ids, one token at a time, with the KV cache."""
    with torch.no_grad(), attention_extras(extras):
        enc = model.get_encoder()(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        cache, outs = None, []
        dec = inputs["decoder_input_ids"]
        for t in range(dec.shape[1]):
            out = model(
                encoder_outputs=enc, attention_mask=inputs["attention_mask"], decoder_input_ids=dec[:, t : t + 1],
                cache=cache, use_cache=True,
            )
            cache = out.cache
            outs.append(out.last_hidden_state)
    return torch.cat(outs, dim=1), cache.get_seq_length()


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_incremental_decoding_with_cache(impl: str) -> None:
    plain = tiny_bart(impl)
    extended = install_extended_attention(copy.deepcopy(plain))
    inputs = batch()
    inputs.pop("decoder_attention_mask")
    ref, _ = decode_steps(plain, inputs, None)
    zero, _ = decode_steps(extended, inputs, empty_extras())
    torch.testing.assert_close(zero, ref, rtol=0, atol=1e-6)

    extras = full_extras()
    stepped, cached = decode_steps(extended, inputs, extras)
    assert cached == inputs["decoder_input_ids"].shape[1], "extras must not enter the cache"
    with torch.no_grad(), attention_extras(extras):
        whole = extended(**inputs).last_hidden_state
    torch.testing.assert_close(stepped, whole, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(stepped, ref, atol=1e-3)


def direct_attention(module, hidden, kv_source, own_mask, extra: ExtraKV) -> torch.Tensor:
    """Eq. 7/9 written out: softmax(q [K; K_x]^T / sqrt(d) + mask) [V; V_x], then the output projection."""
    b, q_len, _ = hidden.shape
    q = module.q_proj(hidden).view(b, q_len, HEADS, HEAD_DIM).transpose(1, 2)
    k = module.k_proj(kv_source).view(b, -1, HEADS, HEAD_DIM).transpose(1, 2)
    v = module.v_proj(kv_source).view(b, -1, HEADS, HEAD_DIM).transpose(1, 2)
    ex = extra.expand_batch(b)
    k = torch.cat([k, ex.key], 2)
    v = torch.cat([v, ex.value], 2)
    visible = torch.cat([own_mask, ex.visible()[:, None, :].expand(b, q_len, -1)], dim=-1)
    scores = (q @ k.transpose(-1, -2)) * HEAD_DIM**-0.5
    scores = scores.masked_fill(~visible[:, None], float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, q_len, WIDTH)
    return module.out_proj(out)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_extras_match_a_direct_computation(impl: str) -> None:
    model = install_extended_attention(tiny_bart(impl))
    inputs = batch()
    extras = full_extras()
    records: dict[str, tuple] = {}

    def recorder(name):
        def hook(module, args, kwargs, output):
            records[name] = (module, args[0] if args else kwargs["hidden_states"], kwargs.get("key_value_states"), output[0])
        return hook

    layer = 1
    handles = [
        model.encoder.layers[layer].self_attn.register_forward_hook(recorder(ENCODER_SELF), with_kwargs=True),
        model.decoder.layers[layer].self_attn.register_forward_hook(recorder(DECODER_SELF), with_kwargs=True),
        model.decoder.layers[layer].encoder_attn.register_forward_hook(recorder(DECODER_CROSS), with_kwargs=True),
    ]
    with torch.no_grad(), attention_extras(extras):
        model(**inputs)
    for h in handles:
        h.remove()

    src = inputs["attention_mask"].bool()
    tgt = inputs["decoder_attention_mask"].bool()
    q_src, q_tgt = src.shape[1], tgt.shape[1]
    causal = torch.ones(q_tgt, q_tgt, dtype=torch.bool).tril()
    own_masks = {
        ENCODER_SELF: src[:, None, :].expand(-1, q_src, -1),
        DECODER_SELF: causal[None] & tgt[:, None, :],
        DECODER_CROSS: src[:, None, :].expand(-1, q_tgt, -1),
    }
    with torch.no_grad():
        for role, (module, hidden, kv_states, got) in records.items():
            source = hidden if kv_states is None else kv_states
            want = direct_attention(module, hidden, source, own_masks[role], extras.get(role, layer))
            # Rows of fully padded decoder queries are irrelevant; compare every real query.
            real = src if role == ENCODER_SELF else tgt
            torch.testing.assert_close(got[real], want[real], rtol=1e-5, atol=1e-5)


def test_masked_extras_are_invisible() -> None:
    model = install_extended_attention(tiny_bart("eager"))
    inputs = batch()
    short = random_extra(2, 2, 7)
    padded = ExtraKV(
        torch.cat([short.key, torch.randn(2, HEADS, 3, HEAD_DIM)], 2),
        torch.cat([short.value, torch.randn(2, HEADS, 3, HEAD_DIM)], 2),
        torch.tensor([[True, True, False, False, False]] * 2),
    )
    with torch.no_grad():
        with attention_extras(AttentionExtras(decoder_cross=[short, short])):
            a = model(**inputs).last_hidden_state
        with attention_extras(AttentionExtras(decoder_cross=[padded, padded])):
            b = model(**inputs).last_hidden_state
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_keyword_argument_path_equals_context_path() -> None:
    model = install_extended_attention(tiny_bart("eager"))
    inputs = batch()
    extras = full_extras()
    with torch.no_grad():
        with attention_extras(extras):
            a = model(**inputs).last_hidden_state
        b = model(**inputs, **{EXTRAS_KWARG: extras}).last_hidden_state
    assert torch.equal(a, b)


def test_gradients_reach_the_extras() -> None:
    model = install_extended_attention(tiny_bart("sdpa"))
    extras = full_extras()
    leaves = []
    for role in (ENCODER_SELF, DECODER_SELF, DECODER_CROSS):
        for e in getattr(extras, role):
            e.key.requires_grad_(True)
            e.value.requires_grad_(True)
            leaves += [e.key, e.value]
    with attention_extras(extras):
        model(**batch()).last_hidden_state.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in leaves)


def test_mismatched_extras_name_role_and_layer() -> None:
    model = install_extended_attention(tiny_bart("eager"))
    wrong = ExtraKV(torch.zeros(2, HEADS + 1, 3, HEAD_DIM), torch.zeros(2, HEADS + 1, 3, HEAD_DIM))
    with attention_extras(AttentionExtras(decoder_cross=[None, wrong])):
        with pytest.raises(AttentionExtrasError, match="decoder_cross layer 1"):
            model(**batch())
    with pytest.raises(AttentionExtrasError, match="batch of 3"):
        with attention_extras(AttentionExtras(encoder_self=[random_extra(3, 1, 0)])):
            model(**batch())
    with pytest.raises(AttentionExtrasError, match="bool"):
        ExtraKV(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4), torch.ones(1, 3))


def test_merge_and_beam_reorder() -> None:
    a = AttentionExtras(decoder_cross=[random_extra(1, 2, 1)])
    b = AttentionExtras(decoder_cross=[random_extra(2, 3, 2, [[True, True, False], [True, True, True]]), None])
    merged = a.merge(b)
    first = merged.decoder_cross[0]
    assert first.key.shape == (2, HEADS, 5, HEAD_DIM)
    assert first.mask.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    assert merged.decoder_cross[1] is None
    beams = merged.index_select(torch.tensor([1, 1, 0]))
    assert beams.decoder_cross[0].mask.tolist()[0] == [True] * 5
    assert torch.equal(beams.decoder_cross[0].key[2], first.key[0])


def test_gradient_checkpointing_replays_the_extras() -> None:
    def grads(checkpointing: bool, path: str) -> list[torch.Tensor]:
        model = install_extended_attention(tiny_bart("eager")).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.decoder.layers[0].gradient_checkpointing
        extras = full_extras()
        if path == "kwarg":
            model(**batch(), **{EXTRAS_KWARG: extras}).last_hidden_state.pow(2).sum().backward()
        else:
            with attention_extras(extras):
                model(**batch()).last_hidden_state.pow(2).sum().backward()
        return [p.grad for p in model.parameters() if p.grad is not None]

    reference = grads(False, "kwarg")
    for path in ("kwarg", "context"):
        for a, b in zip(grads(True, path), reference, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_beam_expansion_repeats_each_sentence() -> None:
    extras = AttentionExtras(decoder_cross=[random_extra(2, 3, 5, [[True, True, False], [True, False, False]])])
    beams = extras.expand_beams(2, 3).decoder_cross[0]
    assert beams.key.shape[0] == 6
    assert beams.mask.tolist() == [[True, True, False]] * 3 + [[True, False, False]] * 3
    assert torch.equal(beams.value[4], extras.decoder_cross[0].value[1])
