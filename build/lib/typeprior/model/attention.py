"""The attention seam: extra keys and values for every attention layer of a Hugging Face BART.

The paper's relation attention (eq. 7) and type attention (eq. 9) both concatenate extra keys and values to
those of BART's attention layers. Rather than copying BART's files, this module

- registers an attention function through transformers' public ``AttentionInterface`` (and a matching mask
  function through ``AttentionMaskInterface``) that wraps the eager or SDPA implementation,
- tags every ``BartAttention`` module with its role (encoder self, decoder self, decoder cross) and layer index,
- reads the per-layer extras from a context variable set by ``with attention_extras(extras): model(...)``, or
  from the keyword argument ``typeprior_extras=extras`` of the model's forward (transformers 5 forwards unknown
  keyword arguments down to the attention function; checked on 5.24). With gradient checkpointing, use the
  keyword argument (it is replayed with the layer) or call backward inside the ``with`` block: the backward pass
  recomputes the layers, and outside the block the context holds no extras (torch then raises a CheckpointError).

The extras are concatenated after BART has read or written its key/value cache, so they never enter the cache
and incremental decoding keeps working. Extra keys are visible to every query (a prefix is not subject to the
causal mask); their own mask hides padded extras (for example the relation vectors of padded words).
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.models.bart.modeling_bart import eager_attention_forward

ENCODER_SELF = "encoder_self"
DECODER_SELF = "decoder_self"
DECODER_CROSS = "decoder_cross"
ROLES = (ENCODER_SELF, DECODER_SELF, DECODER_CROSS)

ROLE_ATTR = "typeprior_role"
LAYER_ATTR = "typeprior_layer"
IMPLEMENTATION_PREFIX = "typeprior_extended_"
EXTRAS_KWARG = "typeprior_extras"

_BASES: dict[str, tuple[Callable, Callable]] = {
    "eager": (eager_attention_forward, eager_mask),
    "sdpa": (sdpa_attention_forward, sdpa_mask),
}


class AttentionExtrasError(ValueError):
    """Extra keys/values do not fit the attention layer they are given to (shape, heads, batch)."""


@dataclass
class ExtraKV:
    """Extra keys and values for one attention layer.

    key, value: [B, H, N, Dh] (B may be 1 to share them across the batch); mask: [B, N] bool, True = visible,
    or None when every extra is visible.
    """

    key: torch.Tensor
    value: torch.Tensor
    mask: torch.Tensor | None = None
    # the last (layer keys, layer values, their versions, joined keys, joined values) of `appended_to(remember=True)`
    _appended: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.key.ndim != 4 or self.value.ndim != 4:
            raise AttentionExtrasError(
                f"extra key/value must be [B, H, N, Dh], got {tuple(self.key.shape)} and {tuple(self.value.shape)}"
            )
        if self.key.shape[:3] != self.value.shape[:3]:
            raise AttentionExtrasError(
                f"extra key {tuple(self.key.shape)} and value {tuple(self.value.shape)} differ in batch, heads or length"
            )
        if self.mask is not None:
            if self.mask.dtype != torch.bool:
                raise AttentionExtrasError(f"extra mask must be bool (True = visible), got {self.mask.dtype}")
            if tuple(self.mask.shape) != (self.key.shape[0], self.key.shape[2]):
                raise AttentionExtrasError(
                    f"extra mask {tuple(self.mask.shape)} does not match key batch and length "
                    f"{(self.key.shape[0], self.key.shape[2])}"
                )

    @property
    def batch_size(self) -> int:
        return self.key.shape[0]

    @property
    def length(self) -> int:
        return self.key.shape[2]

    def visible(self) -> torch.Tensor:
        """The mask, materialised: [B, N] bool."""
        if self.mask is not None:
            return self.mask
        return torch.ones(self.key.shape[0], self.key.shape[2], dtype=torch.bool, device=self.key.device)

    def expand_batch(self, batch_size: int) -> "ExtraKV":
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise AttentionExtrasError(f"extras for a batch of {self.batch_size} cannot serve a batch of {batch_size}")
        k = self.key.expand(batch_size, -1, -1, -1)
        v = self.value.expand(batch_size, -1, -1, -1)
        m = None if self.mask is None else self.mask.expand(batch_size, -1)
        return ExtraKV(k, v, m)

    def appended_to(
        self, key: torch.Tensor, value: torch.Tensor, remember: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A layer's keys and values [B, H, K, Dh] with these extras appended along the length.

        With `remember`, the result is kept for the same key and value tensors (unchanged in place) while no
        gradient is recorded: a cross-attention layer decoding with a cache sees the same keys at every step, so
        its extras are appended once per batch instead of once per step (a copy of every cross key and value).
        """
        remember = remember and not (key.is_inference() or value.is_inference())  # they keep no version counter
        versions = (key._version, value._version) if remember else None
        memo = self._appended
        if remember and memo is not None and memo[0] is key and memo[1] is value and memo[2] == versions:
            return memo[3], memo[4]
        extra = self.expand_batch(key.shape[0])
        joined_key = torch.cat([key, extra.key.to(device=key.device, dtype=key.dtype)], dim=2)
        joined_value = torch.cat([value, extra.value.to(device=value.device, dtype=value.dtype)], dim=2)
        if remember and not (torch.is_grad_enabled() and (joined_key.requires_grad or joined_value.requires_grad)):
            self._appended = (key, value, versions, joined_key, joined_value)
        return joined_key, joined_value

    def index_select(self, batch_index: torch.Tensor) -> "ExtraKV":
        """Reorder or repeat the batch (beam search); extras shared by the batch (B = 1) stay as they are."""
        if self.batch_size == 1:
            return self
        m = None if self.mask is None else self.mask.index_select(0, batch_index)
        return ExtraKV(self.key.index_select(0, batch_index), self.value.index_select(0, batch_index), m)

    @staticmethod
    def cat(*parts: "ExtraKV | None") -> "ExtraKV | None":
        """Concatenate along the extra length (e.g. type prefix + relation vectors in cross-attention)."""
        present = [p for p in parts if p is not None]
        if not present:
            return None
        if len(present) == 1:
            return present[0]
        batch = max(p.batch_size for p in present)
        present = [p.expand_batch(batch) for p in present]
        mask = None
        if any(p.mask is not None for p in present):
            mask = torch.cat([p.visible() for p in present], dim=1)
        return ExtraKV(
            torch.cat([p.key for p in present], dim=2), torch.cat([p.value for p in present], dim=2), mask
        )


