"""Batched greedy and beam-search decoding with a key/value cache and well-formedness constraints.

Constraints keep every sequence readable as entities: inside an entity (pointers emitted, no type yet)
only a later word or a type may follow; outside one, a pointer or END. A type therefore always closes
an entity with at least one pointer. A sentence's budget (max_len + max_len_a × words, plus END) only
admits a pointer while a type and END still fit after it, so sequences always close. Whatever is still
ill-formed is dropped and counted by `targets.delinearize`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .generator import START, EncoderState, PointerNER
from .targets import END

NEG_INF = float("-inf")


@dataclass
class DecodeState:
    """Per-sequence bookkeeping for the constraints."""

    open_last: torch.Tensor  # [N] last pointed word of the open entity, -1 when none is open
    finished: torch.Tensor  # [N] bool
    budget: torch.Tensor  # [N] steps allowed, END included

    def reorder(self, index: torch.Tensor) -> "DecodeState":
        return DecodeState(self.open_last[index], self.finished[index], self.budget[index])


def budgets(model: PointerNER, word_mask: torch.Tensor) -> torch.Tensor:
    """Steps each sentence may take: max_len + max_len_a × its words, plus one for END."""
    words = word_mask.sum(-1).float()
    return (model.config.max_len + model.config.max_len_a * words).long() + 1


def allowed_mask(model: PointerNER, st: DecodeState, word_mask: torch.Tensor, step: int) -> torch.Tensor:
    """[N, V] bool: which outputs keep each sequence well formed at this step."""
    n, w = word_mask.shape
    c = model.num_types
    device = word_mask.device
    is_open = st.open_last >= 0
    # a pointer needs two more steps after it (a type, then END) within the budget
    room = (st.budget - step) >= 3
    word_pos = torch.arange(w, device=device).unsqueeze(0)
    pointers = word_mask & (word_pos > st.open_last.unsqueeze(1)) & room.unsqueeze(1)
    end = (~is_open).unsqueeze(1)
    types = is_open.unsqueeze(1).expand(n, c)
    allowed = torch.cat([end, types, pointers], dim=1)
    end_only = torch.zeros_like(allowed)
    end_only[:, END] = True
    return torch.where(st.finished.unsqueeze(1), end_only, allowed)


def advance(model: PointerNER, st: DecodeState, tokens: torch.Tensor) -> DecodeState:
    offset = model.pointer_offset
    is_ptr = tokens >= offset
    is_type = (tokens >= 1) & ~is_ptr
    open_last = torch.where(is_ptr, tokens - offset, st.open_last)
    open_last = torch.where(is_type, torch.full_like(open_last, -1), open_last)
    return DecodeState(open_last, st.finished | (tokens == END), st.budget)


def _strip(seq: list[int]) -> list[int]:
    return seq[: seq.index(END) + 1] if END in seq else seq


@torch.no_grad()
def greedy_decode(model: PointerNER, state: EncoderState) -> list[list[int]]:
    """Most probable allowed output at each step, for the whole batch at once."""
    n = state.word_mask.shape[0]
    device = state.word_mask.device
    st = DecodeState(
        torch.full((n,), -1, dtype=torch.long, device=device),
        torch.zeros(n, dtype=torch.bool, device=device),
        budgets(model, state.word_mask),
    )
    cache = model.new_cache()
    prev = torch.full((n, 1), START, dtype=torch.long, device=device)
    out: list[torch.Tensor] = []
    for step in range(int(st.budget.max())):
        logits, cache = model.decode_step(state, prev, cache)
        logits = logits[:, -1].float()
        logits = logits.masked_fill(~allowed_mask(model, st, state.word_mask, step), NEG_INF)
        tokens = logits.argmax(-1)
        st = advance(model, st, tokens)
        out.append(tokens)
        prev = tokens.unsqueeze(1)
        if bool(st.finished.all()):
            break
    seqs = torch.stack(out, dim=1).tolist()
    return [_strip(s) for s in seqs]


@torch.no_grad()
def beam_decode(model: PointerNER, state: EncoderState, num_beams: int = 4, length_penalty: float = 1.0) -> list[list[int]]:
    """Beam search over the allowed outputs; the best beam by log-probability / length**length_penalty."""
    if num_beams <= 1:
        return greedy_decode(model, state)
    b = state.word_mask.shape[0]
    k = num_beams
    device = state.word_mask.device
    expand = torch.arange(b, device=device).repeat_interleave(k)
    state = state.index_select(expand)
    n = b * k
    st = DecodeState(
        torch.full((n,), -1, dtype=torch.long, device=device),
        torch.zeros(n, dtype=torch.bool, device=device),
        budgets(model, state.word_mask),
    )
    scores = torch.full((b, k), NEG_INF, device=device)
    scores[:, 0] = 0.0
    lengths = torch.zeros(n, device=device)
    cache = model.new_cache()
    prev = torch.full((n, 1), START, dtype=torch.long, device=device)
    seqs = torch.zeros((n, 0), dtype=torch.long, device=device)
    base = (torch.arange(b, device=device) * k).unsqueeze(1)
    for step in range(int(st.budget.max())):
        logits, cache = model.decode_step(state, prev, cache)
        logp = logits[:, -1].float().log_softmax(-1)
        allowed = allowed_mask(model, st, state.word_mask, step)
        logp = logp.masked_fill(~allowed, NEG_INF)
        logp = torch.where(st.finished.unsqueeze(1), torch.where(allowed, 0.0, NEG_INF), logp)
        v = logp.shape[-1]
        cand = (scores.reshape(n, 1) + logp).reshape(b, k * v)
        top, idx = cand.topk(k, dim=-1)
        beam = idx // v
        tokens = (idx % v).reshape(n)
        rows = (base + beam).reshape(n)
        cache.reorder_cache(rows)
        st = st.reorder(rows)
        lengths = lengths[rows] + (~st.finished).float()
        seqs = torch.cat([seqs[rows], tokens.unsqueeze(1)], dim=1)
        scores = top
        st = advance(model, st, tokens)
        prev = tokens.unsqueeze(1)
        if bool(st.finished.all()):
            break
    norm = scores.reshape(n) / lengths.clamp(min=1.0).pow(length_penalty)
    norm = torch.where(torch.isfinite(scores.reshape(n)), norm, torch.full_like(norm, NEG_INF))
    best = norm.reshape(b, k).argmax(-1) + base.squeeze(1)
    return [_strip(s) for s in seqs[best].tolist()]


def decode(model: PointerNER, state: EncoderState, num_beams: int | None = None) -> list[list[int]]:
    """Greedy for one beam, beam search otherwise (default: the model config's num_beams)."""
    k = model.config.num_beams if num_beams is None else num_beams
    if k <= 1:
        return greedy_decode(model, state)
    return beam_decode(model, state, k, model.config.length_penalty)
