"""Relation prediction task (paper 2.2): word-pair relations that mark entity boundaries.

Every pair of words (i, j) gets a relation vector r_ij = CLN(h_i, h_j), a conditional layer normalisation whose
gain and bias are produced from h_i and which normalises h_j (eqs. 1-3). A small MLP classifies r_ij into three
relations (eq. 4) and a focal loss (eq. 5) trains it; the total loss is L = L_entity + w * L_relation (eq. 13).

Relation ids (see RELATIONS):
- 0 None: no relation;
- 1 Inside: consecutive words of one entity, in entity order, stored at (earlier, later): upper triangle i < j;
- 2 Begin-End: an entity's first and last word, stored at (last, first): lower triangle, the diagonal for a
  one-word entity. Inside and Begin-End never share a cell, so a two-word entity keeps both.
Padded cells carry IGNORE_INDEX (-100).

The grid is words x words x width, so it is computed in blocks of sentences and rows (see grid_blocks), with
activation checkpointing while training: peak memory depends on the block budget, not on the sentence length.
Sentences of similar length are grouped first and each group's grid is cropped to its longest sentence
(by_length): a batch padded to one long sentence would otherwise spend most of the grid on padded cells
(3 to 9 times the real cells in CoNLL batches of 16).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from .corpus.document import Entity, Sentence

NONE, INSIDE, BEGIN_END = 0, 1, 2
RELATIONS = ("None", "Inside", "Begin-End")
IGNORE_INDEX = -100

DEFAULT_BLOCK_CELLS = 1 << 15  # about 1 GB of activations per block at grid and reduce width 256


class RelationLabelError(ValueError):
    """An entity does not fit the grid it is labelled on."""


def _entities_and_length(
    sentence_or_entities: Sentence | Iterable[Entity], n_words: int, length: int | None
) -> tuple[list[Entity], int]:
    if isinstance(sentence_or_entities, Sentence):
        entities = list(sentence_or_entities.entities)
        real = len(sentence_or_entities.tokens) if length is None else length
        where = f"sentence {sentence_or_entities.id!r}" if sentence_or_entities.id is not None else "sentence"
    else:
        entities = list(sentence_or_entities)
        real = n_words if length is None else length
        where = "entity list"
    if real > n_words:
        raise RelationLabelError(f"{where}: {real} words do not fit a grid of {n_words}")
    for e in entities:
        if e.last >= real:
            raise RelationLabelError(f"{where}: entity {list(e.indices)} ({e.type}) is out of range for {real} words")
    return entities, real


def relation_labels(
    sentence_or_entities: Sentence | Iterable[Entity], n_words: int, length: int | None = None
) -> torch.Tensor:
    """Gold relations as a LongTensor [n_words, n_words] (ids in the module docstring).

    `length` is the number of real words (default: the sentence's token count, or n_words for a bare entity
    list); cells touching a word at or beyond it are IGNORE_INDEX.
    """
    entities, real = _entities_and_length(sentence_or_entities, n_words, length)
    labels = torch.full((n_words, n_words), IGNORE_INDEX, dtype=torch.long)
    labels[:real, :real] = NONE
    for e in entities:
        idx = e.indices
        for a, b in zip(idx, idx[1:]):
            labels[a, b] = INSIDE
        labels[idx[-1], idx[0]] = BEGIN_END
    return labels


def batch_relation_labels(sentences: Sequence[Sentence], n_words: int | None = None) -> torch.Tensor:
    """[B, n, n] labels for a batch, padded to the longest sentence (or to n_words)."""
    n = max((len(s.tokens) for s in sentences), default=0) if n_words is None else n_words
    return torch.stack([relation_labels(s, n) for s in sentences]) if sentences else torch.empty(0, n, n, dtype=torch.long)


def word_states(token_states: torch.Tensor, word_index: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
    """Gather one state per word (e.g. its first sub-word): [B, T, d] x [B, n] -> [B, n, d]; pads are zero."""
    idx = word_index.clamp(min=0, max=token_states.shape[1] - 1)
    out = token_states.gather(1, idx[..., None].expand(-1, -1, token_states.shape[-1]))
    return out * word_mask[..., None].to(out.dtype)


def row_blocks(n_rows: int, cells_per_row: int, block_cells: int | None, halo: int = 0) -> list[tuple[int, int]]:
    """Split rows [0, n_rows) into blocks whose cells, halo rows on both sides included, stay within block_cells.

    None means one block. A block has at least one row even when a single row exceeds the budget.
    """
    if n_rows <= 0:
        return []
    if block_cells is None:
        return [(0, n_rows)]
    rows = max(1, block_cells // max(1, cells_per_row) - 2 * halo)
    return [(s, min(n_rows, s + rows)) for s in range(0, n_rows, rows)]


Plan = list[tuple[int, int, list[tuple[int, int]]]]


def grid_blocks(batch: int, n: int, block_cells: int | None, halo: int = 0) -> Plan:
    """Blocks of (sentences [b0, b1), rows [r0, r1)) of a [batch, n, n] grid, each within block_cells cells.

    Whole sentences are grouped while their full grids fit the budget (no halo needed); a sentence whose grid
    alone exceeds it is cut into blocks of rows, so that halo rows stay a small share of a block.
    """
    if batch <= 0 or n <= 0:
        return []
    if block_cells is None:
        return [(0, batch, [(0, n)])]
    per_block = block_cells // (n * n)
    if per_block >= 1:
        return [(b, min(batch, b + per_block), [(0, n)]) for b in range(0, batch, per_block)]
    rows = row_blocks(n, n, block_cells, halo)
    return [(b, b + 1, rows) for b in range(batch)]


LENGTH_SLACK = 1.5  # a length group may hold up to 1.5 x its real cells once padded to its longest sentence


def length_groups(lengths: Sequence[int], block_cells: int | None = None, slack: float = LENGTH_SLACK) -> list[list[int]]:
    """Sentence indices grouped by similar length, longest first.

    A group grows while its padded grid (size x longest^2) stays within `slack` x its real cells and within
    block_cells (a longer sentence alone may exceed it; blockwise then cuts it into rows).
    """
    order = sorted(range(len(lengths)), key=lambda i: -int(lengths[i]))
    groups: list[list[int]] = []
    for i in order:
        if groups:
            group = groups[-1]
            longest = int(lengths[group[0]])
            cells = (len(group) + 1) * longest * longest
            real = sum(int(lengths[j]) ** 2 for j in group) + int(lengths[i]) ** 2
            if (block_cells is None or cells <= block_cells) and cells <= slack * max(real, 1):
                group.append(i)
                continue
        groups.append([i])
    return groups


def by_length(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    states: torch.Tensor,
    mask: torch.Tensor,
    square: bool,
    block_cells: int | None = None,
    fill: torch.Tensor | None = None,
) -> torch.Tensor:
    """fn(states[g, :m], mask[g, :m]) per length group g (m: its longest sentence), padded back to the batch's n.

    The words of a sentence come first in its row of `mask` (padding at the end). fn returns [g, m, ...] or, when
    `square`, [g, m, m, ...]; the result is [B, n, ...] / [B, n, n, ...]. Cells it pads hold `fill` (what fn
    gives a padded cell; zeros by default), so the result equals fn over the whole padded batch.
    """
    b, n = mask.shape
    lengths = mask.sum(1).tolist()
    groups = length_groups(lengths, block_cells)
    if len(groups) <= 1 and (not groups or int(lengths[groups[0][0]]) == n):
        return fn(states, mask)
    parts, order = [], []
    for group in groups:
        m = int(lengths[group[0]])
        index = torch.tensor(group, device=mask.device)
        if m == 0:
            probe = fn(states[:1, :1], torch.ones_like(mask[:1, :1]))
            out = probe.new_zeros((len(group), n, n) + probe.shape[3:] if square else (len(group), n) + probe.shape[2:])
            out = out if fill is None else out + fill
        else:
            out = fn(states.index_select(0, index)[:, :m], mask.index_select(0, index)[:, :m])
            trailing = out.dim() - (3 if square else 2)
            pad = [0, 0] * trailing + [0, n - m] + ([0, n - m] if square else [])
            out = F.pad(out, pad) if fill is None else F.pad(out - fill, pad) + fill
        parts.append(out)
        order.extend(group)
    inverse = torch.empty(b, dtype=torch.long, device=mask.device)
    inverse[torch.tensor(order, device=mask.device)] = torch.arange(b, device=mask.device)
    return torch.cat(parts, dim=0).index_select(0, inverse)


class ConditionalLayerNorm(nn.Module):
    """r_ij = (gamma + W_gamma h_i) * norm(h_j) + (beta + W_beta h_i) (eqs. 1-3).

    W_gamma and W_beta start at zero so the layer starts as a plain layer norm of h_j; eps is 1e-12 as in W2NER.
    """

    def __init__(self, dim: int, cond_dim: int | None = None, eps: float = 1e-12) -> None:
        super().__init__()
        cond_dim = dim if cond_dim is None else cond_dim
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.w_gamma = nn.Linear(cond_dim, dim, bias=False)
        self.w_beta = nn.Linear(cond_dim, dim, bias=False)
        nn.init.zeros_(self.w_gamma.weight)
        nn.init.zeros_(self.w_beta.weight)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=-1, keepdim=True)
        return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)

    def forward(self, cond: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """cond [B, R, c] (the h_i of R rows), x [B, n, d] (the h_j) -> [B, R, n, d]."""
        gain = self.gamma + self.w_gamma(cond)
        bias = self.beta + self.w_beta(cond)
        return gain[:, :, None, :] * self.normalise(x)[:, None, :, :] + bias[:, :, None, :]


class RelationGrid(nn.Module):
    """The relation vectors r_ij, computed for a block of rows at a time.

    The word states are first projected to `grid_dim` (default 256): the grid costs n^2 x grid_dim, so this
    width, not the model width (1024 for bart-large), bounds its memory.
    """

    def __init__(self, d_model: int, grid_dim: int = 256, dropout: float = 0.1, eps: float = 1e-12) -> None:
        super().__init__()
        self.grid_dim = grid_dim
        self.project = nn.Sequential(nn.Linear(d_model, grid_dim), nn.GELU(), nn.Dropout(dropout))
        self.cln = ConditionalLayerNorm(grid_dim, eps=eps)

    def states(self, word_states: torch.Tensor) -> torch.Tensor:
        """[B, n, d_model] -> [B, n, grid_dim]; computed once, then shared by every block of rows."""
        return self.project(word_states)

    def rows(self, states: torch.Tensor, word_mask: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """r_ij for rows i in [start, end) and every column j: [B, end - start, n, grid_dim]; padded cells are 0."""
        r = self.cln(states[:, start:end], states)
        cells = word_mask[:, start:end, None] & word_mask[:, None, :]
        return r * cells[..., None].to(r.dtype)

    def forward(self, word_states: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """The whole grid [B, n, n, grid_dim] (small inputs and tests; use blocks for long sentences)."""
        states = self.states(word_states)
        return self.rows(states, word_mask.bool(), 0, states.shape[1])


def blockwise(
    fn: Callable[[torch.Tensor, torch.Tensor, int, int], torch.Tensor],
    states: torch.Tensor,
    mask: torch.Tensor,
    plan: Plan,
) -> torch.Tensor:
    """Assemble fn(states[b0:b1], mask[b0:b1], r0, r1) over a grid_blocks plan (rows on dim 1, batch on dim 0).

    While building a graph each block is checkpointed, so one block's activations are alive at a time, in the
    forward and in the backward pass.
    """
    single = len(plan) == 1 and len(plan[0][2]) == 1
    parts = []
    for b0, b1, rows in plan:
        s, m = states[b0:b1], mask[b0:b1]
        outs = []
        for r0, r1 in rows:
            if torch.is_grad_enabled() and not single:
                outs.append(checkpoint(fn, s, m, r0, r1, use_reentrant=False))
            else:
                outs.append(fn(s, m, r0, r1))
        parts.append(torch.cat(outs, dim=1))
    return torch.cat(parts, dim=0)


class RelationClassifier(nn.Module):
    """The MLP over r_ij that scores the three relations (eq. 4)."""

    def __init__(self, grid_dim: int, hidden: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        hidden = grid_dim if hidden is None else hidden
        self.mlp = nn.Sequential(
            nn.Linear(grid_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, len(RELATIONS))
        )

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.mlp(r)


class FocalLoss(nn.Module):
    """L = -alpha_t * (1 - p_t)^gamma * log p_t averaged over the labelled cells (eq. 5; paper: alpha 5, tau 1).

    p_t is the predicted probability of the gold relation; cells labelled IGNORE_INDEX do not count. `alpha` is
    the paper's one weight, or one weight per relation (None, Inside, Begin-End): over 99 % of a grid's cells are
    None, and in short trainings one weight leaves the head predicting None everywhere (bench/relation_probe.py).
    """

    def __init__(self, alpha: float | Sequence[float], gamma: float, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        weights = [float(alpha)] * len(RELATIONS) if isinstance(alpha, (int, float)) else [float(a) for a in alpha]
        if len(weights) != len(RELATIONS) or not all(math.isfinite(a) and a > 0 for a in weights):
            raise ValueError(f"focal alpha must be a positive number or one per relation {RELATIONS}, got {alpha!r}")
        self.alpha = alpha
        self.register_buffer("alpha_t", torch.tensor(weights), persistent=False)
        self.gamma = gamma
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.shape[:-1] != target.shape:
            raise ValueError(f"focal loss: logits {tuple(logits.shape)} do not match target {tuple(target.shape)}")
        logits = logits.reshape(-1, logits.shape[-1])
        target = target.reshape(-1)
        keep = target != self.ignore_index
        if not keep.any():
            return logits.sum() * 0.0
        gold = target[keep]
        log_p = F.log_softmax(logits[keep].float(), dim=-1).gather(1, gold[:, None]).squeeze(1)
        return (-self.alpha_t.to(log_p.device)[gold] * (1.0 - log_p.exp()).pow(self.gamma) * log_p).mean()


class RelationPrediction(nn.Module):
    """Paper 2.2 as one module: word states -> relation logits [B, n, n, 3], and its focal loss."""

    def __init__(
        self,
        d_model: int,
        grid_dim: int = 256,
        hidden: int | None = None,
        dropout: float = 0.1,
        *,
        alpha: float | Sequence[float],
        gamma: float,
        block_cells: int | None = DEFAULT_BLOCK_CELLS,
    ) -> None:
        super().__init__()
        self.grid = RelationGrid(d_model, grid_dim, dropout)
        self.classifier = RelationClassifier(grid_dim, hidden, dropout)
        self.focal = FocalLoss(alpha, gamma)
        self.block_cells = block_cells

    def forward(self, word_states: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """[B, n, d_model], [B, n] bool -> logits [B, n, n, 3]."""
        mask = word_mask.bool()
        states = self.grid.states(word_states)

        def block(s: torch.Tensor, m: torch.Tensor, start: int, end: int) -> torch.Tensor:
            return self.classifier(self.grid.rows(s, m, start, end))

        def group(s: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return blockwise(block, s, m, grid_blocks(m.shape[0], m.shape[1], self.block_cells))

        padded_cell = self.classifier(states.new_zeros(self.grid.grid_dim))  # the logits of a zeroed r_ij
        return by_length(group, states, mask, square=True, block_cells=self.block_cells, fill=padded_cell)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.focal(logits, labels)

    @staticmethod
    def predict(logits: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """Most likely relation per cell, IGNORE_INDEX on padded cells."""
        mask = word_mask.bool()
        cells = mask[:, :, None] & mask[:, None, :]
        return logits.argmax(-1).masked_fill(~cells, IGNORE_INDEX)
