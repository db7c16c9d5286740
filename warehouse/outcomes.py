"""Per-entity outcomes of a prediction against gold: what kind of error each predicted entity is, and
which gold entities nothing touched. Feeds the `outcomes` table and the error counts in `metrics`."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Sequence

from model.corpus import Entity, Kind, Sentence


class Status(str, Enum):
    CORRECT = "correct"
    TYPE = "type"
    BOUNDARY = "boundary"
    BOUNDARY_TYPE = "boundary_type"
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


def classify(gold: Sentence, predicted: Sequence[Entity]) -> list[Outcome]:
    """One outcome per distinct predicted entity (in target order), then one per untouched gold entity.

    A prediction that overlaps several gold entities is compared with the one it shares most tokens with
    (the first in target order on ties), preferring a gold entity of its own type.
    """
    pred_sentence = Sentence(list(gold.tokens), list(predicted))
    golds = gold.entities
    gold_set = set(golds)
    touched: set[Entity] = set()
    out: list[Outcome] = []
    for p in pred_sentence.entities:
        if p in gold_set:
            out.append(Outcome(p, Status.CORRECT, p, gold.kind_of(p)))
            touched.add(p)
            continue
        same_span = [g for g in golds if g.indices == p.indices]
        if same_span:
            g = same_span[0]
            out.append(Outcome(p, Status.TYPE, g, gold.kind_of(g)))
            touched.add(g)
            continue
        overlapping = [g for g in golds if _overlap(p, g)]
        if not overlapping:
            out.append(Outcome(p, Status.SPURIOUS, None, pred_sentence.kind_of(p)))
            continue
        g = max(overlapping, key=lambda g: (g.type == p.type, _overlap(p, g)))
        status = Status.BOUNDARY if g.type == p.type else Status.BOUNDARY_TYPE
        out.append(Outcome(p, status, g, gold.kind_of(g)))
        touched.add(g)
    for g in golds:
        if g not in touched:
            out.append(Outcome(g, Status.MISSED, g, gold.kind_of(g)))
    return out
