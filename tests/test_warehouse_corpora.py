"""Corpora in the warehouse: exact round trip, atomic replacement of a split, clear errors."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typeprior.model.corpus import Corpus, CorpusError, Entity, Sentence
from typeprior.warehouse import SplitNotFoundError, WarehouseError, WarehouseNotFoundError, open_warehouse
from typeprior.warehouse.corpora import import_corpus, list_splits, load_corpus


def mixed_corpus() -> Corpus:
    """Flat, nested and discontinuous entities, an empty sentence, ids and non-ASCII tokens."""
    return Corpus(
        [
            Sentence(["EU", "rejects", "German", "call"], [Entity.span(0, 1, "ORG"), Entity.span(2, 3, "MISC")], id="d1-s1"),
            Sentence(["IL-2", "gene", "expression"], [Entity.span(0, 2, "DNA"), Entity.span(0, 1, "protein")], id="d1-s2"),
            Sentence(["muscle", "and", "joint", "pain"], [Entity((0, 3), "ADR"), Entity((2, 3), "ADR")]),
            Sentence(["nothing", "here"], []),
            Sentence(["Zürich", "’s", "Ölhafen"], [Entity.span(0, 1, "LOC"), Entity.span(2, 3, "LOC")], id="ü"),
        ],
        source="mixed.jsonl",
        format="jsonl",
    )


def test_round_trip_is_exact(warehouse_path: Path) -> None:
    corpus = mixed_corpus()
    with open_warehouse(warehouse_path) as wh:
        assert import_corpus(wh, corpus, "mixed", "train") == len(corpus)
    with open_warehouse(warehouse_path, read_only=True) as wh:
        back = load_corpus(wh, "mixed", "train")
        kinds = wh.query(
            "SELECT sentence, indices, type, kind, text FROM mentions WHERE corpus = 'mixed' ORDER BY sentence, n"
        )
    assert back.sentences == corpus.sentences
    assert (back.source, back.format) == ("mixed.jsonl", "jsonl")
    expected = [
        (i, list(e.indices), e.type, k.value, e.text(s.tokens))
        for i, s in enumerate(corpus.sentences)
        for e, k in s.kinds()
    ]
    assert [(r["sentence"], r["indices"], r["type"], r["kind"], r["text"]) for r in kinds] == expected
    assert {r["kind"] for r in kinds} == {"flat", "nested", "discontinuous"}


def test_reimport_replaces_the_split_and_leaves_others(warehouse_path: Path) -> None:
    corpus = mixed_corpus()
    smaller = Corpus(corpus.sentences[:2])
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, corpus, "mixed", "train")
        import_corpus(wh, corpus, "mixed", "dev")
        import_corpus(wh, corpus, "mixed", "train")
        import_corpus(wh, smaller, "mixed", "train", source="small.jsonl")
        counts = wh.query(
            "SELECT split, count(*) AS n FROM sentences GROUP BY split ORDER BY split"
        )
        splits = {(r["corpus"], r["split"]): r for r in list_splits(wh)}
        assert load_corpus(wh, "mixed", "train").sentences == smaller.sentences
        assert load_corpus(wh, "mixed", "dev").sentences == corpus.sentences
        mentions = wh.query("SELECT count(*) AS n FROM mentions WHERE split = 'train'")[0]["n"]
    assert counts == [{"split": "dev", "n": len(corpus)}, {"split": "train", "n": 2}]
    assert splits[("mixed", "train")]["sentences"] == 2
    assert splits[("mixed", "train")]["mentions"] == mentions == sum(len(s.entities) for s in smaller)
    assert splits[("mixed", "train")]["source"] == "small.jsonl"


def failing_reader(sentences: list[Sentence], fail_after: int) -> Iterator[Sentence]:
    """A lazy reader that hits a malformed line part-way through, as a streaming reader would."""
    for i, sentence in enumerate(sentences):
        if i == fail_after:
            raise CorpusError("malformed line", path="broken.jsonl", line=i + 1)
        yield sentence


def test_a_failed_import_leaves_the_previous_split_intact(warehouse_path: Path) -> None:
    corpus = mixed_corpus()
    replacement = [Sentence(["new", "text"], [Entity.span(0, 1, "X")]) for _ in range(30)]
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, corpus, "mixed", "train")
        with pytest.raises(CorpusError, match="broken.jsonl:21"):
            import_corpus(wh, failing_reader(replacement, 20), "mixed", "train", batch_size=7)
        assert load_corpus(wh, "mixed", "train").sentences == corpus.sentences
        assert list_splits(wh)[0]["sentences"] == len(corpus)
        import_corpus(wh, failing_reader(replacement, 99), "mixed", "train", batch_size=7)
        assert len(load_corpus(wh, "mixed", "train")) == 30


def test_missing_split_names_what_exists(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, mixed_corpus(), "mixed", "train")
        with pytest.raises(SplitNotFoundError, match=r"mixed/test .*mixed/train"):
            load_corpus(wh, "mixed", "test")


def test_empty_names_are_refused(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        with pytest.raises(WarehouseError, match="split"):
            import_corpus(wh, mixed_corpus(), "mixed", " ")


def test_read_only_open_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(WarehouseNotFoundError, match="nope.duckdb"):
        open_warehouse(tmp_path / "nope.duckdb", read_only=True)
    assert not (tmp_path / "nope.duckdb").exists()


def test_transaction_rolls_back_on_error(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path) as wh:
        with pytest.raises(RuntimeError):
            with wh.transaction():
                wh.execute("INSERT INTO corpora (name) VALUES (?)", ["ghost"])
                raise RuntimeError("boom")
        assert wh.query("SELECT * FROM corpora") == []


@pytest.mark.data
def test_real_cadec_round_trip(shared_data: Path, warehouse_path: Path) -> None:
    rows = json.loads((shared_data / "cadec" / "dev.json").read_text(encoding="utf-8"))
    corpus = Corpus([Sentence(r["sentence"], [Entity.of(e["index"], e["type"]) for e in r["ner"]]) for r in rows])
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, corpus, "cadec", "dev")
        back = load_corpus(wh, "cadec", "dev")
        discontinuous = wh.query("SELECT count(*) AS n FROM mentions WHERE kind = 'discontinuous'")[0]["n"]
    assert back.sentences == corpus.sentences
    assert discontinuous == corpus.stats()["discontinuous"] > 0


CRASHING_IMPORT = """
import os, signal, sys
from typeprior.model.corpus import Entity, Sentence
from typeprior.warehouse import open_warehouse
from typeprior.warehouse.corpora import import_corpus

