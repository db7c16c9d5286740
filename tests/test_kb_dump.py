"""The dump source: a MediaWiki XML export streamed (plain or bz2), in-links from its own wikilinks, redirects as aliases."""
from __future__ import annotations

from pathlib import Path

import pytest

from fake_mediawiki import FIXTURE_PAGES, FakeWiki, write_xml_export
from typeprior.kb.entities import extract_entities
from typeprior.kb.errors import DumpFormatError, SourceError
from typeprior.kb.harvest import harvest
from typeprior.kb.schemes import load_scheme
from typeprior.kb.settings import load_settings
from typeprior.kb.sources import DumpSource, RawPage, SkippedPage
from typeprior.kb.store import KBStore

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"


@pytest.mark.parametrize("compress", [False, True])
def test_the_dump_streams_articles_redirects_and_skips(tmp_path: Path, compress: bool) -> None:
    dump = write_xml_export(FakeWiki.from_dirs(FIXTURE_PAGES), tmp_path / "dump.xml", compress)
    items = {i.title: i for i in DumpSource(dump).stream(set())}
    assert not any(t.startswith("Category:") for t in items)
    assert isinstance(items["The Big Smoke"], RawPage) and items["The Big Smoke"].redirect_to == "London"
    assert items["London"].langlinks == 3 and "Infobox settlement" in items["London"].content
    assert items["Stub without revision"] == SkippedPage("Stub without revision", "malformed", "page has no revision text")
    rest = {i.title for i in DumpSource(dump).stream({"London", "Paris"})}
    assert rest == set(items) - {"London", "Paris"}


def test_harvest_and_typing_from_a_dump(tmp_path: Path, warehouse_path: Path) -> None:
    dump = write_xml_export(FakeWiki.from_dirs(FIXTURE_PAGES), tmp_path / "dump.xml.bz2", compress=True)
    source, scheme, settings = DumpSource(dump), load_scheme(SCHEME), load_settings()
    with KBStore.open(warehouse_path) as store:
        report = harvest(store, source, scheme, None, batch_size=3, progress=False)
        assert (report.fetched, report.skipped) == (11, 1)
        again = harvest(store, source, scheme, None, progress=False)
        assert (again.fetched, again.skipped, again.already_held) == (0, 0, 12)
        counts = extract_entities(store, source.key, scheme, settings)
        assert counts.typed == {"PER": 4, "LOC": 3, "ORG": 2, "MISC": 1} and counts.redirects == 1
        types = {r["title"]: r["entity_type"] for r in store.query("SELECT title, entity_type FROM kb_entities")}
        assert types["Alan Turing"] == "PER" and types["Olympic Games"] == "MISC" and types["Oslo"] == "LOC"
        inlinks = {r["title"]: r["inlinks"] for r in store.query("SELECT title, inlinks FROM kb_inlinks")}
        assert inlinks["London"] == 7 and inlinks["Paris"] == 3 and inlinks["Ada Lovelace"] == 3
        assert store.query("SELECT title, alias FROM kb_aliases") == [{"title": "London", "alias": "The Big Smoke"}]


def test_not_a_dump_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<html><body/></html>", encoding="utf-8")
    with pytest.raises(DumpFormatError, match="not <mediawiki>"):
        list(DumpSource(tmp_path / "a.xml").stream(set()))
    (tmp_path / "b.xml").write_text("just text", encoding="utf-8")
    with pytest.raises(DumpFormatError, match="not an XML file"):
        list(DumpSource(tmp_path / "b.xml").stream(set()))
    with pytest.raises(SourceError, match="does not exist"):
        DumpSource(tmp_path / "none.xml")


def test_a_truncated_dump_keeps_the_pages_before_the_break(tmp_path: Path) -> None:
    full = write_xml_export(FakeWiki.from_dirs(FIXTURE_PAGES), tmp_path / "dump.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(full[: full.index(b"<title>Paris</title>")])
    seen: list[str] = []
    with pytest.raises(DumpFormatError, match="broken XML"):
        for item in DumpSource(cut).stream(set()):
            seen.append(item.title)
    assert "London" in seen and "Paris" not in seen


@pytest.mark.data
def test_a_dump_of_real_pages(shared_data: Path, tmp_path: Path, warehouse_path: Path) -> None:
    wiki = FakeWiki.from_dirs(shared_data / "wikipedia" / "wikitext")
    dump = write_xml_export(wiki, tmp_path / "real.xml.bz2", compress=True)
    source, scheme = DumpSource(dump), load_scheme("conll2003")
    with KBStore.open(warehouse_path) as store:
        harvest(store, source, scheme, None, progress=False)
        counts = extract_entities(store, source.key, scheme, load_settings())
        assert counts.pages == 70 and counts.redirects == 1
        assert counts.typed["PER"] >= 15 and counts.typed["LOC"] >= 5 and counts.typed["ORG"] >= 5
        aliases = store.query("SELECT title, alias FROM kb_aliases")
        assert {"title": "Toronto", "alias": "Redirect"} in aliases
