"""Configuration of the generative NER model, saved as config.json next to the weights.

The BART sizes live in a nested `bart` sub-config; everything the pointer model adds is a plain field.
`variant` names one of the paper's variants; model/variants.yaml gives its model class and which additions it
switches on (relation prediction, token relation attention, entity type attention). Settings left as None are
filled from model/variants.yaml (the switches) and model/additions.yaml (sizes, focal loss, w), so a saved
config.json always records the concrete values a model was built with. `w` is accepted as the name of
`relation_weight` (eq. 13) and read back as a property.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from transformers import AutoConfig, BartConfig, PreTrainedConfig

from typeprior.errors import TypePriorError
from typeprior.yaml_files import read_mapping

from .variants import SWITCHES, check_variant, variant_table

ADDITIONS = Path(__file__).with_name("additions.yaml")
ENTITY_STRUCTURES = ("flat", "nested", "discontinuous")
SETTINGS = (
    "grid_dim", "reduce_dim", "grid_dropout", "focal_alpha", "focal_gamma", "grid_block_cells", "prior_dim",
    "prefix_hidden", "prefix_dropout",
)


def addition_defaults(backbone: str | None = None) -> dict[str, Any]:
    """model/additions.yaml, with the overrides of `backbone` (its `backbones:` section) applied."""
    data = read_mapping(ADDITIONS, ModelConfigError, "model settings file")
    per_backbone = data.pop("backbones", {}) or {}
    data.update(per_backbone.get(str(backbone), {}) or {})
    return data


MODEL_KEYS = (*SETTINGS, "word_shape", "max_len", "max_len_a", "num_beams", "pointer_dropout", "decoder_layers",
              "end_bias", "pointer_state_input", "constrained_loss", "kb_match", "begin_end_recovery")


def relation_weight(variant: str, backbone: str | None = None, w: float | None = None,
                    relation_prediction: bool | None = None) -> float:
    """The w a model trains with, the one rule for it: the one given, else model/additions.yaml's when the model
    predicts relations (`relation_prediction`, by default the variant's switch), else 0 (no relation loss)."""
    if w is not None:
        return float(w)
    if relation_prediction is None:
        relation_prediction = bool(variant_table()[check_variant(variant)].get("relation_prediction", False))
    return float(addition_defaults(backbone)["relation_weight"]) if relation_prediction else 0.0


class ModelConfigError(TypePriorError, ValueError):
    """A model setting of the wrong type or out of range (from config.json, `--set` or a caller)."""


Fraction = Annotated[float, Field(ge=0, lt=1, strict=False)]
Positive = Annotated[int, Field(ge=1, strict=True)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ModelSettings(BaseModel):
    """The ranges of the model's settings, checked once whenever a config is made or loaded."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    variant: str
    entity_types: list[Annotated[str, Field(strict=True, min_length=1)]]
    relation_weight: NonNegative
    grid_dim: Positive
    reduce_dim: Positive
    grid_dropout: Fraction
    focal_alpha: NonNegative | Annotated[list[NonNegative], Field(min_length=3, max_length=3)]
    focal_gamma: NonNegative
    grid_block_cells: Positive
    prior_dim: Positive
    prefix_hidden: Positive
    prefix_dropout: Fraction
    pointer_dropout: Fraction
    max_source_length: Annotated[int, Field(ge=2, strict=True)]
    max_len: Annotated[int, Field(ge=0, strict=True)]
    max_len_a: NonNegative
    num_beams: Positive
    length_penalty: Annotated[float, Field(allow_inf_nan=False)]
    end_bias: Annotated[float, Field(allow_inf_nan=False)]
    pointer_state_input: Annotated[bool, Field(strict=True)]
    constrained_loss: Annotated[bool, Field(strict=True)]
    kb_match: Annotated[bool, Field(strict=True)]
    begin_end_recovery: Annotated[bool, Field(strict=True)]
    entity_structure: Literal[ENTITY_STRUCTURES] | None = None
    decoder_layers: Positive | None = None


def _first_error(err: ValidationError) -> ModelConfigError:
    """Pydantic's first complaint as one line naming the setting: `model setting grid_dim: ... (got -4)`."""
    e = err.errors()[0]
    key = ".".join(str(x) for x in e["loc"])
    return ModelConfigError(f"model setting {key}: {e['msg']} (got {e.get('input')!r})")


def check_overrides(values: dict[str, Any]) -> None:
    """Check only the settings given (a run's `--set` items), before any model exists."""
    blank = ModelSettings.model_construct()
    for key, value in values.items():
        if key in ModelSettings.model_fields:
            try:
                setattr(blank, key, value)
            except ValidationError as err:
                raise _first_error(err) from None


def check_settings(values: dict[str, Any]) -> None:
    """Check a whole config's settings (the variant name is checked before, by check_variant)."""
    try:
        ModelSettings.model_validate(values)
    except ValidationError as err:
        raise _first_error(err) from None


class TypePriorConfig(PreTrainedConfig):
    """Pointer-network NER over a BART backbone."""

    model_type = "typeprior"
    sub_configs_defaults = {"bart": BartConfig}

    bart: BartConfig | dict | None = None
    backbone: str = "tiny-random"
    backbone_kind: str = "random"  # "bart" (pretrained), "bert" (converted: cross-attention is new) or "random"
    entity_types: list[str] | None = None
    variant: str = "baseline"
    relation_weight: float | None = None
    priors_build: dict | None = None
    relation_prediction: bool | None = None
    relation_attention: bool | None = None
    type_attention: bool | None = None
    type_priors_from_kb: bool = False  # E_T is a fixed knowledge-base array (saved with the weights), not learned
    grid_dim: int | None = None
    reduce_dim: int | None = None
    grid_dropout: float | None = None
    focal_alpha: float | list[float] | None = None  # one weight, or one per relation (None, Inside, Begin-End)
    focal_gamma: float | None = None
    grid_block_cells: int | None = None
    prior_dim: int | None = None
    prefix_hidden: int | None = None
    prefix_dropout: float | None = None
    # What the training sentences held, which decoding then keeps to: "flat" (contiguous, non-overlapping),
    # "nested" (contiguous) or "discontinuous" (anything); set by the trainer, None (unconstrained) before it.
    entity_structure: str | None = None
    layer_norm_eps: float = 1e-5
    word_shape: bool = False
    decoder_layers: int | None = None  # a converted BERT's decoder from its top layers only (None: all of them)
    pointer_dropout: float = 0.3
    max_source_length: int = 512
    max_len: int = 10
    max_len_a: float = 0.6
    num_beams: int = 1
    length_penalty: float = 1.0
    # Added to END's logit at every decoding step: below 0 the decoder stops later and generates more entities
    # (the generative model's errors are mostly misses; BENCHMARKS.md "Stopping later").
    end_bias: float = 0.0
    # A pointer's decoder input adds a projection (starting at zero) of the pointed word's encoder state, so the
    # decoder sees where in the sentence it pointed, not only which token (BARTNER feeds the token embedding alone).
    # On by default since it won a dev A/B (BENCHMARKS.md, "Learning faster"); off for a model saved before it existed.
    pointer_state_input: bool = True
    # The entity loss is a cross-entropy over the outputs decoding allows after the gold prefix (model/decoding.py
    # allowed_mask), so training spends nothing on choices decoding never offers. On by default, as above.
    constrained_loss: bool = True
    # KB-match features (model/gazetteer.py): each sub-word's input adds a learned embedding of whether a name of
    # the priors build covers its word, per type. The names (kb_match_names, type -> names) travel in the config.
    kb_match: bool = False
    kb_match_names: dict | None = None
    # Decoding adds the contiguous entities the relation grid marks (Begin-End and Inside) that the decoder did not
    # generate, typed by the decoder (model/recovery.py); needs relation prediction. Off: BENCHMARKS.md, "Begin-End".
    begin_end_recovery: bool = False

    def __post_init__(self, **kwargs: Any) -> None:
        if "w" in kwargs:
            w = kwargs.pop("w")
            if w is not None:
                self.relation_weight = float(w)
        super().__post_init__(**kwargs)
        check_variant(self.variant)
        self._resolve_additions()
        if self.entity_types is None:
            self.entity_types = []
        check_settings({name: getattr(self, name) for name in ModelSettings.model_fields})
        if self.kb_match and not any((self.kb_match_names or {}).values()):
            raise ModelConfigError("model setting kb_match: needs the entity names of a knowledge-base build "
                                   "(train with KB priors, --priors)")
        if self.begin_end_recovery and not self.relation_prediction:
            raise ModelConfigError(f"model setting begin_end_recovery: needs relation prediction, which variant "
                                   f"{self.variant!r} does not have (rp-tra, rp-eta or full)")
        if len(set(self.entity_types)) != len(self.entity_types):
            raise ModelConfigError(f"duplicate entity types in {self.entity_types}")
        self.is_encoder_decoder = True

    def _resolve_additions(self) -> None:
        """Fill the switches from the variant and the unset settings from model/additions.yaml."""
        switches = variant_table().get(self.variant) or {}
        switches = switches if isinstance(switches, dict) else {}
        for name in SWITCHES:
            if getattr(self, name) is None:
                setattr(self, name, bool(switches.get(name, False)))
        defaults = addition_defaults(self.backbone)
        for name in SETTINGS:
            if getattr(self, name) is None:
                setattr(self, name, defaults.get(name))
        if self.relation_weight is None:
            self.relation_weight = relation_weight(self.variant, self.backbone, None, self.relation_prediction)

    @property
    def w(self) -> float:
        """w of eq. 13 (L = L_entity + w * L_relation)."""
        return float(self.relation_weight)

    @property
    def additions(self) -> tuple[str, ...]:
        """The paper's additions this model uses, in SWITCHES order."""
        return tuple(name for name in SWITCHES if getattr(self, name))

    @property
    def d_model(self) -> int:
        return int(self.bart.d_model)

    @property
    def num_types(self) -> int:
        return len(self.entity_types)

    def max_target_length(self, num_words: int) -> int:
        """BARTNER's decoding budget: max_len + max_len_a × source length (in words here)."""
        return int(self.max_len + self.max_len_a * num_words)


# Settings added with a default of on: a saved config.json without them was written before they existed, when the
# model had them off (Tagger.load reads it so).
OFF_BEFORE_THEY_EXISTED = ("pointer_state_input", "constrained_loss")


AutoConfig.register(TypePriorConfig.model_type, TypePriorConfig, exist_ok=True)
