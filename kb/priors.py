"""The model's view of a build: one E_t row per entity type, read from the warehouse."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from typeprior.warehouse import Warehouse
from typeprior.warehouse.errors import WarehouseError

from .errors import BuildNotFoundError, MissingTypesError
from .store import KBStore


@dataclass(frozen=True)
class TypePriorSet:
    """Type embeddings E_t of one finished build, rows in `types` order."""

    build_id: int
    scheme: str
    types: list[str]
    vectors: np.ndarray
    content_hash: str
    model_id: str = ""
    n_entities: dict[str, int] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # the build's entity names per type (θ order)

    def vector(self, entity_type: str) -> np.ndarray:
        return self.vectors[self.types.index(entity_type)]

    @property
    def empty_types(self) -> list[str]:
        """Types the build found no entity for: their E_t is the empty sum, 0 (recorded with every run)."""
        return [t for t in self.types if self.n_entities.get(t, 0) == 0]

    def summary(self) -> dict[str, Any]:
        """What a run records of its priors (run config, model config); `empty_types` shows which E_t are zero."""
        return {"build_id": self.build_id, "scheme": self.scheme, "content_hash": self.content_hash,
                "empty_types": self.empty_types}


def resolve_build(store: KBStore, build: str | int = "latest", scheme: str | None = None) -> dict[str, Any]:
    """The finished build asked for: an id, or "latest" (of `scheme` when given)."""
    if build == "latest":
        row = store.latest_build(scheme)
        if row is None:
            where = f" for scheme {scheme!r}" if scheme else ""
            raise BuildNotFoundError(f"no finished knowledge-base build{where}: run `typeprior kb build` first")
        return row
    try:
        build_id = int(build)
    except (TypeError, ValueError):
        raise BuildNotFoundError(f"build must be an id or 'latest', not {build!r}") from None
    row = store.build(build_id)
    if row is None:
        raise BuildNotFoundError(f"there is no knowledge-base build {build_id}")
    if row["status"] != "done":
        raise BuildNotFoundError(f"build {build_id} is {row['status']}, not done")
    if scheme is not None and row["scheme"] != scheme:
        raise BuildNotFoundError(f"build {build_id} is of scheme {row['scheme']!r}, not {scheme!r}")
    return row


def _read(store: KBStore, build: str | int, scheme: str | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    row = resolve_build(store, build, scheme)
    build_id = int(row["build_id"])
    names: dict[str, list[str]] = {}
    for entity_type, name in store.weights(build_id)[["entity_type", "name"]].itertuples(index=False):
        names.setdefault(entity_type, []).append(str(name))
    return row, {r["entity_type"]: {**r, "names": names.get(r["entity_type"], [])} for r in store.type_vectors(build_id)}


def load_type_priors(warehouse: str | Path | Warehouse, build: str | int = "latest", scheme: str | None = None,
                     types: list[str] | None = None) -> TypePriorSet:
    """E_t of a build. `types` picks and orders rows (a corpus's label order); a missing one is an error."""
    try:
        with KBStore.open(warehouse, read_only=True) as store:
            row, stored = _read(store, build, scheme)
    except WarehouseError as err:
        if "read-write versus read-only" not in str(err):
            raise
        with KBStore.open(warehouse) as store:  # this process already holds the file read-write
            row, stored = _read(store, build, scheme)
    wanted = list(types) if types is not None else sorted(stored)
    missing = [t for t in wanted if t not in stored]
    if missing or not wanted:
        raise MissingTypesError(int(row["build_id"]), missing or ["<any>"], sorted(stored))
    vectors = np.stack([np.asarray(stored[t]["vector"], dtype=np.float32) for t in wanted])
    return TypePriorSet(
        build_id=int(row["build_id"]), scheme=row["scheme"], types=wanted, vectors=vectors,
        content_hash=row["content_hash"], model_id=row["model_id"],
        n_entities={t: int(stored[t]["n_entities"]) for t in wanted},
        names={t: list(stored[t]["names"]) for t in wanted},
    )
