"""The pointer-network entity generator over BART (BARTNER, the baseline the paper extends).

The encoder reads the sentence's sub-words; the decoder generates, per entity, a pointer to each of its
words and then its type, and finally END. At step t the output is one softmax over

    [ h_t·E(</s>) ; E_T·h_t ; P·h_t ],   P = (MLP(H^e) + E(source tokens)) / 2      (paper eq. 11)

where H^e are the encoder states of the words' first sub-words and E_T the type embeddings.

All attention runs through the standard BART modules, and the two forward passes live in `encode` and
`decode_step` only, so that the paper's additions (model/extended.py) can hook into them: extra keys/values
for the attention layers through `encoder_attention_kwargs` / `decoder_attention_kwargs` (read by the
attention function registered in model/attention.py), extra encoder outputs through `extend_state`, and
losses through `auxiliary_losses`.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from transformers import AutoModel, BartModel, PreTrainedModel
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from typeprior.errors import TypePriorError
from typeprior.yaml_files import read_mapping

from .backbone import set_layer_norm_eps, tie_embeddings
from .config import TypePriorConfig
from .targets import END
from .gazetteer import FLAGS
from .tokenization import NUM_SHAPES
from .variants import check_variant, variant_table

TYPE_NAMES = Path(__file__).with_name("type_names.yaml")
log = logging.getLogger(__name__)
START = -1  # decoder start symbol; not an output, so outside the target id space
PAD = -100  # padding in label and decoder-input tensors (ignored by the loss)


class TypeEmbeddings(nn.Module):
    """E_T: one vector per entity type, as a [C, d] matrix.

    Learned here; the type-attention variant swaps in a module that builds E_T from knowledge-base priors.
    """

    def __init__(self, num_types: int, d_model: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max(num_types, 1), d_model)
        self.num_types = num_types

    def forward(self) -> torch.Tensor:
        return self.embedding.weight[: self.num_types]


def _select_rows(value: Any, index: torch.Tensor) -> Any:
    """Batch rows of a tensor, or of anything with its own `index_select(index)` (attention extras)."""
    if isinstance(value, torch.Tensor):
        return value.index_select(0, index)
    if hasattr(value, "index_select"):
        return value.index_select(index)
    return value


@dataclass
class EncoderState:
    """What the decoder (and any auxiliary task) needs from one encoder pass."""

    hidden: torch.Tensor  # [B, S, d] encoder output over sub-words
    attention_mask: torch.Tensor  # [B, S]
    word_states: torch.Tensor  # [B, W, d] encoder output at each word's first sub-word (H^e)
    word_mask: torch.Tensor  # [B, W] bool
    word_tokens: torch.Tensor  # [B, W] token id of each word's first sub-word
    pointer_keys: torch.Tensor  # [B, W, d] (MLP(H^e) + E(tokens)) / 2
    extras: dict[str, Any] = field(default_factory=dict)  # room for the additions (relation scores, ...)
    # E(word_tokens) [B, W, d] and E(<s>, </s>, <pad>) [3, d], from encode's one embedding lookup: the decoder
    # inputs and the END score reuse them instead of looking the shared embedding up again (each lookup's
    # backward fills a gradient the size of the whole vocabulary). None: looked up as needed.
    word_embeds: torch.Tensor | None = None
    special_embeds: torch.Tensor | None = None

    def index_select(self, index: torch.Tensor) -> "EncoderState":
        """Rows of the batch in a new order (beam expansion)."""
        pick = lambda t: t.index_select(0, index)  # noqa: E731
        return replace(
            self,
            hidden=pick(self.hidden),
            attention_mask=pick(self.attention_mask),
            word_states=pick(self.word_states),
            word_mask=pick(self.word_mask),
            word_tokens=pick(self.word_tokens),
            pointer_keys=pick(self.pointer_keys),
            extras={k: _select_rows(v, index) for k, v in self.extras.items()},
            word_embeds=None if self.word_embeds is None else pick(self.word_embeds),
        )


@dataclass
class PointerNEROutput:
    """Losses and scores of one forward pass; `relation_loss` is filled by the relation variant."""

    loss: torch.Tensor | None = None
    entity_loss: torch.Tensor | None = None
    relation_loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # [B, T, 1 + C + W]
    encoder_state: EncoderState | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


class PointerNER(PreTrainedModel):
    """BART encoder-decoder that generates entities as word pointers followed by a type."""

    config_class = TypePriorConfig
    base_model_prefix = "pointer_ner"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def __init__(self, config: TypePriorConfig) -> None:
        super().__init__(config)
        d = config.d_model
        self.bart = BartModel(config.bart)
        self.type_embeddings = TypeEmbeddings(config.num_types, d)
        self.pointer_mlp = nn.Sequential(
            nn.Linear(d, d), nn.Dropout(config.pointer_dropout), nn.ReLU(), nn.Linear(d, d)
        )
        self.output_dropout = nn.Dropout(config.pointer_dropout)
        self.shape_embeddings = nn.Embedding(NUM_SHAPES, d) if config.word_shape else None
        self.post_init()
        tie_embeddings(self.bart)
        if self.shape_embeddings is not None:
            nn.init.zeros_(self.shape_embeddings.weight)  # starts as a no-op on the backbone's function
        self.kb_match_embeddings: nn.Embedding | None = None
        if config.kb_match:  # per type: no match, first word, later word; starts as a no-op
            self.kb_match_embeddings = nn.Embedding(FLAGS * config.num_types, d, device="meta").to_empty(device="cpu")
            nn.init.zeros_(self.kb_match_embeddings.weight)
        self.pointer_state: nn.Linear | None = None
        if config.pointer_state_input:  # starts as BARTNER's decoder input; draws nothing from the random state
            self.pointer_state = nn.Linear(d, d, device="meta").to_empty(device="cpu")
            nn.init.zeros_(self.pointer_state.weight)
            nn.init.zeros_(self.pointer_state.bias)
        set_layer_norm_eps(self.bart, config.layer_norm_eps)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any) -> "PointerNER":
        """A saved typeprior folder, as `AutoModel.from_pretrained(folder)` gives it: loaded the one way
        (Tagger.load: safetensors only, the class of the saved variant, weights checked against the config).
        Hub names are not looked up: typeprior models are folders."""
        from .predict import Tagger

        device = kwargs.get("device_map") or kwargs.get("device") or "cpu"
        return Tagger.load(pretrained_model_name_or_path, device=device if isinstance(device, str) else "cpu").model

    @torch.no_grad()
    def init_type_embeddings_from_names(self, tokenizer: Any) -> None:
        """BARTNER's start for a type vector: the mean embedding of the sub-words of its name ("LOC" → "loc")."""
        weight = self.type_embeddings.embedding.weight
        names = read_mapping(TYPE_NAMES, TypePriorError, "type names file")
        for c, name in enumerate(self.config.entity_types):
            readable = str(names.get(name, name)).replace("_", " ").replace("-", " ").lower()
            ids = tokenizer(readable, add_special_tokens=False)["input_ids"]
            if ids:
                weight[c] = self._token_embed(torch.tensor(ids, device=weight.device)).mean(0)

    # -- the output space ---------------------------------------------------------------------------

    @property
    def num_types(self) -> int:
        return self.config.num_types

    @property
    def pointer_offset(self) -> int:
        return 1 + self.config.num_types

    def _token_embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bart.shared(ids)

    # -- encoder ------------------------------------------------------------------------------------

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
        match_ids: torch.Tensor | None = None,
    ) -> EncoderState:
        """One encoder pass; gathers the word states H^e and the pointer keys.

        One lookup of the shared embedding serves the sub-words, the words' first sub-words (pointer keys,
        pointed decoder inputs) and <s>, </s>, <pad> (decoder inputs, the END score)."""
        cfg = self.config.bart
        b, s = input_ids.shape
        specials = torch.tensor([cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id], device=input_ids.device)
        looked_up = self._token_embed(torch.cat([input_ids.reshape(-1), specials]))
        token_embeds, special_embeds = looked_up[: b * s].view(b, s, -1), looked_up[b * s :]
        embeds = token_embeds
        if self.shape_embeddings is not None and shape_ids is not None:
            embeds = embeds + self.shape_embeddings(shape_ids)
        if self.kb_match_embeddings is not None:
            if match_ids is None:
                raise ValueError("this model reads KB-match flags (kb_match): encode its inputs with its Tagger")
            offsets = torch.arange(match_ids.shape[-1], device=match_ids.device) * FLAGS
            embeds = embeds + self.kb_match_embeddings(match_ids + offsets).sum(-2)
        hidden = self.bart.encoder(
            inputs_embeds=embeds, attention_mask=attention_mask, **self.encoder_attention_kwargs()
        ).last_hidden_state
        d = hidden.shape[-1]
        word_states = hidden.gather(1, word_index.unsqueeze(-1).expand(-1, -1, d))
        word_tokens = input_ids.gather(1, word_index)
        word_embeds = token_embeds.gather(1, word_index.unsqueeze(-1).expand(-1, -1, token_embeds.shape[-1]))
        pointer_keys = (self.pointer_mlp(word_states) + word_embeds) / 2
        state = EncoderState(hidden, attention_mask, word_states, word_mask.bool(), word_tokens, pointer_keys,
                             word_embeds=word_embeds, special_embeds=special_embeds)
        return self.extend_state(state)

    def encoder_attention_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the encoder's attention layers; none in the baseline."""
        return {}

    def decoder_attention_kwargs(self, state: EncoderState) -> dict[str, Any]:
        """Extra keyword arguments for the decoder's attention layers; none in the baseline."""
        return {}

    def extend_state(self, state: EncoderState) -> EncoderState:
        """Room for the additions to compute more from the encoder output (state.extras); none in the baseline."""
        return state

    # -- decoder ------------------------------------------------------------------------------------

    def embed_targets(self, ids: torch.Tensor, state: EncoderState) -> torch.Tensor:
        """Decoder inputs: START → <s>, END → </s>, a type → E_T, a pointer → the source token it points to."""
        cfg = self.config.bart
        is_ptr = ids >= self.pointer_offset
        is_type = (ids >= 1) & ~is_ptr
        words = (ids - self.pointer_offset).clamp(min=0, max=state.word_tokens.shape[1] - 1)
        if state.word_embeds is not None and state.special_embeds is not None:  # the same values, no new lookup
            d = state.word_embeds.shape[-1]
            pointed = state.word_embeds.gather(1, words.unsqueeze(-1).expand(-1, -1, d))
            bos, eos, pad = (row.expand_as(pointed) for row in state.special_embeds)
            embeds = torch.where((ids == END).unsqueeze(-1), eos, pad)
            embeds = torch.where((ids == START).unsqueeze(-1), bos, embeds)
            embeds = torch.where(is_ptr.unsqueeze(-1), pointed, embeds)
        else:
            pointed = state.word_tokens.gather(1, words)
            tok = torch.full_like(ids, cfg.pad_token_id)
            tok = torch.where(ids == START, torch.full_like(ids, cfg.bos_token_id), tok)
            tok = torch.where(ids == END, torch.full_like(ids, cfg.eos_token_id), tok)
            tok = torch.where(is_ptr, pointed, tok)
            embeds = self._token_embed(tok)
        if self.pointer_state is not None:
            d = state.word_states.shape[-1]
            states = state.word_states.gather(1, words.unsqueeze(-1).expand(-1, -1, d))
            embeds = torch.where(is_ptr.unsqueeze(-1), embeds + self.pointer_state(states).to(embeds.dtype), embeds)
        if self.num_types:
            types = self.type_embeddings().to(embeds.dtype)
            type_vec = types[(ids - 1).clamp(min=0, max=self.num_types - 1)]
            embeds = torch.where(is_type.unsqueeze(-1), type_vec, embeds)
        return embeds

    def score(self, h: torch.Tensor, state: EncoderState) -> torch.Tensor:
        """Logits over [END; types; word pointers], pointers to padding / beyond the sentence masked.

        Computed in float32 even under mixed precision: the softmax spans END, types and every word.
        """
        h = self.output_dropout(h)
        with torch.autocast(device_type=h.device.type, enabled=False):
            h = h.float()
            if state.special_embeds is not None:
                end = state.special_embeds[1:2].float()
            else:
                end = self._token_embed(torch.tensor([self.config.bart.eos_token_id], device=h.device)).float()
            parts = [h @ end.t()]
            if self.num_types:
                parts.append(h @ self.type_embeddings().float().t())
            pointer = torch.einsum("btd,bwd->btw", h, state.pointer_keys.float())
            pointer = pointer.masked_fill(~state.word_mask.unsqueeze(1), torch.finfo(pointer.dtype).min)
            parts.append(pointer)
            return torch.cat(parts, dim=-1)

    def new_cache(self) -> EncoderDecoderCache:
        cfg = self.config.bart
        return EncoderDecoderCache(DynamicCache(config=cfg), DynamicCache(config=cfg))

    def cross_attention_cache(self, state: EncoderState, repeats: int = 1) -> EncoderDecoderCache:
        """A decoding cache whose cross-attention keys and values are filled once per sentence.

        They depend only on the encoder output, so the beams of a sentence share them: they are projected from
        the B sentences' states (not from B × beams copies, the largest cost of a first decoding step) and each
        repeated `repeats` times, the layout of `state.index_select(arange(B).repeat_interleave(repeats))`.
        Beams move only within their sentence, so this part of the cache never needs reordering; decoding
        reorders `cache.self_attention_cache` alone.
        """
        cfg = self.config.bart
        cross = DynamicCache(config=cfg)
        b, s, _ = state.hidden.shape
        for layer in self.bart.decoder.layers:
            attention = layer.encoder_attn
            shape = (b, s, -1, attention.head_dim)
            key = attention.k_proj(state.hidden).view(shape).transpose(1, 2)
            value = attention.v_proj(state.hidden).view(shape).transpose(1, 2)
            if repeats > 1:
                key, value = key.repeat_interleave(repeats, dim=0), value.repeat_interleave(repeats, dim=0)
            cross.update(key, value, attention.layer_idx)
        return EncoderDecoderCache(DynamicCache(config=cfg), cross)

    def decode_step(
        self,
        state: EncoderState,
        prev_ids: torch.Tensor,
        cache: EncoderDecoderCache | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, EncoderDecoderCache | None]:
        """Decoder pass over `prev_ids` (all of them for training, the newest with a cache when generating)."""
        embeds = self.embed_targets(prev_ids, state)
        out = self.bart.decoder(
            inputs_embeds=embeds,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=state.hidden,
            encoder_attention_mask=state.attention_mask,
            cache=cache,
            use_cache=cache is not None,
            **self.decoder_attention_kwargs(state),
        )
        return self.score(out.last_hidden_state, state), out.cache if cache is not None else None

    # -- training -----------------------------------------------------------------------------------

    def auxiliary_losses(self, state: EncoderState, sentences: Sequence[Any] | None) -> dict[str, torch.Tensor]:
        """Extra losses of the paper's additions (e.g. {"relation": ...}); none in the baseline."""
        return {}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        sentences: Sequence[Any] | None = None,
        match_ids: torch.Tensor | None = None,
    ) -> PointerNEROutput:
        """Teacher-forced pass: labels [B, T] are target ids padded with PAD; the decoder sees START + labels[:-1]."""
        state = self.encode(input_ids, attention_mask, word_index, word_mask, shape_ids, match_ids)
        if labels is None:
            return PointerNEROutput(encoder_state=state)
        prev = torch.cat([torch.full_like(labels[:, :1], START), labels[:, :-1]], dim=1)
        dec_mask = (prev != PAD).long()
        prev = prev.masked_fill(prev == PAD, END)
        logits, _ = self.decode_step(state, prev, decoder_attention_mask=dec_mask)
        scored = logits
        if self.config.constrained_loss:
            from .decoding import teacher_forced_allowed

            allowed = teacher_forced_allowed(self, labels, state.word_mask)
            scored = logits.float().masked_fill(~allowed, torch.finfo(torch.float32).min)
        entity_loss = nn.functional.cross_entropy(
            scored.reshape(-1, scored.shape[-1]), labels.reshape(-1), ignore_index=PAD
        )
        losses = self.auxiliary_losses(state, sentences)
        loss = entity_loss
        relation_loss = losses.get("relation")
        if relation_loss is not None:
            loss = loss + self.config.relation_weight * relation_loss
        return PointerNEROutput(loss, entity_loss, relation_loss, logits, state, losses)


def model_class(variant: str) -> type[PointerNER]:
    """The PointerNER (sub)class model/variants.yaml names for a variant; the baseline when none is named."""
    target = variant_table()[check_variant(variant)].get("class")
    if target is None:
        return PointerNER
    module, _, name = str(target).partition(":")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, PointerNER)):
        raise TypeError(f"variants.yaml: {variant} → {target} is not a PointerNER subclass")
    return cls


AutoModel.register(TypePriorConfig, PointerNER, exist_ok=True)
