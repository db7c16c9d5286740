"""Shared test set-up: offline, private Prefect home, one torch thread, the shared data folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="typeprior-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # a loaded 2-core machine starts it slowly
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["TYPEPRIOR_ONNX_CACHE"] = tempfile.mkdtemp(prefix="typeprior-onnx-")  # exported once per test session

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TYPEPRIOR_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _torch_threads() -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


_torch_threads()


@pytest.fixture
def shared_data() -> Path:
    """The real corpora in ../shared/data; the test skips when the folder is absent (a fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"
