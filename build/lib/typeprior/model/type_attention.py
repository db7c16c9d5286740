"""Entity type attention (paper 2.4): type priors from a knowledge base as prefixes of every attention layer.

E_T holds one vector per entity type: read from a type-priors build (a [C, 384] float array from the knowledge
base) or, without a build, a learned initialisation so the model also works alone. A prefix-tuning MLP (down
to `hidden` = 512, then up to 2 x layers x width) turns E_T into K_T, V_T per layer for the encoder
self-attention, the decoder self-attention (eq. 9) and the decoder cross-attention (eq. 7). The same E_T,
projected to the model width, gives the type part of the output distribution, so the knowledge base shapes
both attention and decoding. In the model that projection is added to BARTNER's name-initialised type embeddings
and starts at zero (`PriorTypeEmbeddings`): a random projection of fixed knowledge-base vectors replaced the good
name-based start and cost several F1 points in short trainings (BENCHMARKS.md).
"""
from __future__ import annotations

import torch
from torch import nn

from .attention import DECODER_CROSS, DECODER_SELF, ENCODER_SELF, AttentionExtras, ExtraKV, split_heads

DEFAULT_PRIOR_DIM = 384
DEFAULT_PREFIX_HIDDEN = 512


class TypePriorError(ValueError):
    """A type-priors array does not fit the model (shape, values)."""


class TypePriors(nn.Module):
    """E_T: one vector per entity type, and its projection to the model width.

    priors: a [num_types, prior_dim] array from the knowledge base (kept fixed, a buffer saved with the model),
    or None for a learned table. `embeddings()` feeds the output distribution and the decoder inputs of types.
    """

    def __init__(
        self, num_types: int, d_model: int, prior_dim: int = DEFAULT_PRIOR_DIM, priors: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        if num_types <= 0:
            raise TypePriorError(f"type priors need at least one type, got {num_types}")
        self.num_types = num_types
        self.prior_dim = prior_dim
        self.from_knowledge_base = priors is not None
        if priors is None:
            self.learned = nn.Parameter(torch.randn(num_types, prior_dim) * 0.02)
        else:
            priors = torch.as_tensor(priors)
            if tuple(priors.shape) != (num_types, prior_dim):
                raise TypePriorError(
                    f"type priors have shape {tuple(priors.shape)}, expected ({num_types}, {prior_dim}): one "
                    f"{prior_dim}-d vector per entity type"
                )
            if not priors.is_floating_point():
                raise TypePriorError(f"type priors must be floats, got {priors.dtype}")
            bad = (~torch.isfinite(priors)).any(dim=1).nonzero().flatten().tolist()
            if bad:
                raise TypePriorError(f"type priors must be finite; rows (type ids) with NaN or inf: {bad}")
            self.register_buffer("fixed", priors.detach().to(torch.float32).clone())
        self.to_model = nn.Linear(prior_dim, d_model)

    def vectors(self) -> torch.Tensor:
        """E_T: [C, prior_dim]."""
        return self.fixed if self.from_knowledge_base else self.learned

    def embeddings(self) -> torch.Tensor:
        """E_T projected to the model width: [C, d_model]."""
        return self.to_model(self.vectors())

    def forward(self) -> torch.Tensor:
        """The type embeddings of the output distribution and of the decoder inputs: `embeddings()`."""
        return self.embeddings()

    @torch.no_grad()
    def load_priors(self, priors: torch.Tensor) -> None:
        """Replace the knowledge-base E_T of a model built for one (same shape; checked like the constructor)."""
        if not self.from_knowledge_base:
            raise TypePriorError("this model learns E_T; it was not built for knowledge-base type priors")
        checked = TypePriors(self.num_types, self.to_model.out_features, self.prior_dim, priors)
        self.fixed.copy_(checked.fixed)


class TypePrefix(nn.Module):
    """Prefix-tuning MLP: E_T -> (K_T, V_T) per layer for encoder self, decoder self and decoder cross attention."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        encoder_layers: int,
        decoder_layers: int,
        prior_dim: int = DEFAULT_PRIOR_DIM,
        hidden: int = DEFAULT_PREFIX_HIDDEN,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise TypePriorError(f"type prefix: width {d_model} is not divisible by {num_heads} heads")
        self.d_model = d_model
        self.num_heads = num_heads
        self.layers = {ENCODER_SELF: encoder_layers, DECODER_SELF: decoder_layers, DECODER_CROSS: decoder_layers}
        self.mlps = nn.ModuleDict(
            {
                role: nn.Sequential(
                    nn.Linear(prior_dim, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, 2 * n * d_model)
                )
                for role, n in self.layers.items()
            }
        )

    def role(self, role: str, type_vectors: torch.Tensor) -> list[ExtraKV]:
        """Per-layer K_T, V_T of one role: [1, H, C, Dh] each, shared by every sentence of a batch."""
        c = type_vectors.shape[0]
        kv = self.mlps[role](type_vectors).view(1, c, self.layers[role], 2, self.d_model)
        return [
            ExtraKV(split_heads(kv[:, :, layer, 0], self.num_heads), split_heads(kv[:, :, layer, 1], self.num_heads))
            for layer in range(self.layers[role])
        ]

    def forward(self, type_vectors: torch.Tensor) -> AttentionExtras:
        """E_T [C, prior_dim] -> the extras of every attention layer."""
        return AttentionExtras(*(self.role(r, type_vectors) for r in (ENCODER_SELF, DECODER_SELF, DECODER_CROSS)))


class PriorTypeEmbeddings(nn.Module):
    """The type embeddings of a type-attention model: names + E_T projected to the model width.

    `names` is BARTNER's learned, name-initialised table (model.generator.TypeEmbeddings); `priors` holds E_T and
    its projection, whose weights start at zero so that training starts from the baseline's type embeddings and
    the knowledge base enters as the projection learns (the no-op start W2NER gives its conditional layer norm).
    """

    def __init__(self, names: nn.Module, priors: TypePriors) -> None:
        super().__init__()
        self.names = names
        self.priors = priors
        nn.init.zeros_(priors.to_model.weight)
        nn.init.zeros_(priors.to_model.bias)

    @property
    def embedding(self) -> nn.Embedding:
        """The name-initialised table (what PointerNER.init_type_embeddings_from_names fills)."""
        return self.names.embedding

    def vectors(self) -> torch.Tensor:
        """E_T: [C, prior_dim]."""
        return self.priors.vectors()

    def load_priors(self, priors: torch.Tensor) -> None:
        self.priors.load_priors(priors)

    def forward(self) -> torch.Tensor:
        return self.names() + self.priors.embeddings()