def _merge_lists(a: list[ExtraKV | None], b: list[ExtraKV | None]) -> list[ExtraKV | None]:
    n = max(len(a), len(b))
    a = list(a) + [None] * (n - len(a))
    b = list(b) + [None] * (n - len(b))
    return [ExtraKV.cat(x, y) for x, y in zip(a, b)]


@dataclass
class AttentionExtras:
    """Per-layer extras for each attention role; a missing or None entry leaves that layer untouched."""

    encoder_self: list[ExtraKV | None] = field(default_factory=list)
    decoder_self: list[ExtraKV | None] = field(default_factory=list)
    decoder_cross: list[ExtraKV | None] = field(default_factory=list)

    def get(self, role: str, layer: int) -> ExtraKV | None:
        if role not in ROLES:
            raise AttentionExtrasError(f"unknown attention role {role!r}; expected one of {ROLES}")
        per_layer = getattr(self, role)
        return per_layer[layer] if layer < len(per_layer) else None

    def merge(self, other: "AttentionExtras | None") -> "AttentionExtras":
        """Layer-wise concatenation of two sets of extras (self's extras first)."""
        if other is None:
            return self
        return AttentionExtras(*(_merge_lists(getattr(self, r), getattr(other, r)) for r in ROLES))

    def index_select(self, batch_index: torch.Tensor) -> "AttentionExtras":
        """Reorder or repeat the batch of every entry."""
        return AttentionExtras(
            *([None if e is None else e.index_select(batch_index) for e in getattr(self, r)] for r in ROLES)
        )

    def expand_beams(self, batch_size: int, num_beams: int) -> "AttentionExtras":
        """Repeat each sentence's extras for its beams (the layout of generate's repeat_interleave).

        Beams of one sentence share its extras, so reordering beams within a sentence needs nothing more.
        """
        device = next((e.key.device for r in ROLES for e in getattr(self, r) if e is not None), None)
        return self.index_select(torch.arange(batch_size, device=device).repeat_interleave(num_beams))


_EXTRAS: ContextVar[AttentionExtras | None] = ContextVar("typeprior_attention_extras", default=None)


@contextlib.contextmanager
def attention_extras(extras: AttentionExtras | None) -> Iterator[None]:
    """Make `extras` visible to every extended attention layer called inside the block."""
    token = _EXTRAS.set(extras)
    try:
        yield
    finally:
        _EXTRAS.reset(token)


def current_extras() -> AttentionExtras | None:
    return _EXTRAS.get()


