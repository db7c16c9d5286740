"""Parsing wikitext with mwparserfromhell and typing pages from their evidence."""
from __future__ import annotations

from pathlib import Path

import pytest

from typeprior.kb.classify import Evidence, classify, description_head, is_common_noun
from typeprior.kb.schemes import load_scheme
from typeprior.kb.wikitext import entity_name, normalize_title, parse_wikitext

PAGES = Path(__file__).resolve().parent / "fixtures" / "wiki" / "pages"


def test_a_page_yields_infobox_description_categories_links_and_langlinks() -> None:
    page = parse_wikitext("Ada Lovelace", (PAGES / "Ada_Lovelace.txt").read_text(encoding="utf-8"))
    assert page.redirect_to is None
    assert page.infoboxes == ["person"]
    assert page.short_description == "English mathematician and writer"
    assert page.categories == ["Test people", "English mathematicians"]
    assert page.links.count("London") == 2 and page.links.count("Charles Babbage") == 2
    assert page.langlinks == 2
    assert page.lead.startswith("Ada Lovelace was an English mathematician")


def test_a_redirect_page_yields_only_its_target() -> None:
    page = parse_wikitext("The Big Smoke", (PAGES / "The_Big_Smoke.txt").read_text(encoding="utf-8"))
    assert page.redirect_to == "London" and page.links == [] and page.infoboxes == []


def test_infobox_names_lose_comments_and_prefix() -> None:
    text = "{{Infobox writer <!-- see [[Template:Infobox writer/doc]] -->\n| name = X\n}}\n{{Infobox_Unternehmen\n}}"
    assert parse_wikitext("X", text).infoboxes == ["writer", "unternehmen"]


def test_titles_normalise_as_mediawiki_does() -> None:
    assert normalize_title("ada_lovelace") == "Ada_lovelace".replace("_", " ")
    assert normalize_title("category:test_people") == "Category:Test people"
    assert entity_name("Mercury (planet)") == "Mercury"
    assert entity_name("Paris") == "Paris"


@pytest.mark.parametrize("description, head", [
    ("City in France", "city"),
    ("1968 film by Stanley Kubrick", "1968 film"),
    ("American actor", "american actor"),
    ("Mammalian protein found in Homo sapiens", "mammalian protein"),
])
def test_description_head(description: str, head: str) -> None:
    assert description_head(description) == head


@pytest.mark.parametrize("scheme, description, expected", [
    ("conll2003", "City in France", "LOC"),
    ("conll2003", "American actor", "PER"),
    ("conll2003", "American multinational technology company", "ORG"),
    ("conll2003", "1968 film by Stanley Kubrick", "MISC"),
    ("conll2003", "Ethnic group", "MISC"),
    ("conll2003", "State of matter", None),
    ("conll2003", "Family of birds", None),
    ("genia", "Mammalian protein found in Homo sapiens", "protein"),
    ("cadec", "Medical condition", "ADR"),
    ("wnut17", "American rock band", "group"),
    ("wnut17", "Video game console by Sony", "product"),
])
def test_descriptions_type_by_their_head(scheme: str, description: str, expected: str | None) -> None:
    got = classify(load_scheme(scheme), Evidence("X", description=description))
    assert (got.entity_type if got else None) == expected


def test_evidence_order_infobox_then_description_then_categories_then_topic() -> None:
    scheme = load_scheme("conll2003")
    both = Evidence("Reuters", infoboxes=("company",), description="English actor", topic="People")
    assert classify(scheme, both).evidence == "infobox:company"
    assert classify(scheme, Evidence("X", categories=("1912 births", "Living people"))).entity_type == "PER"
    assert classify(scheme, Evidence("X", topic="Geography")).evidence == "topic:Geography"
    assert classify(scheme, Evidence("X")) is None


def test_a_name_used_as_a_common_noun_is_not_an_entity() -> None:
    scheme = load_scheme("conll2003")
    assert is_common_noun("Desert", "A desert is a landscape where little precipitation occurs.")
    assert not is_common_noun("Paris", "Paris is the capital of France.")
    assert classify(scheme, Evidence("Desert", topic="Geography", text="A desert is dry.")) is None


def test_schemes_of_common_noun_types_keep_pages_written_in_lower_case() -> None:
    insulin = Evidence("Insulin", description="Peptide hormone", text="Insulin is a hormone; insulin is made ...")
    assert load_scheme("genia").common_nouns and classify(load_scheme("genia"), insulin).entity_type == "protein"
    assert not load_scheme("conll2003").common_nouns
    headache = Evidence("Migraine", description="Disorder resulting in recurrent headaches",
                        text="Migraine is a disorder; a migraine lasts hours.")
    assert classify(load_scheme("cadec"), headache).entity_type == "ADR"
    plasmid = Evidence("Plasmid", description="Small DNA molecule within a cell", text="A plasmid is ...")
    assert classify(load_scheme("genia"), plasmid) is None


@pytest.mark.data
def test_real_pages_are_typed_from_their_infoboxes_and_categories(shared_data: Path) -> None:
    folder = shared_data / "wikipedia" / "wikitext"
    scheme = load_scheme("conll2003")
    expected = {"Bodmin": "LOC", "Alsea-(company)": "ORG", "BBDO": "ORG", "julia_kristeva": "PER",
                "raith_rovers": "ORG", "toronto": "LOC", "Gregory-Serper": "PER", "Tour-EP-(Band-of-Horses-EP)": "MISC"}
    for stem, entity_type in expected.items():
        text = (folder / f"{stem}.txt").read_text(encoding="utf-8")
        page = parse_wikitext(stem, text)
        ev = Evidence(stem, tuple(page.infoboxes), page.short_description, tuple(page.categories), None, text)
        got = classify(scheme, ev, entity_name(stem.replace("-", " ").replace("_", " ")))
        assert got is not None and got.entity_type == entity_type, (stem, got)
    assert parse_wikitext("redirect", (folder / "redirect.txt").read_text(encoding="utf-8")).redirect_to == "Toronto"
