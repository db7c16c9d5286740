"""The flows' readable configuration: flows/defaults.yaml (run defaults) and flows/deployments.yaml (serving).

Both are plain YAML; this module reads them once, checks their shape and answers questions such as "which scheme
does this corpus use" or "which training jobs follow a rebuild of this scheme".
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from typeprior.model.variants import check_variant, uses_priors, variant_names  # noqa: F401 - the flows' names for them

from typeprior.errors import TypePriorError
from typeprior.yaml_files import read_mapping

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).resolve().parent / "defaults.yaml"
DEPLOYMENTS_FILE = Path(__file__).resolve().parent / "deployments.yaml"
DEPLOYMENTS_ENV = "TYPEPRIOR_DEPLOYMENTS"


class FlowConfigError(TypePriorError, ValueError):
    """A flows configuration file, or a flow parameter, is malformed; the message names the file and the key."""


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_mapping(path, FlowConfigError, "flows settings")


@lru_cache(maxsize=1)
def defaults() -> dict[str, Any]:
    """flows/defaults.yaml, read once."""
    data = _read_yaml(DEFAULTS_FILE)
    for key in ("schemes", "train", "evaluate", "ablation", "weight_sweep", "pipeline"):
        if not isinstance(data.get(key), dict):
            raise FlowConfigError(f"{DEFAULTS_FILE}: `{key}` must be a mapping")
    return data


def scheme_for(corpus: str, scheme: str | None = None) -> str:
    """The knowledge-base scheme of a corpus: the one given, the map in defaults.yaml, else the corpus name."""
    if scheme:
        return scheme
    return str(defaults()["schemes"].get(corpus, corpus))


def project_path(path: str | Path) -> Path:
    """A path as given when it exists from the working directory, else relative to the project folder."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    candidate = PROJECT_DIR / p
    return candidate if candidate.exists() else p


def output_dir(kind: str, given: str | Path | None = None) -> Path:
    """models_dir or reports_dir from defaults.yaml (or the folder given), created."""
    path = (Path(given) if given is not None else Path(defaults()[f"{kind}_dir"])).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class TrainingJob:
    """A training run started when a scheme's priors change: a corpus, its files or imported splits, a variant."""

    corpus: str
    variant: str
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    format: str | None = None
    backbone: str | None = None
    w: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    training: dict[str, Any] = field(default_factory=dict)

    def parameters(self, **settings: Any) -> dict[str, Any]:
        """Parameters of the `train` deployment, without the ones left at their defaults; `settings` (the new
        priors build, its scheme) go into its RunSettings beside the job's own."""
        from .settings import RunSettings

        run = RunSettings.of(backbone=self.backbone, w=self.w, epochs=self.epochs, batch_size=self.batch_size,
                             training=dict(self.training) or None, **settings)
        params = {"corpus": self.corpus, "variant": self.variant, "train_file": self.train_file,
                  "dev_file": self.dev_file, "test_file": self.test_file, "format": self.format,
                  "settings": run.given() or None}
        return {k: v for k, v in params.items() if v is not None}


@dataclass(frozen=True)
class Deployments:
    """flows/deployments.yaml: the rebuild schedule, its sources, and who trains after a change."""

    path: Path
    rebuild_name: str
    cron: str
    timezone: str
    schemes: list[str]
    kb_sources: list[str]
    train_name: str
    warehouse: str | None
    models_dir: str | None
    triggers: dict[str, list[TrainingJob]]

    def jobs_for(self, scheme: str) -> list[TrainingJob]:
        return list(self.triggers.get(scheme, []))


def _job(raw: Any, where: str) -> TrainingJob:
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where} must be a mapping with at least corpus and variant")
    unknown = set(raw) - set(TrainingJob.__dataclass_fields__)
    if unknown:
        raise FlowConfigError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("corpus", "variant"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise FlowConfigError(f"{where}: `{key}` must be a non-empty string")
    try:
        check_variant(raw["variant"])
    except ValueError as err:
        raise FlowConfigError(f"{where}: {err}") from None
    job = TrainingJob(**raw)
    try:
        job.parameters()  # its settings are checked now, not when a rebuild starts it
    except FlowConfigError as err:
        raise FlowConfigError(f"{where}: {err}") from None
    return job


def load_deployments(path: str | Path | None = None) -> Deployments:
    """The serving configuration: `path`, else $TYPEPRIOR_DEPLOYMENTS, else flows/deployments.yaml."""
    path = Path(path or os.environ.get(DEPLOYMENTS_ENV) or DEPLOYMENTS_FILE)
    data = _read_yaml(path)
    rebuild = data.get("rebuild")
    train = data.get("train", {})
    if not isinstance(rebuild, dict):
        raise FlowConfigError(f"{path}: `rebuild` must be a mapping (name, cron, schemes, sources)")
    if not isinstance(train, dict):
        raise FlowConfigError(f"{path}: `train` must be a mapping (name)")
    schemes = rebuild.get("schemes")
    sources = rebuild.get("sources")
    if not isinstance(schemes, list) or not schemes or not all(isinstance(s, str) for s in schemes):
        raise FlowConfigError(f"{path}: `rebuild.schemes` must be a non-empty list of scheme names")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise FlowConfigError(f"{path}: `rebuild.sources` must be a non-empty list (snapshot, live, dump:PATH, ...)")
    cron = rebuild.get("cron")
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise FlowConfigError(f"{path}: `rebuild.cron` must be a five-field cron expression, got {cron!r}")
    raw_triggers = data.get("triggers") or {}
    if not isinstance(raw_triggers, dict):
        raise FlowConfigError(f"{path}: `triggers` must map scheme names to lists of training jobs")
    triggers: dict[str, list[TrainingJob]] = {}
    for scheme, jobs in raw_triggers.items():
        if not isinstance(jobs, list):
            raise FlowConfigError(f"{path}: `triggers.{scheme}` must be a list of training jobs")
        triggers[str(scheme)] = [_job(j, f"{path}: triggers.{scheme}[{i}]") for i, j in enumerate(jobs)]
    return Deployments(
        path=path,
        rebuild_name=str(rebuild.get("name", "scheduled")),
        cron=cron,
        timezone=str(rebuild.get("timezone", "UTC")),
        schemes=[str(s) for s in schemes],
        kb_sources=[str(s) for s in sources],
        train_name=str(train.get("name", "on-demand")),
        warehouse=data.get("warehouse"),
        models_dir=data.get("models_dir"),
        triggers=triggers,
    )
