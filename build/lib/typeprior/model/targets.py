"""Entities as a pointer-and-type target sequence (BARTNER's "word" targets) and back.

Each entity, in (first index, last index) order, is written as a pointer to each of its words followed
by its type; the sequence ends with END. Nested and discontinuous entities need no special case: they
are just other index lists. Target ids here index the output distribution of the model:

    0 = END, 1..C = the C entity types, C+1+w = a pointer to word w.

The decoder's start symbol is not an output, so it has no id in this space.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .corpus.document import Entity, entity_order

END = 0


class TargetError(ValueError):
    """An entity cannot be written as a target (unknown type, index outside the sentence)."""


@dataclass(frozen=True)
class TargetVocab:
    """The output space: END, the entity types, then one pointer per word."""

    types: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.types)) != len(self.types):
            raise TargetError(f"duplicate entity types in {list(self.types)}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.types)})

    @property
    def num_types(self) -> int:
        return len(self.types)

    @property
    def pointer_offset(self) -> int:
        return 1 + len(self.types)

    def type_id(self, type_: str) -> int:
        try:
            return 1 + self._index[type_]  # type: ignore[attr-defined]
        except KeyError:
            raise TargetError(f"entity type {type_!r} is not one of {list(self.types)}") from None

    def pointer_id(self, word: int) -> int:
        return self.pointer_offset + word

    def is_type(self, target_id: int) -> bool:
        return 1 <= target_id < self.pointer_offset

    def is_pointer(self, target_id: int) -> bool:
        return target_id >= self.pointer_offset

    def type_of(self, target_id: int) -> str:
        return self.types[target_id - 1]

    def word_of(self, target_id: int) -> int:
        return target_id - self.pointer_offset


def linearize(entities: Iterable[Entity], vocab: TargetVocab, num_words: int | None = None) -> list[int]:
    """Target ids for a sentence's entities, END included."""
    out: list[int] = []
    for e in sorted(set(entities), key=entity_order):
        if num_words is not None and e.last >= num_words:
            raise TargetError(f"entity {list(e.indices)} ({e.type}) points beyond the sentence's {num_words} words")
        out.extend(vocab.pointer_id(i) for i in e.indices)
        out.append(vocab.type_id(e.type))
    out.append(END)
    return out


@dataclass
class Decoded:
    """Entities read back from a generated sequence, and how many ill-formed pieces were dropped."""

    entities: list[Entity]
    dropped: int


def delinearize(ids: Sequence[int], vocab: TargetVocab, num_words: int | None = None) -> Decoded:
    """Pointers accumulate until a type closes them; a tuple is kept only if its pointers strictly increase.

    Dropped (and counted): a type with no pointer before it, pointers that do not increase, pointers past
    the sentence, and pointers left open when the sequence stops.
    """
    entities: set[Entity] = set()
    dropped = 0
    pending: list[int] = []
    for t in ids:
        t = int(t)
        if t == END:
            break
        if vocab.is_pointer(t):
            pending.append(vocab.word_of(t))
            continue
        ok = (
            bool(pending)
            and all(b > a for a, b in zip(pending, pending[1:]))
            and (num_words is None or pending[-1] < num_words)
        )
        if ok:
            entities.add(Entity(tuple(pending), vocab.type_of(t)))
        else:
            dropped += 1
        pending = []
    if pending:
        dropped += 1
    return Decoded(sorted(entities, key=entity_order), dropped)
