"""The paper's variants, read from model/variants.yaml: the one table of variant names, model classes and the
additions each switches on. Kept free of torch and transformers so the CLI can check a variant name quickly."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from typeprior.errors import TypePriorError
from typeprior.yaml_files import read_mapping

VARIANTS = Path(__file__).with_name("variants.yaml")
SWITCHES = ("relation_prediction", "relation_attention", "type_attention")


class UnknownVariantError(TypePriorError, ValueError):
    """A variant name that model/variants.yaml does not list."""


@lru_cache(maxsize=1)
def variant_table() -> dict[str, dict[str, Any]]:
    """Variant name -> {class, relation_prediction, relation_attention, type_attention}."""
    data = read_mapping(VARIANTS, TypePriorError, "variant table")
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in data.items()}


def variant_names() -> list[str]:
    return list(variant_table())


def check_variant(variant: str) -> str:
    """The name itself when model/variants.yaml lists it; else a one-line error listing the variants."""
    if variant not in variant_table():
        raise UnknownVariantError(f"unknown variant {variant!r}: use one of {', '.join(variant_names())}")
    return variant


def uses_priors(variant: str) -> bool:
    """Whether the variant reads knowledge-base type priors (it has entity type attention)."""
    return bool(variant_table()[check_variant(variant)].get("type_attention", False))
