"""The onnxruntime embedding backend: the PyTorch model's vectors, in the names' order, from a graph exported once."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from typeprior.kb import onnx_encoder
from typeprior.kb.embeddings import Encoder, default_model_path, resolve_backend
from typeprior.kb.errors import EmbeddingModelError
from typeprior.kb.settings import load_settings

pytestmark = pytest.mark.skipif(not onnx_encoder.available(), reason="onnxruntime is not installed")

NAMES = ["Paris", "International Business Machines Corporation", "Bayern München", "AC/DC", "x",
         "Ludwig " * 40 + "van Beethoven", "United Nations Educational, Scientific and Cultural Organization",
         "Paris", "Étienne-Jules Marey", "3M"]


@pytest.fixture(scope="module")
def encoders() -> tuple[Encoder, Encoder]:
    return (Encoder.load(default_model_path(), batch_size=4, backend="torch"),
            Encoder.load(default_model_path(), batch_size=4, backend="onnx"))


def test_onnx_gives_the_torch_vectors_in_order(encoders: tuple[Encoder, Encoder]) -> None:
    torch_enc, onnx_enc = encoders
    expected, got = torch_enc.encode(NAMES), onnx_enc.encode(NAMES)
    assert got.shape == expected.shape == (len(NAMES), 384) and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-5  # a 41-token name is cut at max_seq_length 32 in both
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(got[0], got[7])
    assert onnx_enc.encode([]).shape == (0, 384)


def test_without_normalize_the_models_own_modules_still_run() -> None:
    """all-MiniLM-L6-v2 ends in its own Normalize module: both backends run it, whatever `normalize` says."""
    a = Encoder.load(default_model_path(), normalize=False, backend="torch").encode(NAMES[:3])
    b = Encoder.load(default_model_path(), normalize=False, backend="onnx").encode(NAMES[:3])
    assert np.abs(a - b).max() < 1e-5


def test_the_graph_is_exported_once_and_written_aside(encoders: tuple[Encoder, Encoder]) -> None:
    _, onnx_enc = encoders
    onnx_enc.encode(NAMES[:2])
    path = onnx_encoder.graph_path(onnx_enc.model_id)
    assert path.is_file() and path.parent == Path(os.environ["TYPEPRIOR_ONNX_CACHE"])
    assert not list(path.parent.glob("*.tmp"))
    mtime = path.stat().st_mtime_ns
    again = Encoder.load(default_model_path(), backend="onnx")
    again.encode(NAMES[:2])
    assert path.stat().st_mtime_ns == mtime


def test_auto_is_the_default_and_picks_onnx_on_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings()["embedding"]["backend"] == "auto"
    assert resolve_backend("auto", "cpu") == "onnx"
    assert resolve_backend("auto", "cuda") == "torch"
    assert Encoder.from_settings(None, load_settings()["embedding"]).backend == "onnx"
    monkeypatch.setattr(onnx_encoder, "available", lambda: False)
    assert resolve_backend("auto", "cpu") == "torch"
    with pytest.raises(EmbeddingModelError, match="needs onnxruntime and onnx"):
        resolve_backend("onnx", "cpu")


def test_bad_backends_are_refused_in_one_line() -> None:
    with pytest.raises(EmbeddingModelError, match="'tensorrt' is not one of auto, torch, onnx") as err:
        resolve_backend("tensorrt", "cpu")
    assert "\n" not in str(err.value)
    with pytest.raises(EmbeddingModelError, match="CPU only"):
        resolve_backend("onnx", "cuda")
    with pytest.raises(EmbeddingModelError, match="embedding.backend 'gpu'"):
        Encoder.from_settings(None, load_settings(overrides={"embedding": {"backend": "gpu"}})["embedding"])


def test_a_failed_export_names_the_model_and_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("TYPEPRIOR_ONNX_CACHE", str(tmp_path / "a-file" / "onnx"))
    encoder = Encoder.load(default_model_path(), backend="onnx")
    with pytest.raises(EmbeddingModelError, match=r"ONNX export failed \(\w+Error: .*\); set embedding.backend: torch"):
        encoder.encode(["Paris"])


def test_a_rebuild_keeps_its_hash_across_backends(tmp_path: Path, warehouse_path: Path,
                                                  encoders: tuple[Encoder, Encoder]) -> None:
    """Cached names keep their first vectors, so switching the backend does not make a rebuild look changed."""
    from fake_mediawiki import FIXTURE_PAGES, FakeWiki, write_xml_export
    from typeprior.kb.build import plan_build, run_build

    scheme = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"
    dump = write_xml_export(FakeWiki.from_dirs(FIXTURE_PAGES), tmp_path / "dump.xml")
    torch_enc, onnx_enc = encoders
    first = run_build(warehouse_path, plan_build(str(scheme), [f"dump:{dump}"]), torch_enc, progress=False)
    again = run_build(warehouse_path, plan_build(str(scheme), [f"dump:{dump}"]), onnx_enc, progress=False)
    assert first.embedded == 10 and again.embedded == 0
    assert again.content_hash == first.content_hash
    fresh = run_build(tmp_path / "fresh.duckdb", plan_build(str(scheme), [f"dump:{dump}"]), onnx_enc, progress=False)
    assert fresh.embedded == 10


def test_threads_sharing_a_fresh_encoder_export_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow embeds batches in a thread pool: concurrent first calls must not run torch.onnx.export together."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("TYPEPRIOR_ONNX_CACHE", str(tmp_path))
    encoder = Encoder.load(default_model_path(), backend="onnx")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(encoder.encode, [NAMES[i:i + 3] for i in range(0, 8, 2)]))
    assert [r.shape for r in results] == [(3, 384)] * 4
    assert len(list(tmp_path.glob("*.onnx"))) == 1 and not list(tmp_path.glob("*.tmp"))
