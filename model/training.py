"""Training: AdamW with two learning rates, warm-up and linear decay, clipping, best epoch by dev F1.

Runs on CPU or GPU, with bf16 autocast where the device computes bf16 natively (`mixed_precision`,
model/precision.py; weights, gradients and optimizer state stay float32), and batches bucketed by length
(`bucket_batches`). Every epoch ends with a checkpoint
(model folder + optimizer, scheduler and trainer state, all safetensors/JSON, written aside and
renamed), so an interrupted run resumes at the next epoch. Shuffling and dropout are seeded per epoch,
so a resumed run sees the same batches as an uninterrupted one. Under `torchrun` the same loop runs data-parallel
(model/distributed.py): each process takes its share of every global batch, and only rank 0 writes.

Output folder layout: `model/` (the best model so far), `checkpoint/` (the latest epoch), `history.json`.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from typeprior.errors import TypePriorError
from typeprior.yaml_files import read_mapping

from . import persistence, precision
from .batching import encode_sentences
from .corpus.document import Sentence, entity_structure
from .distributed import DataParallel
from .generator import PointerNER
from .predict import Tagger

DEFAULTS = Path(__file__).with_name("training.yaml")
CHECKPOINT = "checkpoint"
BEST = "model"
HISTORY = "history.json"
OPTIMIZER = "optimizer.safetensors"
STATE = "trainer_state.json"


class TrainingError(TypePriorError, ValueError):
    """Bad training input or configuration; the message says which and why."""


class TrainingConfig(BaseModel):
    """The training recipe, validated in one place: model/training.yaml's defaults, then the overrides of the
    run's backbone (its `backbones:` section), then the caller's. Every value is range-checked, so a NaN rate or
    a batch of -1 is refused before a model is built."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(32, ge=1)
    lr_backbone: float = Field(1e-5, ge=0, allow_inf_nan=False)
    lr_new: float = Field(5e-5, ge=0, allow_inf_nan=False)
    lr_decoder: float | None = Field(None, ge=0, allow_inf_nan=False)
    weight_decay: float = Field(0.01, ge=0, allow_inf_nan=False)
    warmup: float = Field(0.01, ge=0, lt=1)
    max_grad_norm: float = Field(5.0, gt=0, allow_inf_nan=False)
    seed: int = Field(42, ge=0)
    num_beams: int | None = Field(None, ge=1)
    device: str = "auto"
    mixed_precision: str | bool = "auto"
    bucket_batches: int = Field(64, ge=0)  # 0: no bucketing
    progress: bool = True
    keep_checkpoint: bool = False

    @field_validator("mixed_precision")
    @classmethod
    def _precision(cls, value: str | bool) -> str | bool:
        try:
            precision.normalise(value)
        except precision.PrecisionError as err:
            raise ValueError(str(err)) from None
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value != "auto" and not DEVICE.fullmatch(value):
            raise ValueError(f"{value!r} is not auto, cpu, cuda or cuda:N")
        return value

    @classmethod
    def load(cls, path: str | Path | None = None, backbone: str | None = None, **overrides: Any) -> "TrainingConfig":
        """Defaults from YAML (the packaged file unless `path`), the backbone's recipe, then keyword overrides
        (None = keep)."""
        data = recipe(backbone, path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.checked(data, str(path or DEFAULTS))

    @classmethod
    def checked(cls, data: dict[str, Any], where: str = "training settings") -> "TrainingConfig":
        """A config from a mapping; a bad key or value is a one-line TrainingError naming it."""
        try:
            return cls(**data)
        except ValidationError as err:
            raise TrainingError(f"{where}: {validation_message(err)}") from None

    def resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise TrainingError(f"--device {self.device}: this torch build sees no CUDA device (use cpu or auto)")
        return torch.device(self.device)


DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def validation_message(err: ValidationError) -> str:
    """Pydantic's errors as one line: `key: reason (got value)`."""
    parts = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "value"
        reason = "unknown setting" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        parts.append(f"{key}: {reason} (got {e.get('input')!r})")
    return "; ".join(parts)


def recipe(backbone: str | None = None, path: str | Path | None = None) -> dict[str, Any]:
    """model/training.yaml (or `path`) with the `backbones:` overrides of `backbone` applied: rates that learn
    differ between a pretrained BART, a converted MiniLM and a random backbone."""
    path = Path(path) if path is not None else DEFAULTS
    data = read_mapping(path, TrainingError, "training settings")
    per_backbone = data.pop("backbones", None) or {}
    if not isinstance(per_backbone, dict):
        raise TrainingError(f"training settings {path}: `backbones` must map backbone names to settings")
    data.update(per_backbone.get(recipe_key(backbone), None) or {})
    return data


def recipe_key(backbone: str | None) -> str | None:
    """The `backbones:` entry of a backbone: its own name for minilm and tiny-random, else `bart` (a pretrained
    BART checkpoint by path or name)."""
    if backbone is None:
        return None
    name = str(backbone)
    return name if name in ("minilm", "tiny-random") else "bart"


@dataclass
class TrainResult:
    best_epoch: int
    best_f1: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    model_dir: Path | None = None


def parameter_groups(model: PointerNER, cfg: TrainingConfig) -> list[dict[str, Any]]:
    """Backbone weights at lr_backbone, new parts at lr_new; no weight decay on biases and LayerNorms.

    New parts: everything outside BART; cross-attention too when BART was converted from BERT; all of it
    for a random backbone. `lr_decoder`, when set, replaces lr_backbone for the BART decoder's own pretrained
    weights (a decoder converted from BERT layers was never trained to generate).
    """
    kind = model.config.backbone_kind
    norm_names = {n for n, m in model.named_modules() if isinstance(m, torch.nn.LayerNorm)}
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    lr_decoder = cfg.lr_backbone if cfg.lr_decoder is None else cfg.lr_decoder
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner = name.rsplit(".", 1)[0]
        is_new = (
            kind == "random"
            or not name.startswith("bart.")
            or (kind == "bert" and (".encoder_attn." in name or ".encoder_attn_layer_norm." in name))
        )
        no_decay = name.endswith(".bias") or owner in norm_names
        lr = cfg.lr_new if is_new else lr_decoder if name.startswith("bart.decoder.") else cfg.lr_backbone
        groups.setdefault((lr, no_decay), []).append(p)
    return [
        {"params": ps, "lr": lr, "weight_decay": 0.0 if no_decay else cfg.weight_decay}
        for (lr, no_decay), ps in sorted(groups.items())
    ]


def make_optimizer(model: PointerNER, cfg: TrainingConfig) -> torch.optim.AdamW:
    """AdamW over `parameter_groups`, fused (one kernel over all parameters) where PyTorch has the fused kernel
    for the parameters' device: on a CPU it takes about 30 ms a step on MiniLM against 150-190 ms for the
    per-parameter loop that is PyTorch's CPU default. The state (fp32 moments) and its checkpoint are the same."""
    groups = parameter_groups(model, cfg)
    try:
        return torch.optim.AdamW(groups, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(parameter_groups(model, cfg))


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def _optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_files(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in list(tensors.items()) + list(meta["scalars"].items()):
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


class Trainer:
    """Fits a Tagger's model on sentences, keeping the best epoch by dev F1 in `out_dir/model`."""

    def __init__(self, tagger: Tagger, config: TrainingConfig, out_dir: str | Path) -> None:
        self.tagger = tagger
        self.cfg = config
        self.out = Path(out_dir)
        self.dp = DataParallel.from_env(config.resolve_device())
        self.device = self.dp.device(config.resolve_device())
        self.model = tagger.model.to(self.device)
        self.step_model = self.dp.wrap(self.model)  # DDP under torchrun; save and evaluate self.model
        self.amp_dtype = precision.amp_dtype(config.mixed_precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        tagger.mixed_precision = config.mixed_precision  # dev evaluation decodes alike

    def _check(self, sentences: Sequence[Sentence]) -> None:
        types = set(self.tagger.vocab.types)
        for i, s in enumerate(sentences):
            for e in s.entities:
                if e.type not in types:
                    raise TrainingError(
                        f"training sentence {s.id or i}: entity type {e.type!r} is not one of the model's {sorted(types)}"
                    )

    def _batches(self, sentences: Sequence[Sentence], epoch: int) -> list[list[Sentence]]:
        """This process's share of each global batch (all of it on one process), seeded per epoch; bucketed by
        length in words when `bucket_batches` is set (the same batches on every resume)."""
        lengths = [len(s.tokens) for s in sentences] if self.cfg.bucket_batches else None
        return self.dp.batches(sentences, self.cfg.batch_size, self.cfg.seed, epoch, lengths, self.cfg.bucket_batches)

    def _step(self, batch: list[Sentence], opt, sched) -> dict[str, float]:
        b = encode_sentences(batch, self.tagger.encoder, self.tagger.vocab).to(self.device)
        with precision.autocast(self.device, self.amp_dtype):
            out = self.step_model(**b.model_inputs())
        self.scaler.scale(out.loss).backward()
        self.scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.scaler.step(opt)
        self.scaler.update()
        opt.zero_grad(set_to_none=True)
        sched.step()
        losses = {"loss": float(out.loss.detach()), "entity_loss": float(out.entity_loss.detach())}
        if out.relation_loss is not None:
            losses["relation_loss"] = float(out.relation_loss.detach())
        return self.dp.weighted_mean(losses, len(batch))

    def _save_checkpoint(self, opt, sched, state: dict[str, Any]) -> None:
        tensors, meta = _optimizer_to_files(opt)
        with persistence.atomic_dir(self.out / CHECKPOINT) as tmp:
            persistence.write_model_folder(tmp, self.model, self.tagger.tokenizer)
            save_file(tensors, str(tmp / OPTIMIZER))
            (tmp / STATE).write_text(json.dumps({**state, "optimizer": meta, "scheduler": sched.state_dict()}, default=str))

    def _resume(self, opt, sched) -> dict[str, Any] | None:
        ck = self.out / CHECKPOINT
        if self.dp.is_main:
            persistence.recover(ck)
            persistence.recover(self.out / BEST)
        self.dp.barrier()
        if not (ck / STATE).is_file():
            return None
        self.model.load_state_dict(Tagger.load(ck, device=self.device).model.state_dict())
        state = json.loads((ck / STATE).read_text())
        # loaded on CPU: the optimizer moves its state to each parameter's device itself (and keeps `step` on CPU)
        _optimizer_from_files(opt, load_file(str(ck / OPTIMIZER), device="cpu"), state.pop("optimizer"))
        sched.load_state_dict(state.pop("scheduler"))
        return state

    def fit(
        self,
        train: Sequence[Sentence],
        dev: Sequence[Sentence] | None = None,
        resume: bool = True,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
    ) -> TrainResult:
        if not train:
            raise TrainingError("no training sentences")
        done = finished(self.out, self.cfg.epochs) if resume else None
        if done is not None:
            return done
        self._check(train)
        if self.model.config.entity_structure is None:  # decoding keeps to what the training data holds
            self.model.config.entity_structure = entity_structure(train)
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        opt = make_optimizer(self.model, cfg)
        steps = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
        sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup * steps), steps)
        state = self._resume(opt, sched) if resume else None
        state = state or {"epoch": -1, "best_epoch": -1, "best_f1": None, "history": []}
        for epoch in range(state["epoch"] + 1, cfg.epochs):
            torch.manual_seed(cfg.seed * 1000 + epoch)
            self.step_model.train()
            sums: dict[str, float] = {}
            bar = tqdm(self._batches(train, epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress, leave=False)
            for n, batch in enumerate(bar, 1):
                for k, v in self._step(batch, opt, sched).items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{sums['loss'] / n:.4f}")
            record: dict[str, Any] = {"epoch": epoch, **{k: v / n for k, v in sums.items()}}
            if dev and self.dp.is_main:
                scores = self.tagger.evaluate(dev, cfg.eval_batch_size, cfg.num_beams)
                record.update({"dev_p": scores["p"], "dev_r": scores["r"], "dev_f1": scores["f1"], "dropped": scores["dropped"]})
            improved = not dev or state["best_f1"] is None or record.get("dev_f1", -1.0) > state["best_f1"]
            if improved and self.dp.is_main:
                state["best_epoch"], state["best_f1"] = epoch, record.get("dev_f1")
                self.tagger.save(self.out / BEST)
            state["epoch"] = epoch
            state["history"].append(record)
            if self.dp.is_main:
                self._save_checkpoint(opt, sched, state)
                write_json_atomic(self.out / HISTORY, {"config": cfg.model_dump(), **{k: state[k] for k in ("best_epoch", "best_f1", "history")}})
                if on_epoch is not None:
                    on_epoch(record)
            self.dp.barrier()
        if self.dp.is_main:
            self._finish(state)
        return TrainResult(state["best_epoch"], state["best_f1"], state["history"], self.out / BEST)

    def _finish(self, state: dict[str, Any]) -> None:
        """Mark the run finished in history.json, then drop the checkpoint (its optimizer state is only for
        resuming) unless `keep_checkpoint`."""
        write_json_atomic(self.out / HISTORY, {"config": self.cfg.model_dump(), "finished": True,
                                               **{k: state[k] for k in ("best_epoch", "best_f1", "history")}})
        if not self.cfg.keep_checkpoint:
            shutil.rmtree(self.out / CHECKPOINT, ignore_errors=True)


def finished(out_dir: str | Path, epochs: int | None = None) -> TrainResult | None:
    """The result of a run that already finished in `out_dir` with at least `epochs` epochs (history.json says
    so), else None: resuming a finished run returns it instead of training again. Asking a finished run for more
    epochs needs its checkpoint (kept with keep_checkpoint)."""
    out = Path(out_dir)
    try:
        history = json.loads((out / HISTORY).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(history, dict) or not history.get("finished") or not (out / BEST).is_dir():
        return None
    if epochs is not None and len(history["history"]) < epochs:
        if (out / CHECKPOINT / STATE).is_file():
            return None
        raise TrainingError(f"{out} finished after {len(history['history'])} epochs and its checkpoint was removed, "
                            f"so it cannot continue to {epochs}: train anew, with --keep-checkpoint to extend later")
    return TrainResult(history["best_epoch"], history["best_f1"], history["history"], out / BEST)


def train(
    train_sentences: Sequence[Sentence],
    dev_sentences: Sequence[Sentence] | None,
    backbone: str | Path,
    out_dir: str | Path,
    config: TrainingConfig | None = None,
    entity_types: Sequence[str] | None = None,
    resume: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    **model_config: Any,
) -> TrainResult:
    """Build a model on `backbone` (or continue the checkpoint in `out_dir`) and train it."""
    cfg = config or TrainingConfig.load(backbone=str(backbone))
    types = list(entity_types or sorted({e.type for s in train_sentences for e in s.entities}))
    if not types:
        raise TrainingError("the training sentences have no entities, so there is no entity type to learn")
    done = finished(out_dir, cfg.epochs) if resume else None
    if done is not None:
        return done
    ck = Path(out_dir) / CHECKPOINT
    dp = DataParallel.from_env(cfg.resolve_device())
    if resume and dp.is_main:
        persistence.recover(ck)
    dp.barrier()
    if resume and (ck / STATE).is_file():
        tagger = Tagger.load(ck, device="cpu")
    else:
        tagger = Tagger.from_backbone(backbone, types, cfg.seed, **model_config)
    return Trainer(tagger, cfg, out_dir).fit(train_sentences, dev_sentences, resume=resume, on_epoch=on_epoch)
