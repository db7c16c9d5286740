"""One training run, recorded in the warehouse: configuration, priors build, per-epoch losses and dev scores.

The warehouse is opened only for the moment of each write (run row, each epoch, the end), so other processes
(`typeprior sql`, a run started by a rebuild) can use it in between. A resumed run (`resume=True` with the
same output folder) continues the run row it left unfinished and the trainer's last checkpoint.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from typeprior.kb.priors import TypePriorSet
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.runs import (
    finish_run,
    latest_train_run,
    priors_comparison,
    record_epoch,
    record_metrics,
    reopen_run,
    run_status,
    start_run,
    unfinished_train_dir,
)
from typeprior.warehouse.signals import interrupt_of

from .config import FlowConfigError, check_variant, defaults, output_dir
from .inputs import CorpusInput
from .model_card import write_model_card
from .plots import learning_curve
from .settings import RunSettings

LEARNING_CURVE = "learning_curve.png"


@dataclass
class TrainSpec:
    """Everything a training run depends on; stored as the run's configuration.

    `training` holds model/training.yaml keys for this run (over the backbone's recipe, and over `training_file`
    when given); `model` holds model settings (model/additions.yaml keys, word_shape, max_len, ...). Both are
    validated when the spec is made, so a bad value fails before a run row or a model exists.
    """

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
    model: dict[str, Any] = field(default_factory=dict)
    training_file: str | None = None

    def __post_init__(self) -> None:
        from typeprior.model.config import MODEL_KEYS, check_overrides

        check_variant(self.variant)
        unknown = sorted(set(self.model) - set(MODEL_KEYS))
        if unknown:
            raise FlowConfigError(f"model settings {unknown} are not model settings (known: {', '.join(MODEL_KEYS)})")
        check_overrides(self.model)
        if self.w is not None and not (math.isfinite(float(self.w)) and float(self.w) >= 0):
            raise FlowConfigError(f"relation weight w must be a finite number >= 0, got {self.w!r}")

    def relation_weight(self) -> float:
        """The w this run's model trains with (the default of its variant when none was given)."""
        from typeprior.model.config import relation_weight

        return relation_weight(self.variant, self.backbone, self.w)


@dataclass
class TrainOutcome:
    run_id: int | None  # None on torchrun ranks other than 0, which record nothing
    model_dir: str
    out_dir: str
    best_epoch: int  # 1-based, as the warehouse's epochs
    best_f1: float | None
    epochs: int
    learning_curve: str | None
    priors_build: int | None
    # dev F1 next to the latest comparable run of an earlier build (warehouse view priors_comparison)
    priors_comparison: dict[str, Any] | None = None


def training_config(spec: TrainSpec, progress: bool) -> Any:
    """The run's recipe: model/training.yaml (or spec.training_file), the backbone's recipe, then the run's keys."""
    from typeprior.model.training import TrainingConfig

    overrides = dict(spec.training)
    overrides.update(epochs=spec.epochs, batch_size=spec.batch_size, seed=spec.seed, device=spec.device,
                     progress=progress)
    return TrainingConfig.load(spec.training_file, backbone=spec.backbone, **overrides)


def model_options(spec: TrainSpec, priors: TypePriorSet | None) -> dict[str, Any]:
    """The model-config keys a variant sets: the variant itself, w, the priors build it reads, and the run's
    overrides of model/additions.yaml settings (`spec.model`, checked when the spec is made)."""
    options: dict[str, Any] = {"variant": spec.variant, **spec.model}
    if spec.w is not None:
        options["w"] = spec.w
    if priors is not None:
        options["priors_build"] = priors.summary()
        if spec.model.get("kb_match"):
            options["kb_match_names"] = priors.names
    return options


