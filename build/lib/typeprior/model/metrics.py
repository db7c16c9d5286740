"""Entity-level scores for flat, nested and discontinuous NER.

An entity counts as correct only when its type and its token indices both match a gold entity of
the same sentence (BARTNER's and W2NER's exact-match criterion). Duplicates count once. Per kind,
recall is counted by the kind of the gold entity and precision by the kind of the predicted
entity, each computed within its own set (gold or predicted) of the sentence.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .corpus.document import Entity, Kind, Sentence, entity_order, kind_within

ERROR_CLASSES = ("correct", "boundary", "type", "both", "spurious", "missed")


@dataclass
class Count:
    """Counts behind precision and recall; tp_pred and tp_gold differ only when split by kind."""

    pred: int = 0
    gold: int = 0
    tp_pred: int = 0
    tp_gold: int = 0

    @property
    def p(self) -> float:
        return self.tp_pred / self.pred if self.pred else 0.0

    @property
    def r(self) -> float:
        return self.tp_gold / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.p, self.r
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        """tp_gold (matched gold entities) and tp_pred (matched predictions) differ only when split by kind."""
        return {"p": self.p, "r": self.r, "f1": self.f1, "gold": self.gold, "pred": self.pred,
                "tp_gold": self.tp_gold, "tp_pred": self.tp_pred,
                "fp": self.pred - self.tp_pred, "fn": self.gold - self.tp_gold}


@dataclass
class Scores:
    """Micro scores over all entities, plus per type and per kind."""

    total: Count = field(default_factory=Count)
    per_type: dict[str, Count] = field(default_factory=dict)
    per_kind: dict[str, Count] = field(default_factory=lambda: {k.value: Count() for k in Kind})

    @property
    def p(self) -> float:
        return self.total.p

    @property
    def r(self) -> float:
        return self.total.r

    @property
    def f1(self) -> float:
        return self.total.f1

    def to_dict(self) -> dict:
        t = self.total
        return {
            "p": t.p,
            "r": t.r,
            "f1": t.f1,
            "tp": t.tp_pred,
            "fp": t.pred - t.tp_pred,
            "fn": t.gold - t.tp_gold,
            "per_type": {k: self.per_type[k].to_dict() for k in sorted(self.per_type)},
            "per_kind": {k: c.to_dict() for k, c in self.per_kind.items()},
        }


def _pairs(gold: Sequence[Sentence], pred: Sequence[Sentence] | Sequence[Iterable[Entity]]) -> list[tuple[set[Entity], set[Entity]]]:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predictions")
    out = []
    for k, (g, p) in enumerate(zip(gold, pred)):
        if isinstance(p, Sentence):
            if p.tokens != g.tokens:
                raise ValueError(f"sentence {k + 1}: predicted tokens differ from the gold tokens (misaligned input?)")
            p = p.entities
        out.append((set(g.entities), set(p)))
    return out


def score(gold: Sequence[Sentence], pred: Sequence[Sentence] | Sequence[Iterable[Entity]]) -> Scores:
    """Exact-match micro P/R/F1 of `pred` against `gold`, sentence by sentence."""
    scores = Scores()
    for g, p in _pairs(gold, pred):
        hits = g & p
        for e in g:
            hit = e in hits
            for c in (scores.total, scores.per_type.setdefault(e.type, Count()), scores.per_kind[kind_within(e, g).value]):
                c.gold += 1
                c.tp_gold += hit
        for e in p:
            hit = e in hits
            for c in (scores.total, scores.per_type.setdefault(e.type, Count()), scores.per_kind[kind_within(e, p).value]):
                c.pred += 1
                c.tp_pred += hit
    return scores


def _overlap(a: Entity, b: Entity) -> int:
    return len(set(a.indices).intersection(b.indices))


def error_breakdown(gold: Sequence[Sentence], pred: Sequence[Sentence] | Sequence[Iterable[Entity]]) -> dict[str, int]:
    """Classify every distinct prediction, and every gold entity no prediction touched.

    A prediction is `correct` (exact match); else `type` when a gold entity has its indices; else,
    among the gold entities it overlaps, it is compared with the one of its own type sharing most
    tokens (else the one sharing most tokens; the first in target order on ties): `boundary` when that
    one has its type, `both` when not; `spurious` when it overlaps none. A gold entity is `missed` when
    no prediction matched it or was compared with it. correct + type + boundary + both + spurious is the
    number of distinct predictions. The same rules as warehouse/outcomes.py, so counts agree.
    """
    counts = dict.fromkeys(ERROR_CLASSES, 0)
    for g, p in _pairs(gold, pred):
        golds = sorted(g, key=entity_order)
        touched: set[Entity] = set()
        for e in sorted(p, key=entity_order):
            if e in g:
                counts["correct"] += 1
                touched.add(e)
                continue
            same = [o for o in golds if o.indices == e.indices]
            if same:
                counts["type"] += 1
                touched.add(same[0])
                continue
            near = [o for o in golds if _overlap(o, e)]
            if not near:
                counts["spurious"] += 1
                continue
            partner = max(near, key=lambda o: (o.type == e.type, _overlap(o, e)))
            counts["boundary" if partner.type == e.type else "both"] += 1
            touched.add(partner)
        counts["missed"] += len(g - touched)
    return counts
