"""A whole build from a dump of the fixture pages: θ in SQL, embeddings cached, E_t, content hash, priors, CLI."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fake_mediawiki import FIXTURE_PAGES, FakePage, FakeWiki, write_xml_export
from typeprior.flows.cli import app
from typeprior.kb.build import plan_build, run_build
from typeprior.kb.embeddings import Encoder, default_model_path
from typeprior.kb.errors import BuildNotFoundError, EmbeddingDimensionError, MissingTypesError
from typeprior.kb.priors import load_type_priors
from typeprior.kb.store import KBStore
from typeprior.warehouse import open_warehouse

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load(default_model_path(), batch_size=32)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return write_xml_export(FakeWiki.from_dirs(FIXTURE_PAGES), tmp_path / "dump.xml")


def test_a_build_weighs_embeds_and_aggregates(dump: Path, warehouse_path: Path, encoder: Encoder) -> None:
    plan = plan_build(str(SCHEME), [f"dump:{dump}"])
    result = run_build(warehouse_path, plan, encoder, progress=False)
    assert result.weights == 10 and result.embedded == 10
    with open_warehouse(warehouse_path) as wh:
        build = wh.query("SELECT * FROM kb_builds WHERE build_id = ?", [result.build_id])[0]
        assert build["status"] == "done" and build["content_hash"] == result.content_hash
        assert build["sources"] == [f"dump:{dump.resolve()}"] and build["scheme"] == "fixture"
        sums = wh.query("SELECT entity_type, sum(theta) AS s FROM kb_weights WHERE build_id = ? GROUP BY ALL",
                        [result.build_id])
        assert {r["entity_type"] for r in sums} == {"PER", "LOC", "ORG", "MISC"}
        assert all(abs(r["s"] - 1.0) < 1e-9 for r in sums)
        loc = wh.query("SELECT title, frequency, theta FROM kb_weights WHERE build_id = ? AND entity_type = 'LOC' "
                       "ORDER BY theta DESC", [result.build_id])
        assert [r["title"] for r in loc] == ["London", "Paris", "Oslo"]
        total = sum(math.log(2 + r["frequency"]) for r in loc)
        for r in loc:
            assert r["theta"] == pytest.approx(math.log(2 + r["frequency"]) / total)
        assert loc[0]["frequency"] == 7 + 3  # 7 in-links and 3 inline language links
        e_per = wh.query("SELECT w.theta, e.vector FROM kb_weights w JOIN kb_embeddings e ON e.name = w.name "
                         "WHERE w.build_id = ? AND w.entity_type = 'PER' AND e.model_id = ?",
                         [result.build_id, encoder.model_id])
        expected = sum(r["theta"] * np.asarray(r["vector"]) for r in e_per)
        stored = wh.query("SELECT vector, norm FROM kb_type_vectors WHERE build_id = ? AND entity_type = 'PER'",
                          [result.build_id])[0]
        np.testing.assert_allclose(np.asarray(stored["vector"]), expected, atol=1e-5)
        assert stored["norm"] == pytest.approx(float(np.linalg.norm(expected)), abs=1e-5)
        cos = wh.query("SELECT array_cosine_similarity(a.vector, b.vector) AS c FROM kb_type_vectors a, "
                       "kb_type_vectors b WHERE a.entity_type = 'PER' AND b.entity_type = 'LOC'")[0]["c"]
        assert -1.0 < cos < 1.0
        assert wh.query("SELECT typeof(vector) AS t FROM kb_type_vectors LIMIT 1")[0]["t"] == "FLOAT[384]"


def test_theta_recomputes_read_only_through_typeprior_sql(dump: Path, warehouse_path: Path, encoder: Encoder) -> None:
    from typeprior.kb.store import sql_file
    from typeprior.warehouse.sql import run_readonly

    result = run_build(warehouse_path, plan_build(str(SCHEME), [f"dump:{dump}"]), encoder, progress=False)
    columns, rows = run_readonly(warehouse_path, sql_file("theta.sql"))
    recomputed = {(r[columns.index("entity_type")], r[columns.index("title")]): r[columns.index("theta")]
                  for r in rows if r[columns.index("build_id")] == result.build_id}
    with open_warehouse(warehouse_path) as wh:
        stored = {(r["entity_type"], r["title"]): r["theta"] for r in wh.query("SELECT * FROM kb_weights")}
    assert recomputed == pytest.approx(stored) and len(stored) == 10
    shown = CliRunner().invoke(app, ["sql", sql_file("theta.sql"), "--warehouse", str(warehouse_path), "-f", "csv"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == "build_id,entity_type,title,name,frequency,theta"
    assert len(shown.stdout.splitlines()) == 1 + len(stored)


def test_a_rebuild_embeds_nothing_new_and_keeps_the_content_hash(dump: Path, warehouse_path: Path,
                                                                  encoder: Encoder) -> None:
    plan = plan_build(str(SCHEME), [f"dump:{dump}"])
    first = run_build(warehouse_path, plan, encoder, progress=False)
    second = run_build(warehouse_path, plan, encoder, progress=False)
    assert second.build_id == first.build_id + 1 and second.embedded == 0
    assert second.content_hash == first.content_hash
    wiki = FakeWiki.from_dirs(FIXTURE_PAGES)
    wiki.pages["Lisbon"] = FakePage("Lisbon", "{{Infobox settlement}}\nLisbon is near [[Paris]].", 5000)
    write_xml_export(wiki, dump)
    grown = run_build(warehouse_path, plan, encoder, progress=False)
    assert grown.harvests[0].fetched == 1 and grown.embedded == 1
    assert grown.content_hash != first.content_hash


def test_priors_load_in_the_asked_order_with_typed_errors(dump: Path, warehouse_path: Path, encoder: Encoder) -> None:
    with open_warehouse(warehouse_path):
        pass
    with pytest.raises(BuildNotFoundError, match="kb build"):
        load_type_priors(warehouse_path)
    result = run_build(warehouse_path, plan_build(str(SCHEME), [f"dump:{dump}"]), encoder, progress=False)
    priors = load_type_priors(warehouse_path, "latest", "fixture", types=["MISC", "PER"])
    assert priors.build_id == result.build_id and priors.types == ["MISC", "PER"]
    assert priors.vectors.shape == (2, 384) and priors.vectors.dtype == np.float32
    assert priors.content_hash == result.content_hash
    everything = load_type_priors(warehouse_path, result.build_id)
    np.testing.assert_array_equal(everything.vector("PER"), priors.vector("PER"))
    with pytest.raises(MissingTypesError, match="DNA"):
        load_type_priors(warehouse_path, types=["PER", "DNA"])
    with pytest.raises(BuildNotFoundError, match="scheme 'genia'"):
        load_type_priors(warehouse_path, scheme="genia")
    with pytest.raises(BuildNotFoundError, match="no knowledge-base build 99"):
        load_type_priors(warehouse_path, 99)
    with open_warehouse(warehouse_path) as wh:
        assert load_type_priors(wh).build_id == result.build_id
        assert load_type_priors(warehouse_path).build_id == result.build_id


def test_a_failed_build_is_marked_failed(tmp_path: Path, warehouse_path: Path, encoder: Encoder) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_text('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/"></mediawiki>', encoding="utf-8")
    with pytest.raises(Exception, match="no weighted entities"):
        run_build(warehouse_path, plan_build(str(SCHEME), [f"dump:{empty}"]), encoder, progress=False)
    with open_warehouse(warehouse_path) as wh:
        assert wh.query("SELECT status FROM kb_builds") == [{"status": "failed"}]


def test_an_encoder_of_another_width_is_refused(warehouse_path: Path, encoder: Encoder) -> None:
    narrow = Encoder(encoder.model, "narrow@test")
    narrow.model = type("Narrow", (), {"get_sentence_embedding_dimension": lambda self: 128})()
    from typeprior.kb.embeddings import embed_names

    with KBStore.open(warehouse_path) as store, pytest.raises(EmbeddingDimensionError, match="FLOAT\\[384\\]"):
        embed_names(store, narrow, ["Paris"], progress=False)


def test_cli_build_then_show(dump: Path, warehouse_path: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(app, ["kb", "build", "--scheme", str(SCHEME), "--source", f"dump:{dump}",
                                "--warehouse", str(warehouse_path), "--quiet"])
    assert built.exit_code == 0, built.output
    build_id = int(built.stdout.strip().splitlines()[-1])
    shown = runner.invoke(app, ["kb", "show", "--build", str(build_id), "--warehouse", str(warehouse_path),
                                "--top", "2"])
    assert shown.exit_code == 0, shown.output
    assert f"build {build_id}" in shown.stdout and "London" in shown.stdout and "Reuters" in shown.stdout
    for entity_type in ("PER", "LOC", "ORG", "MISC"):
        assert entity_type in shown.stdout
    missing = runner.invoke(app, ["kb", "show", "--build", "42", "--warehouse", str(warehouse_path)])
    assert missing.exit_code == 2 and "no knowledge-base build 42" in missing.output
    bad = runner.invoke(app, ["kb", "build", "--scheme", "nope", "--warehouse", str(warehouse_path)])
    assert bad.exit_code == 2 and "unknown scheme 'nope'" in bad.output


def test_a_type_without_entities_gets_the_empty_sum(tmp_path: Path, dump: Path, warehouse_path: Path,
                                                     encoder: Encoder) -> None:
    scheme = tmp_path / "with_dna.yaml"
    scheme.write_text(SCHEME.read_text(encoding="utf-8").replace("name: fixture", "name: with_dna")
                      + "  DNA:\n    descriptions: [gene]\n", encoding="utf-8")
    result = run_build(warehouse_path, plan_build(str(scheme), [f"dump:{dump}"]), encoder, progress=False)
    priors = load_type_priors(warehouse_path, result.build_id, types=["PER", "DNA"])
    assert priors.n_entities["DNA"] == 0 and priors.n_entities["PER"] > 0
    assert not priors.vector("DNA").any() and priors.vector("PER").any()
    assert priors.empty_types == ["DNA"]
    from typeprior.flows.inputs import resolve_priors

    chosen = resolve_priors(warehouse_path, "full", "genia", ["DNA", "PER"], result.build_id, "with_dna")
    assert chosen.summary()["empty_types"] == ["DNA"]  # what a training run records of its priors
    runner = CliRunner()
    built = runner.invoke(app, ["kb", "build", "--scheme", str(scheme), "--source", f"dump:{dump}",
                                "--warehouse", str(warehouse_path), "--quiet"])
    assert built.exit_code == 0, built.output
    assert "no entity of type(s) DNA" in built.stderr
    shown = runner.invoke(app, ["kb", "show", "--warehouse", str(warehouse_path), "--scheme", "with_dna"])
    assert "no entity found" in shown.stdout
