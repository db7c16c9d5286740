"""Issue 17, corpus formats: line ends detected from content, an explicit format checks its shape, and a huge
GENIA `end` is refused before any index list is built."""
from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from typeprior.flows.cli import app
from typeprior.model.corpus import CorpusError, read_corpus

runner = CliRunner()

BIO = "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\n\nPeter\tB-PER\nBlackburn\tI-PER\n\nBBC\tB-ORG\n\nfine\tO\nLondon\tB-LOC\n"
CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
CANONICAL = {"tokens": ["Bank", "of", "China"], "entities": [{"indices": [0, 1, 2], "type": "ORG"}]}
GENIA = {"tokens": ["IL-2", "gene"], "entity_mentions": [{"start": 0, "end": 2, "entity_type": "DNA"}]}


@pytest.mark.parametrize("text", [BIO, CONLL], ids=["bio", "conll2003"])
@pytest.mark.parametrize("end", ["\r", "\r\n"], ids=["cr", "crlf"])
def test_old_mac_and_windows_line_ends_read_like_unix_ones(tmp_path: Path, text: str, end: str) -> None:
    unix = tmp_path / "unix.txt"
    unix.write_bytes(text.encode())
    other = tmp_path / "other.txt"
    other.write_bytes(text.replace("\n", end).encode())
    expected = read_corpus(unix)
    got = read_corpus(other)
    assert got.format == expected.format
    assert [(s.tokens, s.entities) for s in got] == [(s.tokens, s.entities) for s in expected]
    assert len(expected) >= 2


def test_a_bare_cr_file_imports_every_sentence(tmp_path: Path) -> None:
    src = tmp_path / "mac.bio"
    src.write_bytes(BIO.replace("\n", "\r").encode())
    wh = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["data", "import", str(src), "-c", "c", "-s", "train", "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output
    assert "imported 4 sentences, 5 mentions" in result.output


def test_a_json_error_in_a_bare_cr_file_names_its_line(tmp_path: Path) -> None:
    src = tmp_path / "mac.jsonl"
    src.write_bytes((json.dumps(CANONICAL) + '\r{"tokens": [1,}\r' + json.dumps(CANONICAL) + "\r").encode())
    with pytest.raises(CorpusError) as err:
        read_corpus(src)
    assert err.value.line == 2 and "column 15" in str(err.value)


@pytest.mark.parametrize(("record", "given", "right"), [(CANONICAL, "genia", "jsonl"), (GENIA, "jsonl", "genia"),
                                                        ({"sentence": ["a"], "ner": []}, "genia", "w2ner")])
def test_an_explicit_json_format_checks_its_own_shape(tmp_path: Path, record: dict, given: str, right: str) -> None:
    src = tmp_path / "c.json"
    src.write_text(json.dumps(record) + "\n")
    result = runner.invoke(app, ["data", "stats", str(src), "--format", given])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert f"{src}:1:" in result.output and f"--format {right}" in result.output
    assert len(read_corpus(src, right).sentences) == 1


@pytest.mark.parametrize("end", [10**7, 10**9, 10**15])
def test_a_huge_genia_end_is_refused_before_building_indices(tmp_path: Path, end: int) -> None:
    src = tmp_path / "g.json"
    src.write_text(json.dumps({**GENIA, "entity_mentions": [{"start": 0, "end": end, "entity_type": "DNA"}]}) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(CorpusError) as err:
            read_corpus(src, "genia")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert len(str(err.value)) < 200 and err.value.line == 1 and "out of range" in str(err.value)


def test_a_long_out_of_range_index_list_gives_a_short_message(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"tokens": ["a"], "entities": [{"indices": list(range(100_000)), "type": "X"}]}))
    with pytest.raises(CorpusError) as err:
        read_corpus(src)
    assert len(str(err.value)) < 200
