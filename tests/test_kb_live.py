"""The live source against a fake MediaWiki API on 127.0.0.1: paging, redirects, missing pages, faults, resuming."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from wikipediaapi.exceptions import WikiHttpError

from fake_mediawiki import FIXTURE_PAGES, FakeMediaWiki, FakeWiki
from typeprior.kb.errors import SourceUnavailableError
from typeprior.kb.harvest import harvest
from typeprior.kb.schemes import load_scheme
from typeprior.kb.sources import LiveSource, MediaWikiApiError, MediaWikiClient, RawPage, SkippedPage
from typeprior.kb.sources.answers import MembersQuery
from typeprior.kb.store import KBStore

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"
AGENT = "typeprior-tests/0.1 (tests@example.org)"


@pytest.fixture
def server():
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as srv:
        yield srv


def client_for(srv: FakeMediaWiki, **kw) -> MediaWikiClient:
    options = dict(min_interval_s=0.0, max_retries=3, retry_wait_s=0.01, max_wait_s=2.0, timeout_s=5.0)
    options.update(kw)
    return MediaWikiClient(srv.url, AGENT, **options)


def test_the_api_url_user_agent_and_maxlag_are_ours(server: FakeMediaWiki) -> None:
    client = client_for(server, maxlag=5)
    assert client._build_url("en") == server.url
    client.category_members("Category:Test companies", 10)
    sent = server.requests[-1]
    assert sent["headers"]["User-Agent"].startswith(AGENT)
    assert sent["params"]["maxlag"] == "5" and sent["params"]["format"] == "json"
    assert sent["params"]["cmtitle"] == "Category:Test companies"


def test_category_members_follow_continue_and_stop_at_the_cap(server: FakeMediaWiki) -> None:
    client = client_for(server)
    members = client.category_members("Category:Test people", 50)
    assert [t for _, t in members] == ["Ada Lovelace", "Alan Turing", "Charles Babbage", "Grace Hopper",
                                       "Stub without revision"]
    assert sum("cmcontinue" in r["params"] for r in server.requests) == 2
    assert len(client.category_members("Category:Test people", 3)) == 3
    with pytest.raises(ValueError, match="Category:"):
        client.category_members("Test people", 3)


def test_category_walk_depth_is_capped() -> None:
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as srv:
        source = LiveSource(client_for(srv))
        scheme = load_scheme(SCHEME)
        assert sorted(source.candidates(scheme, "LOC")) == ["London", "Oslo", "Paris"]
        shallow = scheme.__class__(**{**vars(scheme), "limits": scheme.limits.__class__(0, 50, 100)})
        assert sorted(source.candidates(shallow, "LOC")) == ["London", "Paris"]


def test_fetch_answers_every_title_once(server: FakeMediaWiki) -> None:
    server.content_page_size = 2
    source = LiveSource(client_for(server), batch_size=10)
    asked = ["ada_Lovelace", "The_Big_Smoke", "No such page", "Stub without revision", "Paris", "Reuters"]
    items = {i.title: i for i in source.fetch(asked, "PER")}
    assert set(items) == {"Ada Lovelace", "London", "No such page", "Stub without revision", "Paris", "Reuters"}
    london = items["London"]
    assert isinstance(london, RawPage) and london.aliases == ["The Big Smoke"]
    assert london.description == "Capital city of England" and london.langlinks == 3
    assert london.pageviews and london.page_length and london.content.startswith("{{Short description")
    assert isinstance(items["Reuters"], RawPage) and "Infobox company" in items["Reuters"].content
    assert items["No such page"] == SkippedPage("No such page", "missing", "MediaWiki has no page with this title")
    assert items["Stub without revision"].reason == "malformed"
    assert any("rvcontinue" in r["params"] for r in server.requests)


@pytest.mark.parametrize("kind", ["500", "502", "503", "reset", "truncated", "maxlag"])
def test_transient_faults_are_retried(server: FakeMediaWiki, kind: str) -> None:
    client = client_for(server)
    server.inject(kind, times=2, retry_after=0)
    assert len(client.category_members("Category:Test companies", 10)) == 2
    assert client.requests_sent == 3


def test_a_timeout_is_retried() -> None:
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as srv:
        client = client_for(srv, timeout_s=0.3)
        srv.inject("timeout", times=1, delay=1.0)
        assert len(client.category_members("Category:Test companies", 10)) == 2
        assert client.requests_sent == 2


def test_retry_after_is_honoured(server: FakeMediaWiki) -> None:
    client = client_for(server)
    server.inject("429", times=1, retry_after=1)
    started = time.monotonic()
    client.category_members("Category:Test companies", 10)
    assert time.monotonic() - started >= 1.0
    assert client.requests_sent == 2


def test_an_error_body_is_a_typed_error_not_a_key_error(server: FakeMediaWiki) -> None:
    client = client_for(server, max_retries=1)
    server.inject("api_error", times=5)
    with pytest.raises(MediaWikiApiError, match="internal_api_error_DBQueryError"):
        client.page_batch(["Paris"])
    assert client.requests_sent == 2
    server.clear_faults()
    with pytest.raises(MediaWikiApiError, match="invalidcategory"):
        client.query({"list": "categorymembers", "cmtitle": "Test people"}, MembersQuery, "members").__next__()


def test_retries_give_up_with_the_last_error(server: FakeMediaWiki) -> None:
    client = client_for(server, max_retries=2)
    server.inject("503", times=10)
    with pytest.raises(WikiHttpError) as info:
        client.category_members("Category:Test companies", 10)
    assert info.value.status_code == 503 and client.requests_sent == 3


def test_the_throttle_spaces_requests(server: FakeMediaWiki) -> None:
    client = client_for(server, min_interval_s=0.15)
    started = time.monotonic()
    for _ in range(3):
        client.category_members("Category:Test companies", 10)
    assert time.monotonic() - started >= 0.3


def test_a_harvest_records_skips_and_resumes_without_fetching_twice(server: FakeMediaWiki, warehouse_path: Path) -> None:
    scheme = load_scheme(SCHEME)
    source = LiveSource(client_for(server, max_retries=0), batch_size=2)
    server.inject("500", times=100, only=lambda p: "Charles Babbage" in p.get("titles", ""))
    with KBStore.open(warehouse_path) as store:
        with pytest.raises(SourceUnavailableError, match="'Charles Babbage'.*HTTP 500.*run again to resume"):
            harvest(store, source, scheme, "PER", progress=False)
        reasons = {s["title"]: s["reason"] for s in store.skipped(source.key)}
        assert reasons["Charles Babbage"] == reasons["Grace Hopper"] == "error"
        held_before = store.held_titles(source.key)
        server.clear_faults()
        server.requests.clear()
        second = harvest(store, source, scheme, "PER", progress=False)
        asked = [r["params"] for r in server.requests]
        assert all(p.get("list") != "categorymembers" for p in asked)
        refetched = sorted(t for p in asked for t in p["titles"].split("|"))
        assert {"Charles Babbage", "Grace Hopper"} <= set(refetched) and not set(refetched) & held_before
        assert second.candidates == 5 and second.already_held == len(held_before)
        assert store.query("SELECT count(*) AS n FROM kb_raw_pages")[0]["n"] == 4
        assert [s["reason"] for s in store.skipped(source.key)] == ["malformed"]
        server.requests.clear()
        third = harvest(store, source, scheme, "PER", progress=False)
        assert third.fetched == 0 and server.requests == []


@pytest.mark.data
def test_real_pages_come_through_the_live_source(shared_data: Path) -> None:
    with FakeMediaWiki(FakeWiki.from_dirs(shared_data / "wikipedia" / "wikitext")) as srv:
        client = client_for(srv)
        members = [t for _, t in client.category_members("Category:Living people", 100)]
        assert "Julia kristeva" in members or "Julia Kristeva" in members
        items = list(LiveSource(client).fetch(["Redirect", "Bodmin"], None))
        titles = {i.title for i in items}
        assert titles == {"Toronto", "Bodmin"}
        toronto = next(i for i in items if i.title == "Toronto")
        assert "Infobox settlement" in toronto.content and toronto.aliases == ["Redirect"]


_HARVEST_SCRIPT = """
import sys
from typeprior.kb.errors import SourceUnavailableError
from typeprior.kb.harvest import harvest
from typeprior.kb.schemes import load_scheme
from typeprior.kb.sources import LiveSource, MediaWikiClient
from typeprior.kb.store import KBStore
client = MediaWikiClient(sys.argv[1], "typeprior-tests/0.1 (tests@example.org)", min_interval_s=0.0, timeout_s=60)
with KBStore.open(sys.argv[2]) as store:
    harvest(store, LiveSource(client, batch_size=1), load_scheme(sys.argv[3]), "PER", progress=False)
