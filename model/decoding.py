"""Batched greedy and beam-search decoding with a key/value cache and well-formedness constraints.

Constraints keep every sequence readable as entities: inside an entity (pointers emitted, no type yet)
only a later word or a type may follow; outside one, a pointer or END. A type therefore always closes
an entity with at least one pointer. The model's `entity_structure` (what its training data held) narrows
this: `nested` or `flat` admit only the next word inside an entity (no discontinuous spans), and `flat` also
starts each entity after the last word of the one before (no overlaps; targets are in BARTNER's order).
A sentence's budget (max_len + max_len_a × words, plus END) only admits a pointer while a type and END
still fit after it, so sequences always close. Whatever is still
ill-formed is dropped and counted by `targets.delinearize`.

Greedy decoding drops finished sentences from the batch in the same way (`drop_done`).
Beam search projects the cross-attention keys and values once per sentence and shares them among its beams
(`PointerNER.cross_attention_cache`); only the self-attention cache follows the beams, and sentences that have
stopped leave the batch (`drop_done`). `shared_cross=False, drop_done=None` is the plain path (keys projected
per beam by BART, the whole cache reordered at every step, every sentence decoded to the end), kept as the
reference the fast one must match exactly (tests/test_decoding_cache.py).
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
    closed_last: torch.Tensor  # [N] last word of the last closed entity, -1 before the first

    @classmethod
    def start(cls, model: PointerNER, word_mask: torch.Tensor) -> "DecodeState":
        n, device = word_mask.shape[0], word_mask.device
        none = torch.full((n,), -1, dtype=torch.long, device=device)
        return cls(none, torch.zeros(n, dtype=torch.bool, device=device), budgets(model, word_mask), none.clone())

    def reorder(self, index: torch.Tensor) -> "DecodeState":
        return DecodeState(self.open_last[index], self.finished[index], self.budget[index], self.closed_last[index])


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
    structure = model.config.entity_structure
    inside = word_pos > st.open_last.unsqueeze(1)
    if structure in ("flat", "nested"):
        inside = word_pos == (st.open_last + 1).unsqueeze(1)
    outside = word_pos > st.closed_last.unsqueeze(1) if structure == "flat" else torch.ones_like(inside)
    pointers = word_mask & torch.where(is_open.unsqueeze(1), inside, outside) & room.unsqueeze(1)
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
    closed_last = torch.where(is_type, open_last, st.closed_last)
    open_last = torch.where(is_type, torch.full_like(open_last, -1), open_last)
    return DecodeState(open_last, st.finished | (tokens == END), st.budget, closed_last)


def teacher_forced_allowed(model: PointerNER, labels: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
    """[B, T, V] bool: what decoding would allow at each step after the gold prefix labels[:, :t] (the budget
    aside: gold targets fit it). The gold output itself is always allowed, so the loss stays finite on
    targets the constraints would not generate (a model told another entity structure)."""
    n, steps = labels.shape
    st = DecodeState.start(model, word_mask)
    st.budget = torch.full_like(st.budget, steps + 3)
    out = []
    for t in range(steps):
        allowed = allowed_mask(model, st, word_mask, 0)
        gold = labels[:, t]
        real = gold >= 0
        allowed[real.nonzero().flatten(), gold[real]] = True
        out.append(allowed)
        st = advance(model, st, gold.clamp(min=0))
    return torch.stack(out, dim=1)


def _strip(seq: list[int]) -> list[int]:
    return seq[: seq.index(END) + 1] if END in seq else seq


@torch.no_grad()
def greedy_decode(
    model: PointerNER, state: EncoderState, shared_cross: bool = True, drop_done: float | None = 0.25
) -> list[list[int]]:
    """Most probable allowed output at each step, for the whole batch at once.

    A finished sentence only repeats END, so once finished sentences make up `drop_done` of the rows still
    decoded they leave the batch (state, cache and constraints keep the others' rows); None keeps every
    sentence to the end (the plain path). The outputs are the same either way.
    """
    if drop_done is not None and not 0 < drop_done <= 1:
        raise ValueError(f"greedy_decode: drop_done must be in (0, 1] or None, got {drop_done}")
    n = state.word_mask.shape[0]
    device = state.word_mask.device
    st = DecodeState.start(model, state.word_mask)
    cache = model.cross_attention_cache(state) if shared_cross else model.new_cache()
    prev = torch.full((n, 1), START, dtype=torch.long, device=device)
    steps = int(st.budget.max())
    out = torch.full((n, max(steps, 1)), END, dtype=torch.long, device=device)
    rows = torch.arange(n, device=device)  # the batch row of each row still decoded
    last = 0
    for step in range(steps):
        logits, cache = model.decode_step(state, prev, cache)
        logits = logits[:, -1].float()
        logits[:, END] += model.config.end_bias
        logits = logits.masked_fill(~allowed_mask(model, st, state.word_mask, step), NEG_INF)
        tokens = logits.argmax(-1)
        st = advance(model, st, tokens)
        out[rows, step] = tokens
        last = step
        prev = tokens.unsqueeze(1)
        done = int(st.finished.sum())
        if done == len(rows):
            break
        if drop_done is not None and done and done >= drop_done * len(rows):
            keep = (~st.finished).nonzero().flatten()
            rows, st, prev = rows[keep], st.reorder(keep), prev[keep]
            state = state.index_select(keep)
            if shared_cross:
                cache.self_attention_cache.reorder_cache(keep)
                cache.cross_attention_cache.reorder_cache(keep)
            else:
                cache.reorder_cache(keep)
    seqs = out[:, : last + 1].tolist()
    return [_strip(s) for s in seqs]


@torch.no_grad()
def beam_decode(
    model: PointerNER,
    state: EncoderState,
    num_beams: int = 4,
    length_penalty: float = 1.0,
    shared_cross: bool = True,
    drop_done: float | None = 0.25,
) -> list[list[int]]:
    """Beam search over the allowed outputs, in the manner of Hugging Face's.

    Each step ranks 2k candidates per sentence: an END among the k best leaves the beam as a finished
    hypothesis scored log-probability / length**length_penalty; the k best others continue. A sentence
    stops once it holds k finished hypotheses that no live beam can beat (HF's `early_stopping=False`
    test), or when its budget ends (the constraints make every beam end by then).

    A stopped sentence can no longer change (its scores are -inf), so once stopped sentences make up
    `drop_done` of the batch their rows leave it (None: they stay to the end, as in HF). `shared_cross=False`
    with `drop_done=None` is the plain path.
    """
    if num_beams <= 1:
        return greedy_decode(model, state, shared_cross, drop_done)
    if drop_done is not None and not 0 < drop_done <= 1:
        raise ValueError(f"beam_decode: drop_done must be in (0, 1] or None, got {drop_done}")
    b = state.word_mask.shape[0]
    k = num_beams
    device = state.word_mask.device
    cache = model.cross_attention_cache(state, k) if shared_cross else model.new_cache()
    state = state.index_select(torch.arange(b, device=device).repeat_interleave(k))
    st = DecodeState.start(model, state.word_mask)
    scores = torch.full((b, k), NEG_INF, device=device)
    scores[:, 0] = 0.0
    prev = torch.full((b * k, 1), START, dtype=torch.long, device=device)
    seqs = torch.zeros((b * k, 0), dtype=torch.long, device=device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    sentence = list(range(b))  # the batch sentence of each sentence still decoded
    done = torch.zeros(b, dtype=torch.bool, device=device)
    beam = torch.arange(k, device=device)
    for step in range(int(st.budget.max())):
        a = len(sentence)
        n = a * k
        base = (torch.arange(a, device=device) * k).unsqueeze(1)
        logits, cache = model.decode_step(state, prev, cache)
        logp = logits[:, -1].float().log_softmax(-1)
        logp[:, END] += model.config.end_bias
        logp = logp.masked_fill(~allowed_mask(model, st, state.word_mask, step), NEG_INF)
        v = logp.shape[-1]
        cand = (scores.reshape(n, 1) + logp).reshape(a, k * v)
        top, idx = cand.topk(2 * k, dim=-1)
        tokens = idx % v
        rows = base + idx // v
        is_end = tokens == END
        length = float(step + 1) ** length_penalty
        for ai, rank in (is_end & torch.isfinite(top)).nonzero().tolist():
            if rank < k and not bool(done[ai]):
                row = int(rows[ai, rank])
                finished[sentence[ai]].append((float(top[ai, rank]) / length, seqs[row].tolist() + [END]))
        # the k best candidates that do not end continue
        order = torch.where(is_end, 2 * k + torch.arange(2 * k, device=device), torch.arange(2 * k, device=device))
        keep = order.argsort(dim=-1)[:, :k]
        scores = top.gather(1, keep)
        for ai in range(a):
            hyps = finished[sentence[ai]]
            if len(hyps) >= k:
                hyps.sort(key=lambda h: -h[0])
                del hyps[k:]
                best_live = float(scores[ai].max()) / float(step + 2) ** length_penalty
                done[ai] = bool(done[ai]) or hyps[-1][0] >= best_live
        scores = scores.masked_fill(done.unsqueeze(1), NEG_INF)
        pick = rows.gather(1, keep)
        nxt = tokens.gather(1, keep)
        if bool(done.all()) or not bool(torch.isfinite(scores).any()):
            seqs = torch.cat([seqs[pick.reshape(n)], nxt.reshape(n, 1)], dim=1)
            break
        stay = None
        if drop_done is not None and int(done.sum()) >= drop_done * a:
            stay = (~done).nonzero().flatten()
            pick, nxt, scores, done = pick[stay], nxt[stay], scores[stay], done[stay]
            sentence = [sentence[i] for i in stay.tolist()]
        pick, nxt = pick.reshape(-1), nxt.reshape(-1)
        if shared_cross:
            # beams stay within their sentence: the shared cross-attention keys follow only dropped sentences
            cache.self_attention_cache.reorder_cache(pick)
            if stay is not None:
                kept_rows = (stay.unsqueeze(1) * k + beam).reshape(-1)
                cache.cross_attention_cache.reorder_cache(kept_rows)
                state = state.index_select(kept_rows)
        else:
            cache.reorder_cache(pick)
            if stay is not None:
                state = state.index_select(pick)
        st = advance(model, st.reorder(pick), nxt)
        seqs = torch.cat([seqs[pick], nxt.unsqueeze(1)], dim=1)
        prev = nxt.unsqueeze(1)
    out: list[list[int]] = [[] for _ in range(b)]
    for i in range(b):
        if finished[i]:
            out[i] = max(finished[i], key=lambda h: h[0])[1]
    for ai, i in enumerate(sentence):
        if not finished[i]:  # no beam ended within the budget: the best live one, as far as it got
            out[i] = seqs[ai * k + int(scores[ai].argmax())].tolist()
    return out


def decode(model: PointerNER, state: EncoderState, num_beams: int | None = None) -> list[list[int]]:
    """Greedy for one beam, beam search otherwise (default: the model config's num_beams)."""
    k = model.config.num_beams if num_beams is None else num_beams
    if k <= 1:
        return greedy_decode(model, state)
    return beam_decode(model, state, k, model.config.length_penalty)
