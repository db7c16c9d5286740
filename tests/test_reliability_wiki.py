"""Reliability of the Wikipedia harvest under the faults a real MediaWiki produces.

A harvest of every type of the fixture scheme runs against the fake MediaWiki on 127.0.0.1 with faults injected
(429 with Retry-After, 500/502/503, timeouts, connection resets, HTTP 200 error bodies, maxlag, truncated JSON) and
against a wiki holding redirect loops. The outcome must be the warehouse contents of a fault-free run: at once when
the faults fit the retry budget, or after a clean re-run when they exhaust it (then the first run must say so).
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from fake_mediawiki import FAULT_KINDS, FIXTURE_PAGES, FakeMediaWiki, FakePage, FakeWiki
from typeprior.kb.entities import extract_entities
from typeprior.kb.errors import KBError
from typeprior.kb.harvest import HarvestReport, harvest
from typeprior.kb.schemes import load_scheme
from typeprior.kb.settings import load_settings
from typeprior.kb.sources import LiveSource, MediaWikiClient
from typeprior.kb.store import KBStore

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"
AGENT = "typeprior-reliability/0.1 (tests@example.org)"
CLIENT = dict(min_interval_s=0.0, max_retries=3, retry_wait_s=0.01, max_wait_s=0.05, timeout_s=0.5)
TIMEOUT_DELAY_S = 1.0

# Harvest tables as a user sees them: everything but the source key (it names the server's port) and fetch times.
CONTENT_QUERIES = {
    "pages": "SELECT title, content_kind, content, description, topic, redirect_to, pageviews, langlinks, "
             "page_length, harvested_for FROM kb_raw_pages ORDER BY ALL",
    "aliases": "SELECT title, alias FROM kb_aliases ORDER BY ALL",
    "skipped": "SELECT title, reason, detail FROM kb_skipped_pages ORDER BY ALL",
    "candidates": "SELECT scheme, entity_type, title FROM kb_harvest_candidates ORDER BY ALL",
    "walks": "SELECT scheme, entity_type, config_hash, n_candidates FROM kb_harvest_walks ORDER BY ALL",
    "entities": "SELECT title, entity_type, name FROM kb_entities ORDER BY ALL",
}


def fixture_wiki() -> FakeWiki:
    return FakeWiki.from_dirs(FIXTURE_PAGES)


def client_for(server: FakeMediaWiki, **kw: Any) -> MediaWikiClient:
    return MediaWikiClient(server.url, AGENT, **{**CLIENT, **kw})


def harvest_all(path: Path, server: FakeMediaWiki, batch_size: int = 2, **client: Any) -> list[HarvestReport]:
    """Harvest every type of the scheme, then type the pages (the entities are part of what must match)."""
    scheme = load_scheme(SCHEME)
    source = LiveSource(client_for(server, **client), batch_size=batch_size)
    with KBStore.open(path) as store:
        reports = [harvest(store, source, scheme, t, progress=False) for t in scheme.type_names]
        extract_entities(store, source.key, scheme, load_settings())
    return reports


def contents(path: Path) -> dict[str, list[dict[str, Any]]]:
    with KBStore.open(path, read_only=True) as store:
        return {name: store.query(sql) for name, sql in CONTENT_QUERIES.items()}


def first_run(path: Path, server: FakeMediaWiki, batch_size: int = 2) -> str:
    """Harvest once under faults: "same" when the warehouse equals a fault-free run's, else the KBError's message.

    Anything else (an untyped exception, or a harvest that returns with pages missing) fails the test: after its
    retry budget a harvest either has everything or stops with a clear error.
    """
    try:
        harvest_all(path, server, batch_size=batch_size)
    except KBError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        pytest.fail(f"the harvest stopped with {type(exc).__name__} (not a KBError a user is shown): {exc!r}")
    with FakeMediaWiki(fixture_wiki()) as clean:
        clean_path = path.with_name("clean-" + path.name)
        harvest_all(clean_path, clean, batch_size=batch_size)
    got, want = contents(path), contents(clean_path)
    missing = sorted({p["title"] for p in want["pages"]} - {p["title"] for p in got["pages"]})
    assert got == want, f"the harvest returned as if complete, without pages {missing} and without an error"
    return "same"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The warehouse after a fault-free harvest."""
    path = tmp_path_factory.mktemp("reference") / "kb.duckdb"
    with FakeMediaWiki(fixture_wiki()) as server:
        harvest_all(path, server)
    found = contents(path)
    assert len(found["pages"]) >= 10 and found["entities"], "a weak reference harvest"
    return found


def consumed(server: FakeMediaWiki, before: dict[int, int]) -> int:
    return sum(before[id(f)] - f.times for f in server.faults)


def inject_all(server: FakeMediaWiki, kind: str, points: list[tuple[int, Callable[[dict[str, str]], bool]]]) -> dict:
    for times, only in points:
        server.inject(kind, times=times, retry_after=1, delay=TIMEOUT_DELAY_S, only=only)
    return {id(f): f.times for f in server.faults}


def _nth(n: int) -> Callable[[dict[str, str]], bool]:
    """Matches from the n-th request it is asked about (each fault's own count), so faults land mid-harvest."""
    seen = [0]

    def only(params: dict[str, str]) -> bool:
        seen[0] += 1
        return seen[0] >= n

    return only


POINTS = [
    (1, lambda p: p.get("list") == "categorymembers"),            # the first category request
    (2, lambda p: "cmcontinue" in p),                             # a continuation, twice in a row
    (2, lambda p: "titles" in p),                                 # the first page batch, twice in a row
    (1, _nth(6)),                                                 # somewhere in the middle
]