def open_run(warehouse: str | Path, spec: TrainSpec, data: CorpusInput, priors: TypePriorSet | None,
             train_config: Any) -> int:
    """A new run row, or (when resuming) the latest run of the same output folder, marked running again unless
    it completed."""
    config = {
        **asdict(spec),
        "w": spec.relation_weight(),
        "training": train_config.model_dump(),
        "data": data.sources,
        "entity_types": data.entity_types(),
        "priors": None if priors is None else priors.summary(),
    }
    with open_warehouse(warehouse) as wh:
        latest = latest_train_run(wh, spec.out_dir) if spec.resume else None
        if latest is not None:
            run_id = int(latest["run_id"])
            if latest["status"] != "completed":
                reopen_run(wh, run_id)
            return run_id
        return start_run(
            wh, "train", config, corpus=spec.corpus, variant=spec.variant, backbone=spec.backbone,
            w=spec.relation_weight(), priors_build=None if priors is None else priors.build_id,
            model_dir=spec.out_dir, parent_run_id=spec.parent_run_id,
        )


def _record_epoch(warehouse: str | Path, run_id: int, record: dict[str, Any], seconds: float) -> None:
    with open_warehouse(warehouse) as wh:
        record_epoch(
            wh, run_id, int(record["epoch"]) + 1, train_loss=record.get("loss"),
            relation_loss=record.get("relation_loss"), dev_p=record.get("dev_p"), dev_r=record.get("dev_r"),
            dev_f1=record.get("dev_f1"), seconds=seconds,
        )


def fail_run(warehouse: str | Path, run_id: int, error: BaseException) -> None:
    """End a run that raised: `cancelled` when it was interrupted (Ctrl-C, SIGTERM), else `failed`."""
    cancelled = isinstance(error, SystemExit) or interrupt_of(error) is not None
    message = "interrupted: resume with --resume" if cancelled else f"{type(error).__name__}: {error}"
    with open_warehouse(warehouse) as wh:
        finish_run(wh, run_id, "cancelled" if cancelled else "failed", message=message)


def build_tagger(spec: TrainSpec, types: list[str], priors: TypePriorSet | None) -> Any:
    """A fresh model on the backbone (or the checkpoint being resumed) carrying the variant's settings and priors."""
    import torch
    from typeprior.model.predict import Tagger
    from typeprior.model.training import CHECKPOINT, STATE

    checkpoint = Path(spec.out_dir) / CHECKPOINT
    if spec.resume and (checkpoint / STATE).is_file():
        return Tagger.load(checkpoint, device="cpu")
    vectors = None if priors is None else torch.as_tensor(priors.vectors, dtype=torch.float32)
    return Tagger.from_backbone(spec.backbone, types, spec.seed, type_vectors=vectors, **model_options(spec, priors))


