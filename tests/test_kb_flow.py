"""The Prefect flow build_type_priors, run once for real against the fake MediaWiki API (live source)."""
from __future__ import annotations

from pathlib import Path

from fake_mediawiki import FIXTURE_PAGES, FakeMediaWiki, FakeWiki
from kb.priors import load_type_priors

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"


def test_the_flow_harvests_each_type_and_builds_priors(tmp_path: Path, warehouse_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.build_type_priors import build_type_priors

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