@pytest.mark.parametrize("kind", sorted(FAULT_KINDS))
def test_faults_within_the_retry_budget_change_nothing(tmp_path: Path, reference: dict, kind: str) -> None:
    with FakeMediaWiki(fixture_wiki()) as server:
        before = inject_all(server, kind, POINTS)
        reports = harvest_all(tmp_path / "kb.duckdb", server)
        injected = consumed(server, before)
    assert injected == sum(times for times, _ in POINTS), f"only {injected} {kind} faults were served"
    assert sum(r.skipped for r in reports) == sum(len(v) for v in [reference["skipped"]])
    assert contents(tmp_path / "kb.duckdb") == reference


@pytest.mark.parametrize("seed", [8] + [pytest.param(k, marks=pytest.mark.slow) for k in range(9, 19)])
def test_a_random_storm_of_every_fault_then_a_rerun_matches(tmp_path: Path, reference: dict, seed: int) -> None:
    """About a third of all requests fail, of every kind; a clean re-run must then complete the same warehouse."""
    rng = random.Random(seed)
    path = tmp_path / "kb.duckdb"
    with FakeMediaWiki(fixture_wiki()) as server:
        for kind in sorted(FAULT_KINDS - {"timeout"}):
            server.inject(kind, times=10_000, retry_after=0, only=lambda p: rng.random() < 0.04)
        server.inject("timeout", times=3, delay=TIMEOUT_DELAY_S, only=lambda p: rng.random() < 0.04)
        before = {id(f): f.times for f in server.faults}
        outcome = first_run(path, server, batch_size=1)
        injected = consumed(server, before)
        server.clear_faults()
        requests_faulty = len(server.requests)
        harvest_all(path, server, batch_size=1)
    print(f"\nrandom fault storm (seed {seed}): {injected} faults in {requests_faulty} requests; first run "
          f"{'completed' if outcome == 'same' else 'stopped: ' + outcome}")
    assert injected >= 5
    assert contents(path) == reference


def test_an_exhausted_budget_on_a_page_batch_stops_with_a_clear_error_and_resumes(tmp_path: Path,
                                                                                   reference: dict) -> None:
    """A page that cannot be fetched within the budget must not leave a harvest that looks complete."""
    path = tmp_path / "kb.duckdb"
    with FakeMediaWiki(fixture_wiki()) as server:
        server.inject("503", times=10_000, only=lambda p: "Alan Turing" in p.get("titles", ""))
        outcome = first_run(path, server, batch_size=1)
        assert outcome == "same" or ("Alan Turing" in outcome and "503" in outcome), outcome
        server.clear_faults()
        harvest_all(path, server, batch_size=1)
    assert contents(path) == reference


def test_a_category_walk_that_exhausts_its_budget_stops_with_a_clear_error(tmp_path: Path, reference: dict) -> None:
    path = tmp_path / "kb.duckdb"
    with FakeMediaWiki(fixture_wiki()) as server:
        server.inject("502", times=10_000, only=lambda p: p.get("cmtitle") == "Category:Test cities")
        outcome = first_run(path, server)
        assert outcome == "same" or ("Category:Test cities" in outcome and "502" in outcome), outcome
        server.clear_faults()
        harvest_all(path, server)
    assert contents(path) == reference


def looped_wiki() -> FakeWiki:
    """The fixture wiki plus redirect loops (two pages, and one page onto itself) that a category still lists."""
    wiki = fixture_wiki()
    extra = {"Loop one": "#REDIRECT [[Loop two]]", "Loop two": "#REDIRECT [[Loop one]]",
             "Self loop": "#REDIRECT [[Self loop]]"}
    for k, (title, text) in enumerate(extra.items()):
        wiki.pages[title] = FakePage(title, text, 9000 + k)
    wiki.members["Category:Test people"] = sorted(wiki.members["Category:Test people"] + list(extra))
    return wiki


def test_redirect_loops_end_and_type_nothing(tmp_path: Path, reference: dict) -> None:
    path = tmp_path / "kb.duckdb"
    started = time.monotonic()
    with FakeMediaWiki(looped_wiki()) as server:
        harvest_all(path, server, batch_size=1)
    assert time.monotonic() - started < 30
    got = contents(path)
    loops = {"Loop one", "Loop two", "Self loop"}
    assert not loops & {e["title"] for e in got["entities"]}
    assert [e for e in got["entities"]] == reference["entities"]
    assert [p for p in got["pages"] if p["title"] not in loops] == reference["pages"]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["walk", "pages"])
def test_kb_build_reports_an_exhausted_budget_as_an_error_line(tmp_path: Path, where: str) -> None:
    """What the user of `typeprior kb build` sees: an `error:` line and exit code 2, not a traceback or a build
    marked done over a partial harvest."""
    from typer.testing import CliRunner

    from typeprior.flows.cli import app

    config = tmp_path / "kb.yaml"
    config.write_text("live:\n  min_interval_s: 0.0\n  max_retries: 2\n  retry_wait_s: 0.01\n  max_wait_s: 0.05\n"
                      "  timeout_s: 2.0\n", encoding="utf-8")
    only = ((lambda p: p.get("cmtitle") == "Category:Test cities") if where == "walk"
            else (lambda p: "Alan Turing" in p.get("titles", "")))
    with FakeMediaWiki(fixture_wiki()) as server:
        server.inject("502", times=10_000, only=only)
        result = CliRunner().invoke(app, ["kb", "build", "--scheme", str(SCHEME), "--source", f"api:{server.url}",
                                          "--warehouse", str(tmp_path / "w.duckdb"), "--config", str(config), "-q"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output[-2000:]
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert error_lines and "502" in error_lines[-1], result.output[-2000:]
