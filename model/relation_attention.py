"""Token relation attention (paper 2.3): the relation grid as extra keys and values of the decoder cross-attention.

The relation vectors r_ij (RelationGrid), with a distance and a region embedding as in W2NER, are reduced to
`reduce_dim` channels (256 in the paper) by a 1x1 convolution, then pass W2NER's depthwise dilated 3x3
convolutions (dilations 1, 2, 3, chained, outputs concatenated: cheap on CPU unlike a dense 3x3). Each row i is
max-pooled over its real columns into one vector per word, and projected per decoder layer to K_R, V_R, which are
concatenated with the cross-attention keys and values (eq. 7); padded words are masked out.

Memory and time: sentences of similar length share a grid cropped to the longest of them (relation.by_length),
and the grid is processed in blocks of sentences and rows (grid_blocks); a block of rows carries a halo of
sum(dilations) rows on each side, so the pooled vectors of its own rows are exact; cells outside the real words are zeroed before every convolution, so a sentence
gives the same vectors alone and inside a padded batch.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .attention import ExtraKV, split_heads
from .relation import DEFAULT_BLOCK_CELLS, RelationGrid, blockwise, by_length, grid_blocks

DISTANCE_BUCKETS = 20
PAD_REGION, UPPER_REGION, LOWER_REGION = 0, 1, 2


def distance_buckets(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """W2NER's 20 distance buckets for i - j: 19 for 0, 1..9 for log2-sized positive gaps, 10..18 for negative."""
    d = rows[:, None] - cols[None, :]
    mag = torch.floor(torch.log2(d.abs().clamp(min=1).float())).long() + 1
    mag = mag.clamp(max=9)
    return torch.where(d == 0, torch.full_like(d, 19), torch.where(d > 0, mag, mag + 9))


class RelationAttention(nn.Module):
    """Pooled relation vectors per word and their per-layer keys/values for the decoder cross-attention."""

    def __init__(
        self,
        grid_dim: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        reduce_dim: int = 256,
        dilations: tuple[int, ...] = (1, 2, 3),
        distance_dim: int = 20,
        region_dim: int = 20,
        dropout: float = 0.1,
        block_cells: int | None = DEFAULT_BLOCK_CELLS,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"relation attention: width {d_model} is not divisible by {num_heads} heads")
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.d_model = d_model
        self.dilations = tuple(dilations)
        self.block_cells = block_cells
        self.distance = nn.Embedding(DISTANCE_BUCKETS, distance_dim)
        self.region = nn.Embedding(3, region_dim)
        self.dropout = nn.Dropout2d(dropout)
        self.reduce = nn.Conv2d(grid_dim + distance_dim + region_dim, reduce_dim, kernel_size=1)
        self.convs = nn.ModuleList(
            nn.Conv2d(reduce_dim, reduce_dim, kernel_size=3, groups=reduce_dim, dilation=d, padding=d)
            for d in self.dilations
        )
        self.pooled_dim = reduce_dim * len(self.dilations)
        self.norm = nn.LayerNorm(self.pooled_dim)
        self.key_value = nn.Linear(self.pooled_dim, num_layers * 2 * d_model)

    @property
    def halo(self) -> int:
        """Rows a block needs on each side so that its own rows see the same neighbours as in the whole grid."""
        return sum(self.dilations)

    def _block(self, grid: RelationGrid, states: torch.Tensor, mask: torch.Tensor, start: int, end: int) -> torch.Tensor:
        n = states.shape[1]
        lo, hi = max(0, start - self.halo), min(n, end + self.halo)
        r = grid.rows(states, mask, lo, hi)  # [B, R, n, g]
        rows = torch.arange(lo, hi, device=states.device)
        cols = torch.arange(n, device=states.device)
        cells = mask[:, lo:hi, None] & mask[:, None, :]  # [B, R, n]
        region = torch.where(rows[:, None] < cols[None, :], UPPER_REGION, LOWER_REGION)
        region = torch.where(cells, region[None], PAD_REGION)
        b = r.shape[0]
        dist = self.distance(distance_buckets(rows, cols))[None].expand(b, -1, -1, -1)
        x = torch.cat([r, dist, self.region(region)], dim=-1).permute(0, 3, 1, 2)  # [B, C, R, n]
        keep = cells[:, None].to(x.dtype)
        x = F.gelu(self.reduce(self.dropout(x * keep))) * keep
        own = cells[:, start - lo : end - lo][:, None]  # [B, 1, rows, n]
        pooled = []
        for conv in self.convs:
            x = F.gelu(conv(x)) * keep
            # Each dilation's map is pooled over its own rows' real columns as it comes: one pass over the map,
            # rather than copying the maps side by side first (a third of the block's time on a CPU).
            own_rows = x[:, :, start - lo : end - lo]
            pooled.append(torch.where(own, own_rows, torch.finfo(x.dtype).min).amax(dim=-1))  # [B, C, rows]
        out = torch.cat(pooled, dim=1).transpose(1, 2)  # [B, rows, C']
        return out.masked_fill(~mask[:, start:end, None], 0.0)

    def pooled(self, grid: RelationGrid, word_states: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """One relation vector per word: [B, n, pooled_dim]; padded words give zeros."""
        mask = word_mask.bool()
        states = grid.states(word_states)

        def block(s: torch.Tensor, m: torch.Tensor, start: int, end: int) -> torch.Tensor:
            return self._block(grid, s, m, start, end)

        def group(s: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return blockwise(block, s, m, grid_blocks(m.shape[0], m.shape[1], self.block_cells, self.halo))

        return by_length(group, states, mask, square=False, block_cells=self.block_cells)

    def extras(self, pooled: torch.Tensor, word_mask: torch.Tensor) -> list[ExtraKV]:
        """K_R, V_R per decoder layer, [B, H, n, Dh] each, masked by the word mask (eq. 7)."""
        b, n, _ = pooled.shape
        kv = self.key_value(self.norm(pooled)).view(b, n, self.num_layers, 2, self.d_model)
        mask = word_mask.bool()
        return [
            ExtraKV(split_heads(kv[:, :, layer, 0], self.num_heads), split_heads(kv[:, :, layer, 1], self.num_heads), mask)
            for layer in range(self.num_layers)
        ]

    def forward(self, grid: RelationGrid, word_states: torch.Tensor, word_mask: torch.Tensor) -> list[ExtraKV]:
        return self.extras(self.pooled(grid, word_states, word_mask), word_mask)
