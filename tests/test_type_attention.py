"""Entity type attention: type priors (knowledge base or learned), prefix keys/values, and their use in BART."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BartConfig, BartModel

from typeprior.model.attention import DECODER_CROSS, DECODER_SELF, ENCODER_SELF, attention_extras, install_extended_attention
from typeprior.model.type_attention import TypePrefix, TypePriorError, TypePriors

D_MODEL, HEADS, ENC, DEC, TYPES, PRIOR = 16, 2, 1, 2, 3, 384


def tiny_bart() -> BartModel:
    torch.manual_seed(0)
    cfg = BartConfig(
        vocab_size=40, d_model=D_MODEL, encoder_layers=ENC, decoder_layers=DEC, encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        dropout=0.0, attention_dropout=0.0,
    )
    return install_extended_attention(BartModel(cfg).eval())


def test_priors_from_a_knowledge_base_build_are_kept_fixed() -> None:
    build = np.random.default_rng(0).normal(size=(TYPES, PRIOR)).astype(np.float32)
    priors = TypePriors(TYPES, D_MODEL, priors=torch.from_numpy(build))
    assert priors.from_knowledge_base
    assert np.array_equal(priors.vectors().numpy(), build)
    assert "fixed" in priors.state_dict()
    assert all(p.shape != (TYPES, PRIOR) for p in priors.parameters())
    emb = priors.embeddings()
    assert emb.shape == (TYPES, D_MODEL)
    torch.testing.assert_close(emb, priors.to_model(torch.from_numpy(build)))


def test_learned_priors_when_no_build_is_given() -> None:
    priors = TypePriors(TYPES, D_MODEL)
    assert not priors.from_knowledge_base
    priors.embeddings().pow(2).sum().backward()
    assert priors.learned.grad is not None and priors.learned.grad.abs().sum() > 0


def test_bad_priors_are_rejected_with_the_reason() -> None:
    with pytest.raises(TypePriorError, match=r"\(3, 384\)"):
        TypePriors(TYPES, D_MODEL, priors=torch.zeros(TYPES, 100))
    bad = torch.zeros(TYPES, PRIOR)
    bad[1, 5] = float("nan")
    with pytest.raises(TypePriorError, match=r"\[1\]"):
        TypePriors(TYPES, D_MODEL, priors=bad)
    with pytest.raises(TypePriorError, match="floats"):
        TypePriors(TYPES, D_MODEL, priors=torch.zeros(TYPES, PRIOR, dtype=torch.long))


def test_prefix_gives_per_layer_keys_and_values_for_each_role() -> None:
    prefix = TypePrefix(D_MODEL, HEADS, ENC, DEC, hidden=8)
    extras = prefix(torch.randn(TYPES, PRIOR))
    for role, layers in ((ENCODER_SELF, ENC), (DECODER_SELF, DEC), (DECODER_CROSS, DEC)):
        per_layer = getattr(extras, role)
        assert len(per_layer) == layers
        for e in per_layer:
            assert e.key.shape == e.value.shape == (1, HEADS, TYPES, D_MODEL // HEADS)
            assert e.mask is None
    assert not torch.allclose(extras.decoder_self[0].key, extras.decoder_self[1].key)
    assert not torch.allclose(extras.decoder_self[0].key, extras.decoder_cross[0].key)


def test_bart_large_sizes() -> None:
    with torch.device("meta"):
        prefix = TypePrefix(1024, 16, 12, 12)
    first, last = prefix.mlps[ENCODER_SELF][0], prefix.mlps[ENCODER_SELF][-1]
    assert (first.in_features, first.out_features) == (384, 512)
    assert last.out_features == 2 * 12 * 1024


def test_type_attention_in_bart_reaches_every_parameter_and_ignores_padding() -> None:
    bart = tiny_bart()
    torch.manual_seed(1)
    priors = TypePriors(TYPES, D_MODEL, priors=torch.randn(TYPES, PRIOR))
    prefix = TypePrefix(D_MODEL, HEADS, ENC, DEC, hidden=8)
    ids = torch.randint(3, 40, (2, 6))
    mask = torch.tensor([[1] * 4 + [0] * 2, [1] * 6])
    dec = torch.randint(3, 40, (2, 3))

    extras = prefix(priors.vectors())
    with attention_extras(extras):
        out = bart(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
    # The type part of the output distribution: decoder states against E_T projected to the model width.
    type_scores = out.last_hidden_state @ priors.embeddings().T
    (out.encoder_last_hidden_state.sum() + type_scores.pow(2).sum()).backward()
    for name, p in [*priors.named_parameters("priors."), *prefix.named_parameters("prefix.")]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    with torch.no_grad(), attention_extras(prefix(priors.vectors())):
        batched = bart(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
        alone = bart(input_ids=ids[:1, :4], decoder_input_ids=dec[:1])
    torch.testing.assert_close(batched.encoder_last_hidden_state[0, :4], alone.encoder_last_hidden_state[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched.last_hidden_state[0], alone.last_hidden_state[0], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        plain = bart(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
    assert not torch.allclose(plain.encoder_last_hidden_state, batched.encoder_last_hidden_state, atol=1e-3)


def test_prior_type_embeddings_start_as_the_name_table_and_learn_the_projection() -> None:
    """Names + zero-started projection of E_T: the baseline's types at step 0, and the projection gets gradients."""
    from typeprior.model.generator import TypeEmbeddings
    from typeprior.model.type_attention import PriorTypeEmbeddings

    torch.manual_seed(0)
    names = TypeEmbeddings(3, 16)
    build = torch.randn(3, 384)
    emb = PriorTypeEmbeddings(names, TypePriors(3, 16, 384, build))
    assert torch.equal(emb(), names())
    assert torch.equal(emb.vectors(), build)
    (emb() ** 2).sum().backward()
    assert emb.priors.to_model.weight.grad.abs().sum() > 0
    assert names.embedding.weight.grad.abs().sum() > 0
    with torch.no_grad():
        emb.priors.to_model.weight.fill_(0.01)
    torch.testing.assert_close(emb(), names() + emb.priors.to_model(build))