def sentences():
    for i in range(50):
        if i == 30:
            os.kill(os.getpid(), signal.SIGKILL)
        yield Sentence(["crash", str(i)], [Entity.span(0, 1, "X")])

with open_warehouse(sys.argv[1]) as wh:
    import_corpus(wh, sentences(), "mixed", "train", batch_size=8)
"""


def test_a_process_killed_mid_import_leaves_the_previous_split(warehouse_path: Path) -> None:
    corpus = mixed_corpus()
    with open_warehouse(warehouse_path) as wh:
        import_corpus(wh, corpus, "mixed", "train")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", CRASHING_IMPORT, str(warehouse_path)], cwd=root, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with open_warehouse(warehouse_path) as wh:
        assert load_corpus(wh, "mixed", "train").sentences == corpus.sentences
        assert wh.query("SELECT count(*) AS n FROM sentences WHERE tokens[1] = 'crash'") == [{"n": 0}]


def test_mixing_read_only_and_read_write_in_one_process_is_explained(warehouse_path: Path) -> None:
    with open_warehouse(warehouse_path):
        with pytest.raises(WarehouseError, match="already has .* open with other settings"):
            open_warehouse(warehouse_path, read_only=True)


@st.composite
def sentences(draw: st.DrawFn) -> Sentence:
    tokens = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8))
    entities = draw(st.lists(
        st.builds(
            Entity.of,
            st.sets(st.integers(0, len(tokens) - 1), min_size=1, max_size=len(tokens)),
            st.sampled_from(["PER", "LOC", "ADR", "ü-type"]),
        ),
        max_size=5,
    ))
    return Sentence(tokens, entities, id=draw(st.none() | st.text(max_size=5)))


@settings(max_examples=25, deadline=None)
@given(st.lists(sentences(), max_size=6))
def test_any_corpus_round_trips(tmp_path_factory: pytest.TempPathFactory, drawn: list[Sentence]) -> None:
    path = tmp_path_factory.mktemp("prop") / "w.duckdb"
    with open_warehouse(path) as wh:
        assert import_corpus(wh, Corpus(drawn), "prop", "train", batch_size=4) == len(drawn)
        assert load_corpus(wh, "prop", "train").sentences == drawn


def test_a_file_that_is_not_a_warehouse_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("not a database\n" * 200)
    with pytest.raises(WarehouseError, match=r"cannot open warehouse .*notes.duckdb.*not a valid DuckDB"):
        open_warehouse(bogus)
    with pytest.raises(WarehouseError, match="cannot open warehouse"):
        open_warehouse(tmp_path)
    assert bogus.read_text() == "not a database\n" * 200
