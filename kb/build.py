"""A knowledge-base build, step by step: harvest → parse and type → weigh → embed → aggregate.

Every step is a plain function over a KBStore; `run_build` chains them (the CLI uses it) and
flows/build_type_priors.py runs the same steps as Prefect tasks.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typeprior.warehouse import Warehouse

from .aggregate import aggregate_type_vectors, content_hash
from .checks import check_file, load_checks
from .embeddings import Encoder, embed_names
from .entities import EntityCounts, extract_entities
from .errors import KBError
from .harvest import HarvestReport, harvest
from .schemes import Scheme, load_scheme
from .settings import load_settings
from .sources import Source, open_source
from .store import KBStore


@dataclass
class BuildPlan:
    """Everything a build depends on, resolved: its hash tells whether two builds were asked the same."""

    scheme: Scheme
    sources: list[Source]
    settings: dict[str, Any]
    model_path: Path | None = None

    def config(self, model_id: str) -> dict[str, Any]:
        return {
            "scheme": self.scheme.to_dict(),
            "sources": [s.key for s in self.sources],
            "model_id": model_id,
            "typing": self.settings["typing"],
            "max_mention_words": self.settings["snapshot"]["max_mention_words"],
            "pageview_days": self.settings["live"]["pageview_days"],
        }

    def config_hash(self, model_id: str) -> str:
        return hashlib.sha256(json.dumps(self.config(model_id), sort_keys=True, default=list).encode()).hexdigest()[:16]


@dataclass
class BuildResult:
    build_id: int
    content_hash: str
    harvests: list[HarvestReport] = field(default_factory=list)
    entities: dict[str, EntityCounts] = field(default_factory=dict)
    weights: int = 0
    embedded: int = 0


def plan_build(scheme: str | Scheme, sources: list[str] | str, settings: dict[str, Any] | None = None,
               model_path: str | Path | None = None, schemes_dir: str | Path | None = None) -> BuildPlan:
    settings = settings or load_settings()
    scheme_obj = scheme if isinstance(scheme, Scheme) else load_scheme(scheme, schemes_dir)
    specs = [sources] if isinstance(sources, str) else list(sources)
    if not specs:
        raise KBError("a build needs at least one source")
    return BuildPlan(scheme_obj, [open_source(s, settings) for s in specs], settings,
                     Path(model_path) if model_path else None)


def start_build(store: KBStore, plan: BuildPlan, model_id: str) -> int:
    return store.start_build(plan.scheme.name, [s.key for s in plan.sources], model_id,
                             plan.config_hash(model_id), json.dumps(plan.config(model_id), default=list),
                             plan.scheme.limits.max_entities_per_type)


def weigh(store: KBStore, build_id: int) -> int:
    """θ in SQL (kb/sql/theta.sql) over the build's typed entities; returns the number of weighted entities."""
    return store.compute_weights(build_id)


def embed(store: KBStore, build_id: int, encoder: Encoder, progress: bool = True) -> int:
    """Embed the build's entity names the cache lacks."""
    return embed_names(store, encoder, store.weights(build_id)["name"].tolist(), progress)


def aggregate(store: KBStore, build_id: int, model_id: str, types: list[str] | None = None) -> str:
    """E_t per type (zero for a type of `types` without entities), then the build's content hash; marks it done.
    The scheme's hand-checked samples, if it has any, go into the warehouse with it (kb/sql/check_figures.sql)."""
    aggregate_type_vectors(store, build_id, model_id, types)
    digest = content_hash(store, build_id)
    record_checks(store, str(store.build(build_id)["scheme"]))
    store.finish_build(build_id, digest)
    return digest


def record_checks(store: KBStore, scheme: str) -> bool:
    """Load the packaged check file of `scheme` into kb_check_frames and kb_check_items; False when it has none."""
    path = check_file(scheme)
    if path is None:
        return False
    checks = load_checks(path)
    store.replace_checks(checks.scheme, checks.frame_rows(), checks.item_rows())
    return True


def run_build(warehouse: str | Path | Warehouse, plan: BuildPlan, encoder: Encoder | None = None,
              progress: bool = True) -> BuildResult:
    """The whole build in this process, one step after the other. A failure marks the build failed."""
    encoder = encoder or Encoder.from_settings(plan.model_path, plan.settings["embedding"])
    with KBStore.open(warehouse) as store:
        build_id = start_build(store, plan, encoder.model_id)
        try:
            result = BuildResult(build_id, "")
            for source in plan.sources:
                for partition in source.partitions(plan.scheme):
                    result.harvests.append(harvest(store, source, plan.scheme, partition, progress=progress))
            for source in plan.sources:
                result.entities[source.key] = extract_entities(store, source.key, plan.scheme, plan.settings)
            result.weights = weigh(store, build_id)
            result.embedded = embed(store, build_id, encoder, progress)
            result.content_hash = aggregate(store, build_id, encoder.model_id, plan.scheme.type_names)
        except BaseException as err:
            store.fail_build(build_id, f"{type(err).__name__}: {err}")
            raise
    return result