def _extended_inputs(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    extra: ExtraKV,
    additive: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keys, values and mask with the extras appended after the layer's own keys."""
    role, layer = getattr(module, ROLE_ATTR), getattr(module, LAYER_ATTR)
    batch, _, q_len, _ = query.shape
    k_len = key.shape[2]
    if extra.key.shape[1] != key.shape[1] or extra.key.shape[3] != key.shape[3] or extra.value.shape[3] != value.shape[3]:
        raise AttentionExtrasError(
            f"{role} layer {layer}: extra key {tuple(extra.key.shape)} / value {tuple(extra.value.shape)} do not match "
            f"the layer's heads and head size ({key.shape[1]}, {key.shape[3]})"
        )
    try:
        joined_key, joined_value = extra.appended_to(key, value, remember=role == DECODER_CROSS)
        extra = extra.expand_batch(batch)
    except AttentionExtrasError as e:
        raise AttentionExtrasError(f"{role} layer {layer}: {e}") from None
    seen = extra.visible().to(key.device)[:, None, None, :].expand(batch, 1, q_len, extra.length)

    if attention_mask is None:
        own = torch.ones(1, 1, q_len, k_len, dtype=torch.bool, device=key.device)
        if role == DECODER_SELF and q_len > 1:
            # No mask means the implementation would have used `is_causal`: queries are the last q_len positions.
            own = torch.ones(q_len, k_len, dtype=torch.bool, device=key.device).tril(k_len - q_len)[None, None]
        attention_mask = own
    own = attention_mask.expand(batch, attention_mask.shape[1], q_len, k_len)
    if own.dtype == torch.bool:
        mask = torch.cat([own, seen.expand(batch, own.shape[1], q_len, extra.length)], dim=-1)
        if additive:
            mask = torch.zeros(mask.shape, dtype=query.dtype, device=mask.device).masked_fill(
                ~mask, torch.finfo(query.dtype).min
            )
    else:
        extra_bias = torch.zeros(seen.shape, dtype=own.dtype, device=own.device).masked_fill(
            ~seen, torch.finfo(own.dtype).min
        )
        mask = torch.cat([own, extra_bias.expand(batch, own.shape[1], q_len, extra.length)], dim=-1)
    return joined_key, joined_value, mask


def _extended_attention(base_name: str) -> Callable:
    base_forward, _ = _BASES[base_name]
    additive = base_name == "eager"

    def extended_attention_forward(module, query, key, value, attention_mask, **kwargs):
        extras = kwargs.pop(EXTRAS_KWARG, None) or _EXTRAS.get()
        role = getattr(module, ROLE_ATTR, None)
        extra = extras.get(role, getattr(module, LAYER_ATTR)) if extras is not None and role is not None else None
        if extra is not None:
            key, value, attention_mask = _extended_inputs(module, query, key, value, attention_mask, extra, additive)
            kwargs.pop("is_causal", None)
        return base_forward(module, query, key, value, attention_mask, **kwargs)

    extended_attention_forward.__name__ = f"{IMPLEMENTATION_PREFIX}{base_name}"
    return extended_attention_forward


def extended_implementation(base: str) -> str:
    """Register (idempotently) and name the extended version of the `base` attention implementation."""
    if base not in _BASES:
        raise AttentionExtrasError(f"extended attention wraps {sorted(_BASES)}, not {base!r}")
    name = f"{IMPLEMENTATION_PREFIX}{base}"
    if ALL_ATTENTION_FUNCTIONS.get(name) is None:
        AttentionInterface.register(name, _extended_attention(base))
        AttentionMaskInterface.register(name, _BASES[base][1])
    return name


def tag_attention_roles(model: nn.Module) -> dict[str, int]:
    """Mark each BART attention module with its role and layer; returns how many of each role were found."""
    counts = {r: 0 for r in ROLES}
    for module in model.modules():
        if not all(hasattr(module, a) for a in ("q_proj", "k_proj", "v_proj", "is_decoder", "layer_idx")):
            continue
        if module.layer_idx is None:
            raise AttentionExtrasError(f"attention module {type(module).__name__} has no layer index to tag")
        if not module.is_decoder:
            role = ENCODER_SELF
        else:
            role = DECODER_SELF if module.is_causal else DECODER_CROSS
        setattr(module, ROLE_ATTR, role)
        setattr(module, LAYER_ATTR, int(module.layer_idx))
        counts[role] += 1
    return counts


def install_extended_attention(model: nn.Module, base: str | None = None) -> nn.Module:
    """Switch a BART model (BartModel, BartForConditionalGeneration, ...) to the extended attention, in place.

    `base` is the math underneath, "eager" or "sdpa"; by default the model's current implementation. Without
    extras in the context the model computes exactly what the base implementation computes.
    """
    current = model.config._attn_implementation or "eager"
    base = base or current.removeprefix(IMPLEMENTATION_PREFIX)
    name = extended_implementation(base)
    counts = tag_attention_roles(model)
    if not any(counts.values()):
        raise AttentionExtrasError(f"{type(model).__name__} has no BART-style attention module to extend")
    model.set_attn_implementation(name)
    if model.config._attn_implementation != name:
        raise AttentionExtrasError(
            f"{type(model).__name__} kept attention implementation {model.config._attn_implementation!r}"
        )
    return model


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[B, N, H*Dh] -> [B, H, N, Dh], the layout of ExtraKV."""
    b, n, d = x.shape
    if d % num_heads:
        raise AttentionExtrasError(f"width {d} is not divisible by {num_heads} heads")
    return x.view(b, n, num_heads, d // num_heads).transpose(1, 2)
