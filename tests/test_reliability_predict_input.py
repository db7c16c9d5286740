"""Issue 17, `predict` input: lines split on line ends only, and undecodable lines reported by number while the
valid ones are still tagged, one output per input line."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from typeprior.flows.commands.input_lines import BadLine, read_lines, split_lines
from typeprior.model.predict import Tagger

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("inside", ["\u2028", "\u0085", "\x0c", "\x0b", "\x1c", "\u2029"])
def test_only_line_ends_split_lines(inside: str) -> None:
    raw = f"Paris{inside}is big\nBerlin too\n".encode()
    assert split_lines(raw, "<stdin>") == [f"Paris{inside}is big", "Berlin too"]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_line_end_convention_gives_the_same_lines(end: bytes) -> None:
    assert split_lines(end.join([b"a b", b"", b"c"]) + end, "f") == ["a b", "", "c"]


def test_an_undecodable_line_is_kept_in_place_with_its_number() -> None:
    lines = read_lines(None, io.BytesIO(b"Paris\n\xff\xfe\x00bin\nBerlin\n"))
    assert lines[0] == "Paris" and lines[2] == "Berlin"
    assert isinstance(lines[1], BadLine) and str(lines[1]).startswith("<stdin>:2: not UTF-8 (bytes ff")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tagger") / "model"
    Tagger.from_backbone("tiny-random", ["LOC", "PER"], seed=0).save(folder)
    return folder


def predict(model_dir: Path, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "typeprior.flows.cli", "predict", "--model", str(model_dir)],
                          input=stdin, capture_output=True, cwd=ROOT, timeout=120)


def test_predict_gives_one_answer_per_input_line(model_dir: Path) -> None:
    done = predict(model_dir, "Paris\u2028is big\nBerlin\u0085too\x0c!\n".encode())
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.decode().split("\n")[:-1]]
    assert [a["text"] for a in answers] == ["Paris\u2028is big", "Berlin\u0085too\x0c!"]


def test_predict_on_binary_stdin_tags_the_valid_lines_and_names_the_bad_one(model_dir: Path) -> None:
    done = predict(model_dir, b"Paris\n\x89PNG\r\n\x1a\n\xff\xd8\xff\nBerlin\n")
    answers = [json.loads(line) for line in done.stdout.decode().split("\n")[:-1]]
    assert [a.get("text", a.get("error", "")[:8]) for a in answers] == ["Paris", "not UTF-", "\x1a", "not UTF-", "Berlin"]
    stderr = done.stderr.decode()
    assert done.returncode == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith("error: <stdin>:2: not UTF-8") and "2 of 5 lines" in stderr
