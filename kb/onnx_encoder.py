"""The sentence-transformers model's transformer run by onnxruntime: the same vectors, about twice as fast on a CPU.

Entity names are a few tokens long, so PyTorch spends most of an embedding batch on per-operator overhead that
onnxruntime's fused graph avoids. Only the transformer is exported; pooling and normalisation stay the model's own
sentence-transformers modules, so the vectors are the model's (equal to the PyTorch ones within float rounding,
tests/test_kb_onnx.py). The exported graph is cached once per model id and written aside, then renamed.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import EmbeddingModelError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# torch.onnx.export keeps global state, so the flow's embedding threads export one at a time (and then share it).
LOCK = threading.RLock()


def available() -> bool:
    """True when onnxruntime (to run the graph) and onnx (to export it) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    """Where exported graphs live: $TYPEPRIOR_ONNX_CACHE, else $XDG_CACHE_HOME (or ~/.cache)/typeprior/onnx."""
    if os.environ.get("TYPEPRIOR_ONNX_CACHE"):
        return Path(os.environ["TYPEPRIOR_ONNX_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "typeprior" / "onnx"


def graph_path(model_id: str) -> Path:
    return cache_dir() / (re.sub(r"[^A-Za-z0-9_.@-]+", "_", model_id) + ".onnx")


class _Positional(torch.nn.Module):
    """The first sentence-transformers module's model, taking the tokenizer's inputs positionally for export."""

    def __init__(self, auto_model: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = auto_model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs))).last_hidden_state


def export(st_model: Any, path: Path) -> None:
    """Export the transformer of `st_model` to `path` with batch and length as dynamic axes."""
    features = (getattr(st_model, "preprocess", None) or st_model.tokenize)(["an entity", "another entity name"])
    names = tuple(k for k in INPUTS if k in features)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Positional(st_model[0].auto_model, names).eval(), tuple(features[k] for k in names), tmp,
                              input_names=list(names), output_names=["token_embeddings"],
                              dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in names},
                                            "token_embeddings": {0: "batch", 1: "tokens"}},
                              opset_version=17, dynamo=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class OnnxEncoder:
    """Encodes names as `SentenceTransformer.encode` does, with the transformer run by onnxruntime."""

    def __init__(self, st_model: Any, model_id: str, threads: int) -> None:
        import onnxruntime as ort

        path = graph_path(model_id)
        with LOCK:
            if not path.is_file():
                try:
                    export(st_model, path)
                except Exception as err:
                    raise EmbeddingModelError(f"embedding model {model_id}: ONNX export failed "
                                              f"({type(err).__name__}: {err}); set embedding.backend: torch") from err
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.st_model = st_model

    def encode(self, names: list[str], batch_size: int, normalize: bool) -> np.ndarray:
        """Vectors of `names` in their order. Batches are cut from the names sorted by token count (less padding)."""
        if not names:
            return np.zeros((0, 0), dtype=np.float32)
        preprocess = getattr(self.st_model, "preprocess", None) or self.st_model.tokenize
        features = preprocess(names)
        lengths = features["attention_mask"].sum(1).numpy()
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), max(1, batch_size)):
            idx = order[start:start + batch_size]
            width = int(lengths[idx].max())
            batch = {k: features[k][idx, :width] for k in self.inputs}
            hidden = self.session.run(None, {k: v.numpy().astype(np.int64) for k, v in batch.items()})[0]
            pooled = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": batch["attention_mask"]}
            with torch.no_grad():
                for module in list(self.st_model)[1:]:
                    pooled = module(pooled)
            vectors = pooled["sentence_embedding"]
            if normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
            if out is None:
                out = np.zeros((len(names), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors.numpy()
        assert out is not None
        return out
