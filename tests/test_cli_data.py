"""`typeprior data stats` and `typeprior data convert` through the real command-line app."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.corpus import read_corpus

runner = CliRunner()

NESTED_W2NER = [
    {"sentence": ["Bank", "of", "China", "rose"], "ner": [{"index": [0, 1, 2], "type": "ORG"}, {"index": [2], "type": "GPE"}]},
    {"sentence": ["pain", "in", "legs", "and", "arms"], "ner": [{"index": [0, 1, 4], "type": "ADR"}]},
    {"sentence": ["fine"], "ner": []},
]


def run(*args: str):
    return runner.invoke(app, ["data", *args])


def test_stats_prints_one_json_object(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(NESTED_W2NER))
    result = run("stats", str(p))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "sentences": 3, "entities": 3, "flat": 0, "nested": 2, "discontinuous": 1, "types": {"ADR": 1, "GPE": 1, "ORG": 1},
    }


def test_stats_bad_input_exits_nonzero_with_file_and_line(tmp_path):
    p = tmp_path / "bad.conll"
    p.write_text("a\tO\nb\tI-X\n")
    result = run("stats", str(p))
    assert result.exit_code == 2
    assert f"{p}:2: I-X after O in strict BIO" in result.stderr
    lenient = run("stats", str(p), "--lenient")
    assert lenient.exit_code == 0 and json.loads(lenient.stdout)["entities"] == 1
    iob1 = run("stats", str(p), "--scheme", "iob1")
    assert iob1.exit_code == 0 and json.loads(iob1.stdout)["entities"] == 1


def test_stats_with_forced_format(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("Muscle Pain .\n0,1 ADR\n\n")
    assert json.loads(run("stats", str(p), "--format", "bartner").stdout)["entities"] == 1
    wrong = run("stats", str(p), "--format", "w2ner")
    assert wrong.exit_code == 2 and "invalid JSON" in wrong.stderr


def test_convert_detects_input_and_writes_jsonl_by_default(tmp_path):
    src, dst = tmp_path / "c.json", tmp_path / "out" / "c.jsonl"
    src.write_text(json.dumps(NESTED_W2NER))
    result = run("convert", str(src), str(dst))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["from"], summary["to"], summary["entities"]) == ("w2ner", "jsonl", 3)
    assert [json.loads(line)["tokens"][0] for line in dst.read_text().splitlines()] == ["Bank", "pain", "fine"]
    back = run("convert", str(dst), str(tmp_path / "c.txt"), "--to", "bartner")
    assert back.exit_code == 0, back.output
    assert read_corpus(tmp_path / "c.txt").stats() == read_corpus(src).stats()


def test_convert_to_bio_refuses_nested_and_names_the_sentence(tmp_path):
    src, dst = tmp_path / "c.json", tmp_path / "c.bio"
    src.write_text(json.dumps(NESTED_W2NER))
    result = run("convert", str(src), str(dst), "--to", "bio")
    assert result.exit_code == 2
    assert "sentence 1 has a nested entity [0, 1, 2] (ORG); bio cannot express nested entities" in result.stderr
    assert not dst.exists()


def test_convert_conll2003_to_bioes(tmp_path):
    src, dst = tmp_path / "eng.testa", tmp_path / "dev.tsv"
    src.write_text("-DOCSTART- -X- O O\n\nNew NNP I-NP I-LOC\nYork NNP I-NP I-LOC\nrocks VBZ I-VP O\n")
    result = run("convert", str(src), str(dst), "--to", "bio", "--to-scheme", "bioes")
    assert result.exit_code == 0, result.output
    assert dst.read_text() == "New\tB-LOC\nYork\tE-LOC\nrocks\tO\n"
    assert run("convert", str(src), str(dst), "--to", "conll2003").exit_code == 2


def test_missing_input_file(tmp_path):
    result = run("stats", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "no such file" in result.stderr


@pytest.mark.data
def test_stats_on_real_cadec_in_a_separate_process(shared_data):
    out = subprocess.run([sys.executable, "-m", "typeprior.flows.cli", "data", "stats", str(shared_data / "cadec/dev.json")],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    stats = json.loads(out.stdout)
    assert (stats["sentences"], stats["entities"], stats["discontinuous"]) == (1110, 897, 93)
