"""One data model for flat, nested and discontinuous NER.

A sentence is its tokens plus entities; an entity is a type plus the sorted, unique token
indices it covers. The kind of an entity follows from the indices alone: a gap makes it
discontinuous; otherwise it is nested when it shares a token with another entity of the same
sentence; otherwise flat.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator

from .errors import EntityError


class Kind(str, Enum):
    FLAT = "flat"
    NESTED = "nested"
    DISCONTINUOUS = "discontinuous"


@dataclass(frozen=True, order=True)
class Entity:
    """A typed set of token indices (sorted, unique, non-empty)."""

    indices: tuple[int, ...]
    type: str

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type.strip():
            raise EntityError(f"entity {list(self.indices)} has an empty type")
        if not self.indices:
            raise EntityError(f"entity of type {self.type!r} covers no token")
        idx = tuple(int(i) for i in self.indices)
        if any(i < 0 for i in idx):
            raise EntityError(f"entity {list(idx)} ({self.type}) has a negative index")
        if any(b <= a for a, b in zip(idx, idx[1:])):
            raise EntityError(f"entity {list(idx)} ({self.type}) indices are not strictly increasing")
        object.__setattr__(self, "indices", idx)

    @classmethod
    def of(cls, indices: Iterable[int], type: str) -> "Entity":
        """Build from any iterable of indices, sorting and de-duplicating them."""
        return cls(tuple(sorted(set(int(i) for i in indices))), type)

    @classmethod
    def span(cls, start: int, end: int, type: str) -> "Entity":
        """A contiguous entity over tokens [start, end) (end exclusive)."""
        if end <= start:
            raise EntityError(f"empty span [{start}, {end}) of type {type!r}")
        return cls(tuple(range(start, end)), type)

    @property
    def start(self) -> int:
        return self.indices[0]

    @property
    def last(self) -> int:
        return self.indices[-1]

    @property
    def is_discontinuous(self) -> bool:
        return self.indices[-1] - self.indices[0] + 1 != len(self.indices)

    def fragments(self) -> list[tuple[int, int]]:
        """Contiguous pieces as inclusive (first, last) pairs."""
        out: list[tuple[int, int]] = []
        s = p = self.indices[0]
        for i in self.indices[1:]:
            if i != p + 1:
                out.append((s, p))
                s = i
            p = i
        out.append((s, p))
        return out

    def text(self, tokens: list[str]) -> str:
        return " ".join(tokens[i] for i in self.indices)


@dataclass
class Sentence:
    """Tokens plus entities. Entities are kept sorted by (first index, last index, ...)."""

    tokens: list[str]
    entities: list[Entity] = field(default_factory=list)
    id: str | None = None

    def __post_init__(self) -> None:
        n = len(self.tokens)
        for e in self.entities:
            if e.last >= n:
                raise EntityError(
                    f"entity {list(e.indices)} ({e.type}) is out of range for a sentence of {n} tokens"
                )
        self.entities = sorted(set(self.entities), key=entity_order)

    def kind_of(self, entity: Entity) -> Kind:
        return kind_within(entity, self.entities)

    def kinds(self) -> list[tuple[Entity, Kind]]:
        return [(e, self.kind_of(e)) for e in self.entities]

    @property
    def is_flat(self) -> bool:
        return all(k is Kind.FLAT for _, k in self.kinds())

    def to_json(self) -> dict:
        d: dict = {"tokens": list(self.tokens), "entities": [{"indices": list(e.indices), "type": e.type} for e in self.entities]}
        if self.id is not None:
            d["id"] = self.id
        return d


def kind_within(entity: Entity, entities: Iterable[Entity]) -> Kind:
    """Kind of `entity` among the entities of its sentence (gold or predicted set alike)."""
    if entity.is_discontinuous:
        return Kind.DISCONTINUOUS
    covered = set(entity.indices)
    for other in entities:
        if other != entity and covered.intersection(other.indices):
            return Kind.NESTED
    return Kind.FLAT


def entity_structure(sentences: Iterable["Sentence"]) -> str:
    """The most general kind the sentences hold: "discontinuous", else "nested", else "flat" (the decoder's limit)."""
    kinds = {k for s in sentences for _, k in s.kinds()}
    for kind in (Kind.DISCONTINUOUS, Kind.NESTED):
        if kind in kinds:
            return kind.value
    return Kind.FLAT.value


def entity_order(e: Entity) -> tuple:
    """BARTNER's target order: by first index, then last index, then the indices and type."""
    return (e.start, e.last, e.indices, e.type)


@dataclass
class Corpus:
    """A list of sentences with the name of the file (or source) they came from."""

    sentences: list[Sentence]
    source: str | None = None
    format: str | None = None

    def __iter__(self) -> Iterator[Sentence]:
        return iter(self.sentences)

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, i: int) -> Sentence:
        return self.sentences[i]

    @property
    def types(self) -> list[str]:
        return sorted({e.type for s in self.sentences for e in s.entities})

    def stats(self) -> dict:
        """Counts as `typeprior data stats` prints them."""
        counts = {k.value: 0 for k in Kind}
        types: dict[str, int] = {}
        n = 0
        for s in self.sentences:
            for e, k in s.kinds():
                counts[k.value] += 1
                types[e.type] = types.get(e.type, 0) + 1
                n += 1
        return {"sentences": len(self.sentences), "entities": n, **counts, "types": dict(sorted(types.items()))}
