"""Which learning rate and weight decay each weight trains with (model.training.parameter_groups)."""
from __future__ import annotations

import pytest

from typeprior.model.predict import Tagger
from typeprior.model.training import TrainingConfig, parameter_groups


@pytest.fixture(scope="module")
def converted():
    return Tagger.from_backbone("minilm", ["PER", "LOC"], seed=0, variant="full").model


def settings(model, **overrides) -> dict[str, tuple[float, float]]:
    groups = parameter_groups(model, TrainingConfig.load(lr_backbone=1e-5, lr_new=5e-4, **overrides))
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters() if p.requires_grad}


def test_a_converted_bert_trains_its_weights_slowly_and_new_parts_fast(converted) -> None:
    got = settings(converted)
    assert got["bart.encoder.layers.0.self_attn.q_proj.weight"] == (1e-5, 0.01)
    assert got["bart.decoder.layers.0.self_attn.q_proj.weight"] == (1e-5, 0.01)
    assert got["bart.decoder.layers.0.encoder_attn.q_proj.weight"] == (5e-4, 0.01)  # new: BERT has none
    assert got["bart.decoder.layers.0.encoder_attn_layer_norm.weight"] == (5e-4, 0.0)
    assert got["bart.encoder.layers.0.self_attn.q_proj.bias"] == (1e-5, 0.0)
    assert got["bart.shared.weight"][0] == 1e-5
    outside = [n for n in got if not n.startswith("bart.")]
    assert outside and all(got[n][0] == 5e-4 for n in outside)
    assert sum(p.numel() for g in parameter_groups(converted, TrainingConfig.load()) for p in g["params"]) == sum(
        p.numel() for p in converted.parameters() if p.requires_grad)


def test_lr_decoder_moves_only_the_decoders_pretrained_weights(converted) -> None:
    got = settings(converted, lr_decoder=1e-4)
    assert got["bart.decoder.layers.0.fc1.weight"] == (1e-4, 0.01)
    assert got["bart.decoder.layers.0.final_layer_norm.weight"] == (1e-4, 0.0)
    assert got["bart.decoder.layers.0.encoder_attn.v_proj.weight"] == (5e-4, 0.01)
    assert got["bart.encoder.layers.3.fc1.weight"] == (1e-5, 0.01)
    assert got["bart.shared.weight"][0] == 1e-5  # shared with the encoder


def test_a_random_backbone_is_all_new() -> None:
    model = Tagger.from_backbone("tiny-random", ["PER"], seed=0).model
    lrs = {g["lr"] for g in parameter_groups(model, TrainingConfig.load(lr_backbone=1e-5, lr_new=5e-4))}
    assert lrs == {5e-4}
