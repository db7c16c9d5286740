"""Configuration of the generative NER model, saved as config.json next to the weights.

The BART sizes live in a nested `bart` sub-config; everything the pointer model adds is a plain field.
`variant`, `relation_weight` and `priors_build` are the slots for the paper's additions (relation task,
relation attention, knowledge-base type attention): the BARTNER baseline is `variant="baseline"`, and
model/variants.yaml names the model class of each variant.
"""
from __future__ import annotations

from typing import Any

from transformers import AutoConfig, BartConfig, PreTrainedConfig

class TypePriorConfig(PreTrainedConfig):
    """Pointer-network NER over a BART backbone."""

    model_type = "typeprior"
    sub_configs_defaults = {"bart": BartConfig}

    bart: BartConfig | dict | None = None
    backbone: str = "tiny-random"
    backbone_kind: str = "random"  # "bart" (pretrained), "bert" (converted: cross-attention is new) or "random"
    entity_types: list[str] | None = None
    variant: str = "baseline"
    relation_weight: float = 0.0
    priors_build: dict | None = None
    layer_norm_eps: float = 1e-5
    word_shape: bool = False
    pointer_dropout: float = 0.3
    max_source_length: int = 512
    max_len: int = 10
    max_len_a: float = 0.6
    num_beams: int = 1
    length_penalty: float = 1.0

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        if self.entity_types is None:
            self.entity_types = []
        self.entity_types = [str(t) for t in self.entity_types]
        if len(set(self.entity_types)) != len(self.entity_types):
            raise ValueError(f"duplicate entity types in {self.entity_types}")
        self.is_encoder_decoder = True

    @property
    def d_model(self) -> int:
        return int(self.bart.d_model)

    @property
    def num_types(self) -> int:
        return len(self.entity_types)

    def max_target_length(self, num_words: int) -> int:
        """BARTNER's decoding budget: max_len + max_len_a × source length (in words here)."""
        return int(self.max_len + self.max_len_a * num_words)


AutoConfig.register(TypePriorConfig.model_type, TypePriorConfig, exist_ok=True)
