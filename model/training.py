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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import yaml
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

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


class TrainingError(ValueError):
    """Bad training input or configuration; the message says which and why."""


@dataclass
class TrainingConfig:
    """Optimisation settings; defaults come from model/training.yaml."""

    epochs: int = 30
    batch_size: int = 16
    eval_batch_size: int = 32
    lr_backbone: float = 1e-5
    lr_new: float = 5e-5
    lr_decoder: float | None = None
    weight_decay: float = 0.01
    warmup: float = 0.01
    max_grad_norm: float = 5.0
    seed: int = 42
    num_beams: int | None = None
    device: str = "auto"
    mixed_precision: str | bool = "auto"
    bucket_batches: int = 64
    progress: bool = True

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> "TrainingConfig":
        """Defaults from YAML (the packaged file unless `path`), then keyword overrides (None = keep)."""
        path = Path(path) if path is not None else DEFAULTS
        data = yaml.safe_load(path.read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TrainingError(f"{path}: unknown training settings {sorted(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(data) - known
        if unknown:
            raise TrainingError(f"unknown training settings {sorted(unknown)}")
        cfg = cls(**data)
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise TrainingError(f"epochs and batch_size must be positive (got {cfg.epochs}, {cfg.batch_size})")
        try:
            precision.normalise(cfg.mixed_precision)
        except precision.PrecisionError as err:
            raise TrainingError(str(err)) from err
        if cfg.bucket_batches < 0:
            raise TrainingError(f"bucket_batches must be 0 (off) or a positive number of batches (got {cfg.bucket_batches})")
        return cfg

    def resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


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
            persistence.write_model_folder(tmp, self.model, self.tagger.tokenizer, self.tagger.priors)
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
        model, _, _ = persistence.load(ck, device=self.device)
        self.model.load_state_dict(model.state_dict())
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
                write_json_atomic(self.out / HISTORY, {"config": asdict(cfg), **{k: state[k] for k in ("best_epoch", "best_f1", "history")}})
                if on_epoch is not None:
                    on_epoch(record)
            self.dp.barrier()
        return TrainResult(state["best_epoch"], state["best_f1"], state["history"], self.out / BEST)


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
    cfg = config or TrainingConfig.load()
    types = list(entity_types or sorted({e.type for s in train_sentences for e in s.entities}))
    if not types:
        raise TrainingError("the training sentences have no entities, so there is no entity type to learn")
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
