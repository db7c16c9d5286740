"""The pointer generator with the paper's additions: the model class of the rp-tra, rp-eta and full variants.

Which additions run is read from the config (filled from model/variants.yaml):

- relation prediction (2.2): r_ij = CLN(h_i, h_j) over the encoder's word states, classified into
  None / Inside / Begin-End and trained with a focal loss; the total loss is L_entity + w * L_relation (eq. 13);
- token relation attention (2.3): the same grid, reduced, convolved and row-pooled, gives per decoder layer
  K_R, V_R appended to the cross-attention keys and values (padded words masked);
- entity type attention (2.4): E_T (knowledge-base type vectors, or learned) through a prefix MLP gives K_T, V_T
  in every encoder and decoder self-attention and in the decoder cross-attention; the same E_T projected to the
  model width replaces BARTNER's type embeddings, so it also gives the type scores of the output and the decoder
  input of type tokens.

Extras reach BART's attention layers as the `typeprior_extras` keyword (model/attention.py), never through the
key/value cache; the decoder's extras live in EncoderState.extras, so beam search repeats them with the state.
With every addition off this class computes exactly what PointerNER computes (tests/test_variants.py).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .attention import (
    DECODER_CROSS,
    DECODER_SELF,
    ENCODER_SELF,
    EXTRAS_KWARG,
    AttentionExtras,
    install_extended_attention,
)
from .config import TypePriorConfig
from .corpus.document import Sentence
from .generator import EncoderState, PointerNER
from .relation import IGNORE_INDEX, RelationPrediction, relation_labels
from .relation_attention import RelationAttention
from .type_attention import PriorTypeEmbeddings, TypePrefix, TypePriors

ATTENTION_EXTRAS = "attention"  # key of the decoder's AttentionExtras in EncoderState.extras


class ExtendedPointerNER(PointerNER):
    """PointerNER plus relation prediction, token relation attention and entity type attention (as configured)."""

    def __init__(self, config: TypePriorConfig) -> None:
        super().__init__(config)
        bart = config.bart
        d = config.d_model
        if config.relation_prediction or config.relation_attention:
            self.relation = RelationPrediction(
                d, config.grid_dim, dropout=config.grid_dropout, alpha=config.focal_alpha, gamma=config.focal_gamma,
                block_cells=config.grid_block_cells,
            )
        if config.relation_attention:
            self.relation_attention = RelationAttention(
                config.grid_dim, d, bart.decoder_layers, bart.decoder_attention_heads, config.reduce_dim,
                dropout=config.grid_dropout, block_cells=config.grid_block_cells,
            )
        if config.type_attention:
            if bart.encoder_attention_heads != bart.decoder_attention_heads:
                raise ValueError(
                    f"type attention needs one head count; the backbone has {bart.encoder_attention_heads} encoder "
                    f"and {bart.decoder_attention_heads} decoder heads"
                )
            if config.num_types == 0:
                raise ValueError("type attention needs at least one entity type")
            placeholder = torch.zeros(config.num_types, config.prior_dim) if config.type_priors_from_kb else None
            self.type_embeddings = PriorTypeEmbeddings(
                self.type_embeddings, TypePriors(config.num_types, d, config.prior_dim, placeholder)
            )
            self.type_prefix = TypePrefix(
                d, bart.encoder_attention_heads, bart.encoder_layers, bart.decoder_layers, config.prior_dim,
                config.prefix_hidden, config.prefix_dropout,
            )
        if config.relation_attention or config.type_attention:
            install_extended_attention(self.bart)

    # -- E_T ------------------------------------------------------------------------------------------

    @property
    def uses_type_priors(self) -> bool:
        return bool(self.config.type_attention)

    def set_type_priors(self, vectors: torch.Tensor) -> None:
        """Install knowledge-base type vectors [C, prior_dim] (rows in entity_types order) as E_T."""
        if not self.config.type_attention:
            raise ValueError(f"variant {self.config.variant!r} has no entity type attention to take type priors")
        self.type_embeddings.load_priors(torch.as_tensor(vectors, dtype=torch.float32))

    def _type_extras(self, *roles: str) -> AttentionExtras | None:
        if not self.config.type_attention:
            return None
        vectors = self.type_embeddings.vectors()
        return AttentionExtras(**{role: self.type_prefix.role(role, vectors) for role in roles})

    # -- the seams of PointerNER ----------------------------------------------------------------------

    def encoder_attention_kwargs(self) -> dict[str, Any]:
        extras = self._type_extras(ENCODER_SELF)
        return {} if extras is None else {EXTRAS_KWARG: extras}

    def extend_state(self, state: EncoderState) -> EncoderState:
        """The decoder's extras: K_T, V_T (self and cross) and K_R, V_R (cross), computed once per encoder pass."""
        extras = self._type_extras(DECODER_SELF, DECODER_CROSS)
        if self.config.relation_attention:
            relation = self.relation_attention(self.relation.grid, state.word_states, state.word_mask)
            extras = AttentionExtras(decoder_cross=relation) if extras is None else extras.merge(
                AttentionExtras(decoder_cross=relation)
            )
        if extras is not None:
            state.extras[ATTENTION_EXTRAS] = extras
        return state

    def decoder_attention_kwargs(self, state: EncoderState) -> dict[str, Any]:
        extras = state.extras.get(ATTENTION_EXTRAS)
        return {} if extras is None else {EXTRAS_KWARG: extras}

    def auxiliary_losses(self, state: EncoderState, sentences: Sequence[Any] | None) -> dict[str, torch.Tensor]:
        """The relation task's focal loss over the word-pair grid (eq. 5), when relation prediction is on."""
        if not self.config.relation_prediction or sentences is None:
            return {}
        logits = self.relation(state.word_states, state.word_mask)
        labels = relation_targets(sentences, state.word_mask).to(logits.device)
        return {"relation": self.relation.loss(logits, labels)}


def relation_targets(sentences: Sequence[Sentence], word_mask: torch.Tensor) -> torch.Tensor:
    """Gold relations [B, n, n] on the words the encoder kept (entities on truncated words left out)."""
    n = word_mask.shape[1]
    kept = word_mask.sum(-1).tolist()
    out = torch.full((len(sentences), n, n), IGNORE_INDEX, dtype=torch.long)
    for i, (s, k) in enumerate(zip(sentences, kept)):
        entities = [e for e in s.entities if e.last < k]
        out[i] = relation_labels(entities, n, length=int(k))
    return out
