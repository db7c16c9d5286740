"""Build a model from a backbone, and save / load it as a Hugging Face-style folder.

A model folder holds config.json, model.safetensors, the tokenizer files and, when the model used
knowledge-base type priors, type_priors.safetensors. Loading never unpickles: a folder with only a
pickled checkpoint (pytorch_model.bin, *.pt) is refused. Folders are written beside the target and
renamed into place, so a crash never leaves a half-written model where a good one was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from transformers import PreTrainedTokenizerBase

from typeprior.errors import TypePriorError

from .backbone import load_backbone, load_tokenizer
from .config import TypePriorConfig
from .generator import PointerNER, model_class
from .tokenizer_files import tokenizer_problem

WEIGHTS = "model.safetensors"
PRIORS = "type_priors.safetensors"
CONFIG = "config.json"
PICKLES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "checkpoint.pt", "training_args.bin")


class ModelFolderError(TypePriorError, ValueError):
    """A model folder is missing, incomplete, or holds weights in a format we refuse to load."""


def build_model(
    backbone: str | Path,
    entity_types: Sequence[str],
    seed: int = 0,
    type_vectors: torch.Tensor | None = None,
    **config: object,
) -> tuple[PointerNER, PreTrainedTokenizerBase]:
    """A fresh pointer model on a backbone (`minilm`, `tiny-random`, or a BART/BERT checkpoint).

    Every part not read from a checkpoint (the new parts; cross-attention of a converted BERT) is
    initialised from `seed`, whatever the global random state. `config` takes TypePriorConfig fields
    (`variant`, `w` or `relation_weight`, `priors_build`, ...). `type_vectors` ([C, 384], rows in
    entity_types order) become E_T of a variant with entity type attention; other variants ignore them.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        bb = load_backbone(backbone)
    cfg = TypePriorConfig(
        bart=bb.model.config,
        backbone=str(backbone),
        backbone_kind=bb.kind,
        entity_types=list(entity_types),
        layer_norm_eps=bb.layer_norm_eps,
        max_source_length=min(int(bb.model.config.max_position_embeddings), 512),
        **config,
    )
    cfg.type_priors_from_kb = bool(cfg.type_attention and type_vectors is not None)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = model_class(cfg.variant)(cfg)
    model.bart.load_state_dict(bb.model.state_dict())
    model.init_type_embeddings_from_names(bb.tokenizer)
    if cfg.type_priors_from_kb:
        model.set_type_priors(type_vectors)
    return model, bb.tokenizer


def _aside(target: Path, kind: str) -> list[Path]:
    if not target.parent.is_dir():
        return []
    prefix = f".{target.name}."
    return [
        p for p in target.parent.iterdir()
        if p.name.startswith(prefix) and p.is_dir() and (p.name[len(prefix):].startswith("old-") if kind == "old"
                                                         else p.name.endswith(".tmp"))
    ]


def recover(target: str | Path) -> Path | None:
    """Undo what a kill inside `atomic_dir` left behind; returns the folder put back, if any.

    atomic_dir moves the old folder aside (`.{name}.old-PID`) before renaming the new one in: a kill in between
    leaves no `target`. Then the newest folder moved aside is renamed back (the last complete one). Leftover
    `.{name}.*.tmp` folders (killed mid-write) are deleted. Call it only where no other writer of `target` runs.
    """
    target = Path(target)
    restored = None
    old = sorted(_aside(target, "old"), key=lambda p: p.stat().st_mtime)
    if not target.exists() and old:
        restored = old.pop()
        os.replace(restored, target)
    for leftover in old + _aside(target, "tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    return target if restored is not None else None


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a fresh folder beside `target`; on success it replaces `target` by rename.

    Leftovers of an earlier killed write are cleaned up first (`recover`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_model_folder(
    folder: Path,
    model: PointerNER,
    tokenizer: PreTrainedTokenizerBase,
    priors: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write the model's files into an existing folder (no atomicity; see `save`)."""
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(folder)
    save_model(model, str(folder / WEIGHTS), metadata={"format": "pt"})
    tokenizer.save_pretrained(str(folder))
    if priors:
        save_file({k: v.detach().cpu().contiguous() for k, v in priors.items()}, str(folder / PRIORS))


def save(
    model: PointerNER,
    tokenizer: PreTrainedTokenizerBase,
    folder: str | Path,
    priors: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Save atomically: written aside, then renamed over `folder`."""
    with atomic_dir(folder) as tmp:
        write_model_folder(tmp, model, tokenizer, priors)
    return Path(folder)


def check_folder(folder: str | Path) -> Path:
    """The folder, once it holds config.json and safetensors weights (restored first if a kill left it aside)."""
    folder = Path(folder)
    if not folder.exists():
        recover(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist")
    if not (folder / WEIGHTS).is_file():
        pickles = [p.name for p in folder.iterdir() if p.name in PICKLES or p.suffix in (".bin", ".pt", ".pth", ".pkl")]
        if pickles:
            raise ModelFolderError(
                f"model folder {folder} holds pickled weights ({', '.join(sorted(pickles))}) and no {WEIGHTS}; "
                "pickles are never loaded (they can run code): convert them to safetensors first"
            )
        raise ModelFolderError(f"model folder {folder} has no {WEIGHTS}")
    if not (folder / CONFIG).is_file():
        raise ModelFolderError(f"model folder {folder} has no {CONFIG}")
    return folder


def load(
    folder: str | Path, device: str | torch.device = "cpu"
) -> tuple[PointerNER, PreTrainedTokenizerBase, dict[str, torch.Tensor]]:
    """Model, tokenizer and type priors from a folder written by `save` (safetensors only)."""
    folder = check_folder(folder)
    if (problem := tokenizer_problem(folder)) is not None:
        raise ModelFolderError(problem)
    try:
        config = TypePriorConfig.from_pretrained(str(folder))
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelFolderError(f"{folder / CONFIG} is not a valid typeprior model config: {detail}") from None
    if config.model_type != TypePriorConfig.model_type:
        raise ModelFolderError(f"model folder {folder} is a {config.model_type!r} model, not {TypePriorConfig.model_type!r}")
    model = model_class(config.variant)(config)
    weights = folder / WEIGHTS
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ModelFolderError(f"{weights} is not a readable safetensors file for this model ({err})") from err
    if missing or unexpected:
        raise ModelFolderError(
            f"model folder {folder}: weights do not match its config (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(folder)
    priors: dict[str, torch.Tensor] = {}
    if (folder / PRIORS).is_file():
        try:
            priors = load_file(str(folder / PRIORS), device=str(device))
        except (SafetensorError, OSError) as err:
            raise ModelFolderError(f"{folder / PRIORS} is not a readable safetensors file ({err})") from err
    return model, tokenizer, priors
