"""One training run, recorded in the warehouse: configuration, priors build, per-epoch losses and dev scores.

The warehouse is opened only for the moment of each write (run row, each epoch, the end), so other processes
(`typeprior sql`, a run started by a rebuild) can use it in between. A resumed run (`resume=True` with the
same output folder) continues the run row it left unfinished and the trainer's last checkpoint.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from typeprior.warehouse import open_warehouse
from typeprior.warehouse.runs import finish_run, record_epoch, record_metrics, start_run

from .config import FlowConfigError, check_variant
from .inputs import CorpusInput, PriorsChoice
from .plots import learning_curve

LEARNING_CURVE = "learning_curve.png"


@dataclass
class TrainSpec:
    """Everything a training run depends on; stored as the run's configuration."""

    corpus: str
    variant: str
    backbone: str
    out_dir: str
    w: float | None = None
    seed: int = 42
    epochs: int | None = None
    batch_size: int | None = None
    device: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    parent_run_id: int | None = None
    model: dict[str, Any] = field(default_factory=dict)  # model/additions.yaml keys overridden for this run

    def __post_init__(self) -> None:
        from typeprior.model.config import SETTINGS

        unknown = sorted(set(self.model) - set(SETTINGS))
        if unknown:
            raise FlowConfigError(f"model settings {unknown} are not model/additions.yaml keys "
                                  f"(known: {list(SETTINGS)})")


@dataclass
class TrainOutcome:
    run_id: int | None  # None on torchrun ranks other than 0, which record nothing
    model_dir: str
    out_dir: str
    best_epoch: int
    best_f1: float | None
    epochs: int
    learning_curve: str | None
    priors_build: int | None


def training_config(spec: TrainSpec, progress: bool) -> Any:
    from typeprior.model.training import TrainingConfig

    overrides = dict(spec.training)
    overrides.update(epochs=spec.epochs, batch_size=spec.batch_size, seed=spec.seed, device=spec.device,
                     progress=progress)
    return TrainingConfig.load(**overrides)


def model_options(spec: TrainSpec, priors: PriorsChoice | None) -> dict[str, Any]:
    """The model-config keys a variant sets: the variant itself, w, the priors build it reads, and the run's
    overrides of model/additions.yaml settings (`spec.model`, checked when the spec is made)."""
    options: dict[str, Any] = {"variant": spec.variant, **spec.model}
    if spec.w is not None:
        options["w"] = spec.w
    if priors is not None:
        options["priors_build"] = priors.summary()
    return options


def _unfinished_run(wh: Any, out_dir: str) -> int | None:
    rows = wh.query(
        "SELECT run_id FROM runs WHERE kind = 'train' AND model_dir = ? AND status <> 'completed' "
        "ORDER BY run_id DESC LIMIT 1",
        [out_dir],
    )
    return int(rows[0]["run_id"]) if rows else None


def open_run(warehouse: str | Path, spec: TrainSpec, data: CorpusInput, priors: PriorsChoice | None,
             train_config: Any) -> int:
    """A new run row, or (when resuming) the unfinished one of the same output folder, marked running again."""
    config = {
        **asdict(spec),
        "training": asdict(train_config),
        "data": data.sources,
        "entity_types": data.entity_types(),
        "priors": None if priors is None else priors.summary(),
    }
    with open_warehouse(warehouse) as wh:
        if spec.resume:
            run_id = _unfinished_run(wh, spec.out_dir)
            if run_id is not None:
                with wh.transaction():
                    wh.execute("UPDATE runs SET status = 'running', finished = NULL, message = NULL WHERE run_id = ?",
                               [run_id])
                return run_id
        return start_run(
            wh, "train", config, corpus=spec.corpus, variant=spec.variant, backbone=spec.backbone, w=spec.w,
            priors_build=None if priors is None else str(priors.build_id), model_dir=spec.out_dir,
            parent_run_id=spec.parent_run_id,
        )


def _record_epoch(warehouse: str | Path, run_id: int, record: dict[str, Any], seconds: float) -> None:
    with open_warehouse(warehouse) as wh:
        record_epoch(
            wh, run_id, int(record["epoch"]) + 1, train_loss=record.get("loss"),
            relation_loss=record.get("relation_loss"), dev_p=record.get("dev_p"), dev_r=record.get("dev_r"),
            dev_f1=record.get("dev_f1"), seconds=seconds,
        )


def fail_run(warehouse: str | Path, run_id: int, error: BaseException) -> None:
    with open_warehouse(warehouse) as wh:
        finish_run(wh, run_id, "failed", message=f"{type(error).__name__}: {error}")


