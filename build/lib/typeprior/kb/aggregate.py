"""E_t = Σ_i θ_i E_{C_t^i}: the weighted sum of a type's entity embeddings, and the build's content hash."""
from __future__ import annotations

import hashlib

import numpy as np

from .errors import KBError
from .store import KBStore


def aggregate_type_vectors(store: KBStore, build_id: int, model_id: str,
                           types: list[str] | None = None) -> dict[str, np.ndarray]:
    """Compute and store E_t for every type that has weighted entities in the build.

    A type of `types` (the scheme's) with no entity gets the empty sum, a zero vector, stored with n_entities = 0:
    the model then reads no prior for it (its type embedding starts from the type's name alone); `kb build` warns,
    `kb show` lists it, load_type_priors reports its n_entities as 0, and a training run records it among its
    priors' `empty_types`."""
    weights = store.weights(build_id)
    if weights.empty:
        raise KBError(f"build {build_id} has no weighted entities: did the harvest find any page of the scheme's types?")
    vectors = store.embeddings(model_id, weights["name"].tolist())
    missing = sorted(set(weights["name"]) - set(vectors))
    if missing:
        raise KBError(f"build {build_id}: {len(missing)} entity names have no embedding for {model_id}, "
                      f"e.g. {missing[:5]}: run the embed step first")
    out: dict[str, np.ndarray] = {}
    rows = []
    for entity_type, group in weights.groupby("entity_type", sort=True):
        matrix = np.stack([vectors[n] for n in group["name"]])
        e_t = (group["theta"].to_numpy(dtype=np.float64)[:, None] * matrix).sum(axis=0).astype(np.float32)
        out[str(entity_type)] = e_t
        rows.append((str(entity_type), e_t, len(group)))
    dim = len(next(iter(vectors.values())))
    for entity_type in sorted(set(types or ()) - set(out)):
        out[entity_type] = np.zeros(dim, dtype=np.float32)
        rows.append((entity_type, out[entity_type], 0))
    store.save_type_vectors(build_id, rows)
    return out


def content_hash(store: KBStore, build_id: int) -> str:
    """sha256 over the build's weights and E_t as stored: two builds with equal hashes give equal priors."""
    h = hashlib.sha256()
    for row in store.weights(build_id).sort_values(["entity_type", "title"]).itertuples(index=False):
        h.update(f"{row.entity_type}\t{row.title}\t{row.name}\t{row.theta:.12g}\n".encode())
    for row in store.type_vectors(build_id):
        h.update(row["entity_type"].encode())
        h.update(np.asarray(row["vector"], dtype=np.float32).tobytes())
    return h.hexdigest()