def train_run(warehouse: str | Path, spec: TrainSpec, data: CorpusInput, priors: TypePriorSet | None,
              progress: bool = True, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainOutcome:
    """Train on the corpus's train split (best epoch by dev F1 when it has dev), recording into the warehouse.

    `on_epoch` is called with each epoch's record after it is stored (progress reporting, or an interruption).
    """
    from typeprior.model.distributed import is_main_process
    from typeprior.model.training import BEST, Trainer, finished

    check_variant(spec.variant)
    cfg = training_config(spec, progress)
    if not is_main_process():
        return _train_unrecorded(spec, data, priors, cfg)
    run_id = open_run(warehouse, spec, data, priors, cfg)
    done = finished(spec.out_dir, cfg.epochs) if spec.resume else None
    if done is not None:  # resuming a run that finished: its result, no new training and no new row
        with open_warehouse(warehouse) as wh:
            if run_status(wh, run_id) != "completed":
                finish_run(wh, run_id, "completed")
            compared = priors_comparison(wh, run_id, "dev")
        curve = Path(spec.out_dir) / LEARNING_CURVE
        return TrainOutcome(run_id, str(done.model_dir), spec.out_dir, done.best_epoch + 1, done.best_f1,
                            len(done.history), str(curve) if curve.is_file() else None,
                            None if priors is None else priors.build_id, compared)
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
        with open_warehouse(warehouse) as wh:
            with wh.transaction():
                if best is not None and "dev_f1" in best:
                    record_metrics(wh, run_id, "dev", {"p": best["dev_p"], "r": best["dev_r"], "f1": best["dev_f1"]})
                finish_run(wh, run_id, "completed")
            compared = priors_comparison(wh, run_id, "dev")
        write_model_card(Path(spec.out_dir) / BEST, spec, cfg, priors, result, run_id, warehouse, data)
    except BaseException as err:
        fail_run(warehouse, run_id, err)
        raise
    return TrainOutcome(run_id, str(Path(spec.out_dir) / BEST), spec.out_dir, result.best_epoch + 1, result.best_f1,
                        len(result.history), str(curve), None if priors is None else priors.build_id, compared)


def _train_unrecorded(spec: TrainSpec, data: CorpusInput, priors: TypePriorSet | None, cfg: Any) -> TrainOutcome:
    """A torchrun rank other than 0 trains its share but writes nothing: rank 0 owns the run row and the files."""
    from typeprior.model.training import BEST, Trainer

    tagger = build_tagger(spec, data.entity_types(), priors)
    result = Trainer(tagger, cfg, spec.out_dir).fit(data.split("train"), data.splits.get("dev"), resume=spec.resume)
    return TrainOutcome(None, str(Path(spec.out_dir) / BEST), spec.out_dir, result.best_epoch + 1, result.best_f1,
                        len(result.history), None, None if priors is None else priors.build_id)


def unfinished_out_dir(warehouse: str | Path, corpus: str, variant: str) -> str | None:
    """The output folder of the latest unfinished training run of this corpus and variant (what --resume picks)."""
    with open_warehouse(warehouse) as wh:
        return unfinished_train_dir(wh, corpus, variant)


def make_spec(warehouse: str | Path, corpus: str, settings: RunSettings | None = None, *, variant: str | None = None,
              out: str | Path | None = None, resume: bool = False, models_dir: str | None = None,
              parent_run_id: int | None = None, training_file: str | Path | None = None) -> TrainSpec:
    """The one place a run's settings are filled in: flows/defaults.yaml's `train` defaults for what `settings`
    leaves unset, and the output folder (a new stamped one under models_dir, or the unfinished one resumed)."""
    settings = settings or RunSettings()
    d = defaults()["train"]
    variant = check_variant(variant or d["variant"])
    if out is None and resume:
        out = unfinished_out_dir(warehouse, corpus, variant)
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        suffix = "" if settings.w is None else f"-w{settings.w:g}"
        out = output_dir("models", models_dir) / f"{corpus}-{variant}{suffix}-{stamp}-{time.time_ns() % 10**6:06d}"
    return TrainSpec(
        corpus=corpus, variant=variant, backbone=settings.backbone or d["backbone"], out_dir=str(Path(out).resolve()),
        w=settings.w, seed=d["seed"] if settings.seed is None else settings.seed, epochs=settings.epochs,
        batch_size=settings.batch_size, device=settings.device, training=dict(settings.training), resume=resume,
        parent_run_id=parent_run_id, model=dict(settings.model),
        training_file=None if training_file is None else str(training_file),
    )


def train_recorded(
    warehouse: str | Path,
    corpus: str,
    out_dir: str | Path | None = None,
    settings: RunSettings | None = None,
    *,
    train_file: str | Path | None = None,
    dev_file: str | Path | None = None,
    format: str | None = None,
    variant: str | None = None,
    resume: bool = False,
    progress: bool = True,
    training_file: str | Path | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainOutcome:
    """`typeprior train` without Prefect: files (or imported splits) → a recorded, resumable run, through the
    same settings, spec and train_run as the flows. The warehouse is created when missing."""
    from .inputs import resolve_corpus, resolve_priors

    settings = settings or RunSettings()
    with open_warehouse(warehouse):
        pass
    spec = make_spec(warehouse, corpus, settings, variant=variant, out=out_dir, resume=resume,
                     training_file=training_file)
    training_config(spec, progress)  # a bad recipe fails here, before the corpus is read
    data = resolve_corpus(warehouse, corpus, train_file, dev_file, None, format)
    chosen = resolve_priors(warehouse, spec.variant, corpus, data.entity_types(), settings.priors_choice(),
                            settings.scheme)
    return train_run(warehouse, spec, data, chosen, progress, on_epoch=on_epoch)
