"""The model folder on disk: written aside and renamed into place, and checked before it is read.

A model folder holds config.json, model.safetensors (knowledge-base E_T included: it is a buffer of the
type-attention variants) and the tokenizer files. Models are built and loaded one way each, by
`Tagger.from_backbone` and `Tagger.load` (model/predict.py); this module only writes and checks the files.
Loading never unpickles: a folder with only a pickled checkpoint (pytorch_model.bin, *.pt) is refused. A crash
never leaves a half-written model where a good one was.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from safetensors.torch import save_model
from transformers import PreTrainedTokenizerBase

from typeprior.errors import TypePriorError

from .generator import PointerNER

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
PICKLES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "checkpoint.pt", "training_args.bin")


class ModelFolderError(TypePriorError, ValueError):
    """A model folder is missing, incomplete, or holds weights in a format we refuse to load."""


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


def write_model_folder(folder: Path, model: PointerNER, tokenizer: PreTrainedTokenizerBase) -> None:
    """Write the model's files into an existing folder (no atomicity; see `save`)."""
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(folder)
    save_model(model, str(folder / WEIGHTS), metadata={"format": "pt"})
    tokenizer.save_pretrained(str(folder))


def save(model: PointerNER, tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> Path:
    """Save atomically: written aside, then renamed over `folder`."""
    with atomic_dir(folder) as tmp:
        write_model_folder(tmp, model, tokenizer)
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