"""


def test_a_harvest_killed_midway_continues_where_it_stopped(server: FakeMediaWiki, warehouse_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    server.inject("timeout", times=1, delay=30.0, only=lambda p: p.get("titles") == "Grace Hopper")
    proc = subprocess.Popen([sys.executable, "-c", _HARVEST_SCRIPT, server.url, str(warehouse_path), str(SCHEME)],
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        while not any(r["params"].get("titles") == "Grace Hopper" for r in server.requests):
            assert proc.poll() is None and time.monotonic() < deadline, "the harvest ended before the slow page"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    server.clear_faults()
    server.requests.clear()
    source = LiveSource(client_for(server), batch_size=1)
    with KBStore.open(warehouse_path) as store:
        held = store.query("SELECT title FROM kb_raw_pages ORDER BY title")
        assert [r["title"] for r in held] == ["Ada Lovelace", "Alan Turing", "Charles Babbage"]
        report = harvest(store, source, load_scheme(SCHEME), "PER", progress=False)
        assert (report.already_held, report.fetched, report.skipped) == (3, 1, 1)
        assert [r["params"].get("titles") for r in server.requests] == ["Grace Hopper", "Stub without revision"]
        assert store.query("SELECT count(*) AS n FROM kb_raw_pages")[0]["n"] == 4
