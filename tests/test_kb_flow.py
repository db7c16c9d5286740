"""The Prefect flow build_type_priors, run once for real against the fake MediaWiki API (live source)."""
from __future__ import annotations

from pathlib import Path

from fake_mediawiki import FIXTURE_PAGES, FakeMediaWiki, FakeWiki
from typeprior.kb.priors import load_type_priors

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"


def test_the_flow_harvests_each_type_and_builds_priors(tmp_path: Path, warehouse_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from typeprior.flows.build_type_priors import build_type_priors

    config = tmp_path / "kb.yaml"
    config.write_text("live:\n  min_interval_s: 0.0\n  retry_wait_s: 0.01\n  max_retries: 3\n"
                      "flow:\n  harvest_retry_delay_s: 0\n", encoding="utf-8")
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as server, prefect_test_harness():
        server.inject("503", times=2)
        build_id = build_type_priors(str(warehouse_path), str(SCHEME), [f"api:{server.url}"],
                                     config=str(config), progress=False)
        walked = {r["params"]["cmtitle"] for r in server.requests if r["params"].get("list") == "categorymembers"}
    assert walked == {"Category:Test people", "Category:Test cities", "Category:Nordic test cities",
                      "Category:Test companies", "Category:Test events"}
    priors = load_type_priors(warehouse_path, build_id, types=["PER", "LOC", "ORG", "MISC"])
    assert priors.vectors.shape == (4, 384)
    assert priors.n_entities == {"PER": 4, "LOC": 3, "ORG": 2, "MISC": 1}
    assert priors.content_hash and priors.scheme == "fixture"


def test_the_flow_stops_on_an_exhausted_budget_and_a_rerun_resumes(tmp_path: Path, warehouse_path: Path) -> None:
    """Workers return records and the flow commits them, so a failed batch still leaves every other batch saved."""
    import pytest
    from prefect.testing.utilities import prefect_test_harness

    from typeprior.flows.build_type_priors import build_type_priors
    from typeprior.kb.errors import SourceUnavailableError
    from typeprior.kb.store import KBStore

    config = tmp_path / "kb.yaml"
    config.write_text("live:\n  min_interval_s: 0.0\n  retry_wait_s: 0.01\n  max_retries: 1\n  batch_size: 1\n"
                      "flow:\n  harvest_retries: 0\n", encoding="utf-8")
    wh = str(warehouse_path)
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as server, prefect_test_harness():
        sources = [f"api:{server.url}"]
        server.inject("502", times=10_000, only=lambda p: "Alan Turing" in p.get("titles", ""))
        with pytest.raises(SourceUnavailableError, match="'Alan Turing'.*HTTP 502.*run again to resume"):
            build_type_priors(wh, str(SCHEME), sources, config=str(config), progress=False)
        with KBStore.open(warehouse_path) as store:
            assert store.query("SELECT status FROM kb_builds")[0]["status"] == "failed"
            held = store.held_titles(store.latest_build(status="failed")["sources"][0])
            assert "Alan Turing" not in held and len(held) >= 5
        server.clear_faults()
        server.requests.clear()
        build_id = build_type_priors(wh, str(SCHEME), sources, config=str(config), progress=False)
        asked = [t for r in server.requests for t in r["params"].get("titles", "").split("|") if t]
    assert "Alan Turing" in asked and not set(asked) & held
    assert load_type_priors(warehouse_path, build_id).n_entities["PER"] == 4
