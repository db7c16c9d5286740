"""Per-entity outcomes of a prediction against gold, for the `outcomes` table and the error counts in `metrics`.

The classes and rules are those of model.metrics.error_breakdown (a test checks the counts agree); this module
adds which gold entity each prediction was compared with, and the kinds.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from typeprior.model.corpus import Entity, Kind, Sentence, kind_within


class Status(str, Enum):
    CORRECT = "correct"
    TYPE = "type"
    BOUNDARY = "boundary"
    BOTH = "both"
    SPURIOUS = "spurious"
    MISSED = "missed"


@dataclass(frozen=True)
class Outcome:
    entity: Entity
    status: Status
    gold: Entity | None
    kind: Kind


def _overlap(a: Entity, b: Entity) -> int:
    return len(set(a.indices).intersection(b.indices))


def classify(gold: Sentence, predicted: Iterable[Entity]) -> list[Outcome]:
    """One outcome per distinct predicted entity (in target order), then one per gold entity none touched.

    A prediction is `correct` (exact match); else `type` when a gold entity has its indices; else, among the
    gold entities it overlaps, it is compared with the one of its own type sharing most tokens (else the one
    sharing most tokens; the first in target order on ties): `boundary` when that one has its type, `both`
    when not; `spurious` when it overlaps none. A gold entity is `missed` when no prediction matched it or
    was compared with it. `kind` is the compared gold entity's kind; a spurious entity's among the predictions.
    """
    golds = gold.entities
    gold_set = set(golds)
    preds = Sentence(list(gold.tokens), list(predicted)).entities
    touched: set[Entity] = set()
    out: list[Outcome] = []
    for p in preds:
        if p in gold_set:
            status, partner = Status.CORRECT, p
        elif same := [g for g in golds if g.indices == p.indices]:
            status, partner = Status.TYPE, same[0]
        elif near := [g for g in golds if _overlap(p, g)]:
            partner = max(near, key=lambda g: (g.type == p.type, _overlap(p, g)))
            status = Status.BOUNDARY if partner.type == p.type else Status.BOTH
        else:
            out.append(Outcome(p, Status.SPURIOUS, None, kind_within(p, preds)))
            continue
        touched.add(partner)
        out.append(Outcome(p, status, partner, kind_within(partner, golds)))
    for g in golds:
        if g not in touched:
            out.append(Outcome(g, Status.MISSED, g, kind_within(g, golds)))
    return out
