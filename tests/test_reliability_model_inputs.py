"""Reliability of prediction and model folders under odd input: empty and blank text, a 5,000-word sentence,
control characters, emoji and mixed scripts, an empty batch; safetensors-only loading.

A tiny random model is enough: what is checked is that every input gives a well-formed answer (entities inside the
sentence, offsets inside the text), not what the entities are.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from typeprior.model.persistence import ModelFolderError, atomic_dir, check_folder
from typeprior.model.predict import Tagger

TYPES = ["LOC", "PER"]
LONG_WORDS = 5000

ODD_TEXTS = {
    "empty": "",
    "spaces": "   ",
    "whitespace mix": " \t\n\r\u00a0\u2003\u3000 ",
    "control characters": "Paris\x00 is\x07 in\x1b France\x7f.",
    "zero-width": "Ber\u200blin and \ufeffMadrid",
    "emoji": "I ❤️ New York 🗽🇺🇸 and 👩‍👩‍👧 Paris",
    "mixed scripts": "Путин met 習近平 in دبي and München, Ελλάδα.",
    "combining marks": "Zoe\u0301 and Ame\u0301lie went to Sa\u0303o Paulo",
    "right-to-left": "שלום עולם مرحبا بالعالم",
    "lone surrogate-free oddities": "\ufffd\ufffe x \U0010ffff y",
    "punctuation only": "!?.,;:()[]{}",
    "one long token": "a" * 3000,
}


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.from_backbone("tiny-random", TYPES, seed=0)


def assert_text_result(text: str, result: dict) -> None:
    assert result["text"] == text
    for e in result["entities"]:
        assert e["type"] in TYPES
        assert 0 <= e["start"] < e["end"] <= len(text)
        for s, t in e["spans"]:
            assert 0 <= s < t <= len(text)
        assert all(0 <= i < len(result["tokens"]) for i in e["indices"])


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_odd_texts_give_well_formed_answers(tagger: Tagger, name: str) -> None:
    text = ODD_TEXTS[name]
    started = time.monotonic()
    result = tagger.predict(text)
    assert time.monotonic() - started < 30
    assert_text_result(text, result)
    if not text.strip():
        assert result["tokens"] == [] and result["entities"] == []


def test_a_batch_of_odd_texts_keeps_order_and_length(tagger: Tagger) -> None:
    texts = list(ODD_TEXTS.values())
    results = tagger.predict(texts, batch_size=4)
    assert len(results) == len(texts)
    for text, result in zip(texts, results):
        assert_text_result(text, result)


@pytest.mark.parametrize("batch", [[], [[]], [[], ["Paris"], []], [["", " ", "\x00"]], [["😀"] * 3]])
def test_token_lists_including_empty_ones(tagger: Tagger, batch: list[list[str]]) -> None:
    results = tagger.predict(batch) if batch else tagger.predict_tokens(batch).entities
    assert len(results) == len(batch)
    for tokens, result in zip(batch, results):
        assert result["tokens"] == tokens
        assert all(0 <= i < len(tokens) for e in result["entities"] for i in e["indices"])


def test_an_empty_batch_is_an_empty_answer(tagger: Tagger) -> None:
    assert tagger.predict([]) == []
    assert tagger.predict_tokens([]).entities == []


def test_a_5000_word_sentence_is_answered_with_a_warning_not_a_crash(tagger: Tagger, caplog) -> None:
    """Longer than the encoder's 512 positions: it must be chunked or truncated, and the user told."""
    words = [("Paris" if i % 7 == 0 else "word") for i in range(LONG_WORDS)]
    text = " ".join(words)
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        result = tagger.predict(text)
    elapsed = time.monotonic() - started
    assert_text_result(text, result)
    assert len(result["tokens"]) == LONG_WORDS
    assert elapsed < 60, f"a 5,000-word sentence took {elapsed:.0f} s"
    told = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("trunc" in m.lower() or "chunk" in m.lower() or "long" in m.lower() for m in told), (
        f"no warning that the sentence was cut; warnings seen: {told}"
    )


