"""Begin-End recovery: entities the relation grid marks that the decoder did not generate (issue 15).

The generative model's dev errors are mostly misses that overlap no prediction at all. The relation task of the
rp-tra, rp-eta and full variants already marks each entity in the word-pair grid, the evidence a W2NER decoder
reads entities from: a Begin-End cell at (last, first) and Inside links between its consecutive words
(model/relation.py). The grid carries no type, so the decoder types each recovered span: shown the entities it
generated before the span and the span's pointers (the context it would have had, in BARTNER's order), its most
likely next output must be a type, and that type is the entity's. A span is proposed only when

- the grid's most likely relation is Begin-End at (last, first) and Inside at every (w, w + 1) within it;
- it overlaps no generated entity and no other proposed span with a likelier Begin-End cell;
- the decoder, after its pointers, would close it (a type is likelier than the next word).

Contiguous spans only: a discontinuous entity's Inside links skip words, which this rule does not follow.
Off unless the model setting `begin_end_recovery` is on; it needs a model that predicts relations.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .corpus.document import Entity, entity_order
from .generator import START, EncoderState, PointerNER
from .relation import BEGIN_END, INSIDE, RelationPrediction
from .targets import END, TargetVocab


def grid_spans(logits: torch.Tensor, word_mask: torch.Tensor) -> list[list[tuple[int, int, float]]]:
    """Per sentence, (first, last, p(Begin-End)) of every contiguous span the grid marks, likeliest first.

    logits [B, n, n, 3] from RelationPrediction; word_mask [B, n] bool.
    """
    pred = RelationPrediction.predict(logits, word_mask)
    p_begin_end = logits.float().softmax(-1)[..., BEGIN_END]
    out: list[list[tuple[int, int, float]]] = []
    for b in range(pred.shape[0]):
        n = int(word_mask[b].sum())
        g = pred[b, :n, :n]
        inside = (g.diagonal(offset=1) == INSIDE).long()  # inside[w]: w -> w + 1 linked
        chain = torch.cat([inside.new_zeros(1), inside.cumsum(0)])  # chain[k] = links among words 0..k
        last, first = (torch.tril(g) == BEGIN_END).nonzero(as_tuple=True)
        linked = (chain[last] - chain[first]) == (last - first)
        spans = [(int(f), int(l), float(p_begin_end[b, l, f])) for f, l, ok in zip(first, last, linked) if ok]
        out.append(sorted(spans, key=lambda s: (-s[2], s[0], s[1])))
    return out


def free_spans(spans: list[tuple[int, int, float]], taken: set[int]) -> list[tuple[int, int]]:
    """Spans touching no taken word, likeliest first, each keeping its words from later ones."""
    kept: list[tuple[int, int]] = []
    for first, last, _ in spans:
        words = set(range(first, last + 1))
        if words & taken:
            continue
        taken |= words
        kept.append((first, last))
    return kept


@torch.no_grad()
def recover(
    model: PointerNER, state: EncoderState, generated: Sequence[Sequence[Entity]], vocab: TargetVocab,
    logits: torch.Tensor | None = None,
) -> list[list[Entity]]:
    """The entities recovered for each sentence of the batch (beside `generated`, the decoder's own), from the
    relation logits [B, n, n, 3] (default: the model's relation head over the state's word states)."""
    if logits is None:
        relation = getattr(model, "relation", None)
        if relation is None or not getattr(model.config, "relation_prediction", False):
            raise ValueError("begin_end_recovery needs a model that predicts relations (rp-tra, rp-eta or full)")
        logits = relation(state.word_states, state.word_mask)
    spans = grid_spans(logits, state.word_mask)
    rows: list[int] = []
    candidates: list[tuple[int, int]] = []
    inputs: list[list[int]] = []
    for b, (found, marked) in enumerate(zip(generated, spans)):
        taken = {w for e in found for w in e.indices}
        for first, last in free_spans(marked, taken):
            before = [e for e in sorted(found, key=entity_order) if e.last < first]
            ids = [START]
            for e in before:
                ids += [vocab.pointer_id(w) for w in e.indices] + [vocab.type_id(e.type)]
            ids += [vocab.pointer_id(w) for w in range(first, last + 1)]
            rows.append(b)
            candidates.append((first, last))
            inputs.append(ids)
    out: list[list[Entity]] = [[] for _ in generated]
    if not inputs:
        return out
    width = max(len(x) for x in inputs)
    device = state.word_mask.device
    prev = torch.tensor([x + [END] * (width - len(x)) for x in inputs], device=device)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in inputs], device=device)
    index = torch.tensor(rows, device=device)
    logits, _ = model.decode_step(state.index_select(index), prev, decoder_attention_mask=mask)
    at = torch.tensor([len(x) - 1 for x in inputs], device=device)
    scores = logits[torch.arange(len(inputs), device=device), at].float()
    n_words = state.word_mask.sum(-1)
    for k, (b, (first, last)) in enumerate(zip(rows, candidates)):
        types = scores[k, 1 : vocab.pointer_offset]
        best = int(types.argmax())
        if last + 1 < int(n_words[b]) and float(scores[k, vocab.pointer_id(last + 1)]) > float(types[best]):
            continue  # the decoder would go on to the next word: the grid's boundary is not its entity
        out[b].append(Entity(tuple(range(first, last + 1)), vocab.types[best]))
    return out
