"""Type schemes: the packaged ones load, a user's folder adds or overrides schemes, bad files fail clearly."""
from __future__ import annotations

from pathlib import Path

import pytest

from typeprior.kb.errors import SchemeError
from typeprior.kb.schemes import SCHEMES_ENV, available_schemes, load_scheme

FIXTURE_SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"


@pytest.mark.parametrize("name, types", [
    ("conll2003", ["PER", "LOC", "ORG", "MISC"]),
    ("genia", ["protein", "DNA", "RNA", "cell_type", "cell_line"]),
    ("cadec", ["ADR"]),
    ("wnut17", ["person", "location", "group", "creative-work", "corporation", "product"]),
    ("demo", ["PER", "LOC", "ORG", "MISC"]),
])
def test_packaged_schemes_cover_the_corpus_labels(name: str, types: list[str]) -> None:
    scheme = load_scheme(name)
    assert scheme.type_names == types
    for spec in scheme.types:
        assert spec.categories and all(c.startswith("Category:") for c in spec.categories)
        assert spec.descriptions


def test_demo_extends_conll_with_smaller_limits() -> None:
    demo, conll = load_scheme("demo"), load_scheme("conll2003")
    assert demo.types == conll.types
    assert demo.limits.max_entities_per_type < conll.limits.max_entities_per_type
    assert demo.fingerprint() != conll.fingerprint()


def test_a_user_folder_adds_a_scheme_without_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nextends: conll2003\ntypes:\n  PER:\n    categories: ['Category:Poets']\n"
        "    descriptions: [poet]\n", encoding="utf-8")
    monkeypatch.setenv(SCHEMES_ENV, str(tmp_path))
    assert "mine" in available_schemes()
    mine = load_scheme("mine")
    assert mine.type_names == ["PER", "LOC", "ORG", "MISC"]
    assert mine.type("PER").descriptions == ("poet",)
    assert mine.type("LOC") == load_scheme("conll2003").type("LOC")


def test_a_scheme_loads_from_a_file_path() -> None:
    assert load_scheme(FIXTURE_SCHEME).name == "fixture"


@pytest.mark.parametrize("body, message", [
    ("types: {A: {}}\n", "'name' is missing"),
    ("name: x\n", "'types' is missing"),
    ("name: x\ntypes: {A: {categories: [Poets]}}\n", "must start with 'Category:'"),
    ("name: x\ntypes: {A: {colour: red}}\n", "unknown keys"),
    ("name: x\nlimits: {category_depth: -1}\ntypes: {A: {}}\n", "non-negative"),
    ("name: x\nextends: nowhere\n", "unknown scheme 'nowhere'"),
    ("name: [x\n", "not YAML"),
    ("name: x\ncommon_nouns: yes please\ntypes: {A: {}}\n", "'common_nouns' must be true or false"),
    ("name: x\ntypes: {A: {description_patterns: ['(unclosed']}}\n", "type 'A': description pattern .* is no regular"),
])
def test_bad_scheme_files_name_the_file_and_the_problem(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SchemeError, match=message) as info:
        load_scheme(path)
    if "unknown scheme" not in message:
        assert str(path) in str(info.value)


def test_description_patterns_keep_their_case_and_leave_other_fingerprints_alone(tmp_path: Path) -> None:
    """A pattern is matched ignoring case but stored as written (lower-casing "\\S" would make it "\\s"); a scheme
    without patterns hashes as before the key existed, so its builds and checks stay current."""
    from typeprior.kb.classify import Evidence, classify

    path = tmp_path / "p.yaml"
    path.write_text("name: p\ntypes:\n  OS: {description_patterns: ['^family of (?:\\S+ )*operating systems']}\n",
                    encoding="utf-8")
    scheme = load_scheme(path)
    assert scheme.type("OS").description_patterns == ("^family of (?:\\S+ )*operating systems",)
    got = classify(scheme, Evidence("Unix", description="Family of Unix-like operating systems"))
    assert got is not None and got.entity_type == "OS" and got.evidence.startswith("description-pattern:")
    assert classify(scheme, Evidence("Unix", description="Family of birds")) is None
    assert all("description_patterns" not in t for t in load_scheme("wnut17").to_dict()["types"].values())
    assert "description_patterns" in load_scheme("conll2003").to_dict()["types"]["MISC"]
