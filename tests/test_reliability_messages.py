"""Issue 17, misleading messages: a corpus or dump path that is a directory, FIFO or symlink loop says so (not
"does not exist", and reading never blocks on a FIFO), and a missing or garbage tokenizer.json is named."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.corpus import CorpusError, read_corpus
from typeprior.model.persistence import ModelFolderError
from typeprior.model.predict import Tagger

runner = CliRunner()


def _make(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "c.bio"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink loop":
        path.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(path)
    elif kind == "dangling symlink":
        path.symlink_to(tmp_path / "gone")
    return path


KINDS = {"directory": "is a directory", "fifo": "is a FIFO", "symlink loop": "is a symlink loop",
         "dangling symlink": "a symlink to a missing file", "missing": "no such file"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_corpus_path_that_is_not_a_file_says_what_it_is(tmp_path: Path, kind: str) -> None:
    path = _make(tmp_path, kind)
    with pytest.raises(CorpusError, match=KINDS[kind]):
        read_corpus(path)
    for args in (["data", "stats", str(path)], ["data", "import", str(path), "-c", "c", "-s", "s",
                                                "--warehouse", str(tmp_path / "w.duckdb")]):
        result = runner.invoke(app, args)
        assert result.exit_code in (1, 2) and KINDS[kind] in result.output and result.output.count("\n") == 1
        if kind != "missing":
            assert "does not exist" not in result.output


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "model"
    Tagger.from_backbone("tiny-random", ["LOC", "PER"], seed=0).save(folder)
    return folder


def _copy(saved: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for f in saved.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


TOKENIZERS = {
    "missing": None,
    "garbage bytes": b"\x00\xff garbage",
    "not json": b"{ this is not json",
    "a json list": b"[1, 2, 3]",
    "no model": json.dumps({"version": "1.0"}).encode(),
    "a broken model": json.dumps({"version": "1.0", "model": {"type": "Nonsense"}}).encode(),
}


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_a_bad_tokenizer_json_is_named(saved: Path, tmp_path: Path, name: str) -> None:
    folder = _copy(saved, tmp_path)
    data = TOKENIZERS[name]
    if data is None:
        (folder / "tokenizer.json").unlink()
    else:
        (folder / "tokenizer.json").write_bytes(data)
    with pytest.raises(ModelFolderError) as err:
        Tagger.load(folder, device="cpu")
    message = str(err.value)
    assert str(folder / "tokenizer.json") in message and "sentencepiece" not in message and "\n" not in message
    result = runner.invoke(app, ["predict", "--model", str(folder)], input="Paris\n")
    assert result.exit_code == 2 and "tokenizer.json" in result.output and "sentencepiece" not in result.output