# ---- model folders: safetensors only, written atomically -----------------------------------------------------


class _Bomb:
    """Unpickling this writes a marker file: proof that a loader ran pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def _pickle_folder(tmp_path: Path, tagger: Tagger, name: str) -> tuple[Path, Path]:
    folder = tmp_path / "model"
    tagger.save(folder)
    marker = tmp_path / "UNPICKLED"
    (folder / "model.safetensors").unlink()
    with (folder / name).open("wb") as f:
        pickle.dump({"state": _Bomb(marker)}, f)
    return folder, marker


def load_error(folder: Path) -> BaseException | None:
    try:
        Tagger.load(folder, device="cpu")
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        return exc
    return None


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "checkpoint.pth", "weights.pkl"])
def test_a_folder_holding_a_pickle_is_refused_without_unpickling(tagger: Tagger, tmp_path: Path, name: str) -> None:
    folder, marker = _pickle_folder(tmp_path, tagger, name)
    with pytest.raises(ModelFolderError, match="pickle"):
        Tagger.load(folder, device="cpu")
    assert not marker.exists()


def test_a_pickle_named_model_safetensors_is_refused_clearly(tagger: Tagger, tmp_path: Path) -> None:
    folder, marker = _pickle_folder(tmp_path, tagger, "pytorch_model.bin")
    (folder / "pytorch_model.bin").rename(folder / "model.safetensors")
    error = load_error(folder)
    assert not marker.exists(), "the pickle was unpickled"
    assert isinstance(error, ModelFolderError) and "model.safetensors" in str(error), repr(error)


def test_truncated_safetensors_is_refused_clearly(tagger: Tagger, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    tagger.save(folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    error = load_error(folder)
    assert isinstance(error, ModelFolderError) and "model.safetensors" in str(error), repr(error)


def test_no_product_code_unpickles() -> None:
    """torch.load and pickle.load run code from the file: the product must not call them (weights_only aside)."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for package in ("model", "flows", "kb", "warehouse"):
        for path in sorted((root / package).rglob("*.py")):
            for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#")[0]
                if ("pickle.load" in code or "torch.load(" in code and "weights_only=True" not in code
                        or "dill." in code or "joblib.load" in code):
                    offenders.append(f"{path.relative_to(root)}:{k}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_a_failed_save_leaves_the_previous_model_in_place(tagger: Tagger, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    tagger.save(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_dir(folder) as tmp:
            (tmp / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("disk full")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "a temporary folder was left behind"
    check_folder(folder)
    assert Tagger.load(folder, device="cpu").predict("Paris")["text"] == "Paris"


LONG_SENTENCE_CHILD = r"""
import json, logging, os, resource, sys, time
sys.path.insert(0, os.environ["TYPEPRIOR_ROOT"])
torch.set_num_threads(1)
from typeprior.model.predict import Tagger
messages = []
class Keep(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())
logging.getLogger().addHandler(Keep(level=logging.WARNING))
tagger = Tagger.from_backbone("minilm", ["LOC", "PER"], seed=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
text = " ".join(("Paris" if i % 7 == 0 else "word") for i in range(int(sys.argv[1])))
started = time.monotonic()
result = tagger.predict(text)
print(json.dumps({"seconds": time.monotonic() - started, "tokens": len(result["tokens"]),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "warnings": messages}))
"""


@pytest.mark.slow
def test_a_5000_word_sentence_on_the_real_backbone_stays_within_memory() -> None:
    """The MiniLM-sized model, in its own process so the peak memory is the sentence's own."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", LONG_SENTENCE_CHILD, str(LONG_WORDS)], capture_output=True, text=True,
                         env={**os.environ, "TYPEPRIOR_ROOT": str(root)}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n5,000 words on minilm: {figures}")
    assert figures["tokens"] == LONG_WORDS
    assert figures["growth_mb"] < 2048 and figures["seconds"] < 300
    assert any("too long" in m or "chunk" in m for m in figures["warnings"]), figures["warnings"]
