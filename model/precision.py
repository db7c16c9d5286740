"""Mixed precision: which autocast dtype a `mixed_precision` setting means on a device, and the context for it.

One setting for training and decoding (model/training.yaml `mixed_precision`):

- `auto` (default): bf16 autocast on a CUDA GPU with bf16 (fp16 with loss scaling on older GPUs); float32 on a
  CPU. bf16 on the CPU is opt-in because it lost an A/B: 30 epochs of the full variant on 40 sentences collapsed to
  F1 0.0 under CPU bf16 where float32 reached 0.90 (BENCHMARKS.md, "The MiniLM recipe").
- `bf16`: bf16 autocast on CUDA or on a CPU with native bf16 arithmetic (x86 AVX512-BF16 or AMX, Arm BF16);
  float32 (with a warning) where it is not supported.
- `fp16`: fp16 autocast with loss scaling, CUDA only; float32 (with a warning) elsewhere.
- `off`: float32 everywhere. `true` / `false` (the old boolean setting) read as `auto` / `off`.

Autocast runs the matrix products in the low precision while the weights, their gradients and the optimizer
state stay float32; the pointer softmax (PointerNER.score), the entity cross-entropy and the relation focal
loss are computed in float32 inside it.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import platform
from pathlib import Path
from typing import Iterator

import torch

log = logging.getLogger(__name__)
MODES = ("auto", "bf16", "fp16", "off")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # /proc/cpuinfo flags (x86; "bf16" on aarch64)


class PrecisionError(ValueError):
    """A mixed_precision setting that is none of MODES."""


def normalise(setting: str | bool | None) -> str:
    """The mode a setting names: MODES, with true/false/None read as auto/off/off."""
    if setting is True:
        return "auto"
    if setting is False or setting is None:
        return "off"
    mode = str(setting).strip().lower()
    mode = {"true": "auto", "false": "off", "none": "off", "bfloat16": "bf16", "float16": "fp16", "fp32": "off"}.get(mode, mode)
    if mode not in MODES:
        raise PrecisionError(f"mixed_precision {setting!r}: expected one of {', '.join(MODES)}")
    return mode


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_supported() -> bool:
    """True when this CPU computes bf16 natively and PyTorch's oneDNN uses it (else bf16 would be emulated, slowly)."""
    try:
        onednn = torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    native = bool(cpu_flags() & set(NATIVE_BF16_FLAGS)) or platform.system() == "Darwin" and platform.machine() == "arm64"
    return onednn and native


def cuda_bf16_supported() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def amp_dtype(setting: str | bool | None, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype of `setting` on `device`, or None for float32."""
    mode = normalise(setting)
    kind = torch.device(device).type
    if mode == "off":
        return None
    if kind == "cuda":
        if mode in ("auto", "bf16") and cuda_bf16_supported():
            return torch.bfloat16
        if mode in ("auto", "fp16"):
            return torch.float16
    elif kind == "cpu" and mode == "bf16" and cpu_bf16_supported():
        return torch.bfloat16
    if mode != "auto":
        log.warning("mixed_precision %s is not supported on %s: computing in float32", mode, kind)
    return None


@contextlib.contextmanager
def autocast(device: torch.device | str, dtype: torch.dtype | None) -> Iterator[None]:
    """torch.autocast in `dtype` on `device`, or nothing at all when dtype is None."""
    if dtype is None:
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=dtype):
        yield
