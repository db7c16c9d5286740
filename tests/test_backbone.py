"""The BART backbone: MiniLM converts exactly; tiny-random and bad names behave."""
from __future__ import annotations

import pytest
import torch
from transformers import BertModel

from typeprior.model.backbone import BackboneError, load_backbone, minilm_path


@pytest.fixture(scope="module")
def minilm():
    return load_backbone("minilm")


def test_converted_encoder_reproduces_minilm_hidden_states(minilm) -> None:
    bert = BertModel.from_pretrained(str(minilm_path())).eval()
    bart = minilm.model.eval()
    enc = minilm.tokenizer(
        ["The European Union rejected Germany's call.", "Peter Blackburn", "a much longer sentence with words in it ."],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        expected = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        got = bart.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    real = enc["attention_mask"].bool()
    assert (expected - got)[real].abs().max().item() < 1e-4


def test_conversion_settings(minilm) -> None:
    cfg = minilm.model.config
    assert cfg.scale_embedding is False
    assert cfg.d_model == 384 and cfg.encoder_layers == 6 and cfg.decoder_layers == 6
    assert minilm.layer_norm_eps == 1e-12
    assert all(m.eps == 1e-12 for m in minilm.model.modules() if isinstance(m, torch.nn.LayerNorm))
    assert minilm.kind == "bert"
    tok = minilm.tokenizer
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (tok.pad_token_id, tok.cls_token_id, tok.sep_token_id)


def test_decoder_layers_start_from_the_same_bert_layers(minilm) -> None:
    enc, dec = minilm.model.encoder.layers, minilm.model.decoder.layers
    for e, d in zip(enc, dec):
        assert torch.equal(e.self_attn.q_proj.weight, d.self_attn.q_proj.weight)
        assert torch.equal(e.fc2.weight, d.fc2.weight)
        assert torch.equal(e.final_layer_norm.weight, d.final_layer_norm.weight)
    # cross-attention is new: not a copy of self-attention
    assert not torch.equal(dec[0].encoder_attn.q_proj.weight, dec[0].self_attn.q_proj.weight)
    assert torch.equal(minilm.model.encoder.embed_positions.weight, minilm.model.decoder.embed_positions.weight)


def test_tiny_random_backbone_is_small_and_seeded() -> None:
    a, b = load_backbone("tiny-random"), load_backbone("tiny-random")
    assert a.model.config.d_model <= 128 and a.model.config.encoder_layers <= 2
    assert torch.equal(a.model.shared.weight, b.model.shared.weight)
    assert a.kind == "random"


def test_unknown_backbone_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(BackboneError, match="nope"):
        load_backbone(str(tmp_path / "nope"))


def test_a_bart_checkpoint_loads_by_path(tmp_path) -> None:
    tiny = load_backbone("tiny-random")
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    again = load_backbone(str(tmp_path))
    assert again.kind == "bart" and again.name == str(tmp_path)
    for (name, p), q in zip(tiny.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_a_bert_folder_is_converted_by_path() -> None:
    bb = load_backbone(str(minilm_path()))
    assert bb.kind == "bert" and bb.layer_norm_eps == 1e-12


def test_models_built_with_one_seed_are_identical() -> None:
    from typeprior.model.predict import Tagger

    torch.manual_seed(1)
    a = Tagger.from_backbone("minilm", ["LOC"], seed=3).model
    torch.manual_seed(2)  # the global random state must not matter
    b = Tagger.from_backbone("minilm", ["LOC"], seed=3).model
    c = Tagger.from_backbone("minilm", ["LOC"], seed=4).model
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    cross = "bart.decoder.layers.0.encoder_attn.q_proj.weight"
    assert not torch.equal(a.state_dict()[cross], c.state_dict()[cross])


def test_a_shallower_decoder_is_built_from_minilms_top_layers(tmp_path) -> None:
    """`decoder_layers` (issue 15): the converted decoder keeps BERT's top layers; the encoder stays whole."""
    import pytest

    from typeprior.model.backbone import BackboneError, load_backbone
    from typeprior.model.predict import Tagger

    full, short = load_backbone("minilm"), load_backbone("minilm", decoder_layers=2)
    assert len(short.model.encoder.layers) == 6 and len(short.model.decoder.layers) == 2
    for ours, theirs in ((0, 4), (1, 5)):
        assert torch.equal(short.model.decoder.layers[ours].fc1.weight, full.model.decoder.layers[theirs].fc1.weight)
    assert torch.equal(short.model.encoder.layers[0].fc1.weight, full.model.encoder.layers[0].fc1.weight)
    with pytest.raises(BackboneError, match="1 to 6 layers"):
        load_backbone("minilm", decoder_layers=7)
    with pytest.raises(BackboneError, match="not tiny-random"):
        load_backbone("tiny-random", decoder_layers=1)
    tagger = Tagger.from_backbone("minilm", ["LOC"], seed=0, variant="full", decoder_layers=2)
    assert tagger.model.config.decoder_layers == 2 and tagger.model.config.bart.decoder_layers == 2
    again = Tagger.load(tagger.save(tmp_path / "m"), device="cpu")
    assert len(again.model.bart.decoder.layers) == 2
    assert again.predict_tokens([["Paris", "is", "big"]]).entities is not None
    default = Tagger.from_backbone("minilm", ["LOC"], seed=0, variant="full")  # model/additions.yaml: MiniLM's top layer
    assert default.model.config.decoder_layers == 1 and len(default.model.bart.decoder.layers) == 1
    assert torch.equal(default.model.bart.decoder.layers[0].fc1.weight, full.model.decoder.layers[5].fc1.weight)
    deep = Tagger.from_backbone("minilm", ["LOC"], seed=0, variant="full", decoder_layers=None)  # None: all six
    assert len(deep.model.bart.decoder.layers) == 6
    assert len(Tagger.from_backbone("tiny-random", ["LOC"], seed=0).model.bart.decoder.layers) == 2