def build_tagger(spec: TrainSpec, types: list[str], priors: PriorsChoice | None) -> Any:
    """A fresh model on the backbone (or the checkpoint being resumed) carrying the variant's settings and priors."""
    import torch

    from typeprior.model.predict import Tagger
    from typeprior.model.training import CHECKPOINT, STATE

    checkpoint = Path(spec.out_dir) / CHECKPOINT
    if spec.resume and (checkpoint / STATE).is_file():
        return Tagger.load(checkpoint, device="cpu")
    vectors = None if priors is None else torch.as_tensor(priors.vectors, dtype=torch.float32)
    return Tagger.from_backbone(spec.backbone, types, spec.seed, type_vectors=vectors, **model_options(spec, priors))


def train_run(warehouse: str | Path, spec: TrainSpec, data: CorpusInput, priors: PriorsChoice | None,
              progress: bool = True, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainOutcome:
    """Train on the corpus's train split (best epoch by dev F1 when it has dev), recording into the warehouse.

    `on_epoch` is called with each epoch's record after it is stored (progress reporting, or an interruption).
    """
    from typeprior.model.distributed import is_main_process
    from typeprior.model.training import BEST, Trainer

    check_variant(spec.variant)
    cfg = training_config(spec, progress)
    if not is_main_process():
        return _train_unrecorded(spec, data, priors, cfg)
    run_id = open_run(warehouse, spec, data, priors, cfg)
    try:
        tagger = build_tagger(spec, data.entity_types(), priors)
        started = [time.monotonic()]

        def record(epoch: dict[str, Any]) -> None:
            now = time.monotonic()
            _record_epoch(warehouse, run_id, epoch, now - started[0])
            started[0] = now
            if on_epoch is not None:
                on_epoch(epoch)

        dev = data.splits.get("dev")
        result = Trainer(tagger, cfg, spec.out_dir).fit(data.split("train"), dev, resume=spec.resume,
                                                        on_epoch=record)
        curve = learning_curve(result.history, Path(spec.out_dir) / LEARNING_CURVE,
                               title=f"{spec.corpus} · {spec.variant} · {spec.backbone}")
        best = next((h for h in result.history if h["epoch"] == result.best_epoch), None)
        with open_warehouse(warehouse) as wh, wh.transaction():
            if best is not None and "dev_f1" in best:
                record_metrics(wh, run_id, "dev", {"p": best["dev_p"], "r": best["dev_r"], "f1": best["dev_f1"]})
            finish_run(wh, run_id, "completed")
    except BaseException as err:
        fail_run(warehouse, run_id, err)
        raise
    return TrainOutcome(run_id, str(Path(spec.out_dir) / BEST), spec.out_dir, result.best_epoch, result.best_f1,
                        len(result.history), str(curve), None if priors is None else priors.build_id)


def _train_unrecorded(spec: TrainSpec, data: CorpusInput, priors: PriorsChoice | None, cfg: Any) -> TrainOutcome:
    """A torchrun rank other than 0 trains its share but writes nothing: rank 0 owns the run row and the files."""
    from typeprior.model.training import BEST, Trainer

    tagger = build_tagger(spec, data.entity_types(), priors)
    result = Trainer(tagger, cfg, spec.out_dir).fit(data.split("train"), data.splits.get("dev"), resume=spec.resume)
    return TrainOutcome(None, str(Path(spec.out_dir) / BEST), spec.out_dir, result.best_epoch, result.best_f1,
                        len(result.history), None, None if priors is None else priors.build_id)


def train_recorded(
    warehouse: str | Path,
    corpus: str,
    out_dir: str | Path,
    *,
    train_file: str | Path | None = None,
    dev_file: str | Path | None = None,
    format: str | None = None,
    variant: str = "full",
    backbone: str = "minilm",
    priors: str | int = "latest",
    w: float | None = None,
    scheme: str | None = None,
    seed: int = 42,
    resume: bool = False,
    progress: bool = True,
    model: dict[str, Any] | None = None,
    **training: Any,
) -> TrainOutcome:
    """One call for the `typeprior train` command: files (or imported splits) → a recorded, resumable run.

    `training` holds training.yaml keys (epochs, batch_size, lr_backbone, device, ...); None values are dropped.
    `model` overrides model/additions.yaml settings (`--set KEY=VALUE`); it is recorded with the run.
    """
    from .inputs import resolve_corpus, resolve_priors

    data = resolve_corpus(warehouse, corpus, train_file, dev_file, None, format)
    chosen = resolve_priors(warehouse, variant, corpus, data.entity_types(), priors, scheme)
    settings = {k: v for k, v in training.items() if v is not None}
    spec = TrainSpec(corpus=corpus, variant=check_variant(variant), backbone=backbone,
                     out_dir=str(Path(out_dir).resolve()), w=w, seed=seed, epochs=settings.pop("epochs", None),
                     batch_size=settings.pop("batch_size", None), device=settings.pop("device", None),
                     training=settings, resume=resume, model=dict(model or {}))
    return train_run(warehouse, spec, data, chosen, progress)
