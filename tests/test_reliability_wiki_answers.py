"""Issue 17, MediaWiki: answers of an unexpected shape, endless `continue`, a trickling server and TCP resets, all
against the fake MediaWiki on 127.0.0.1. Each ends in one typed KBError line, within its deadline."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from fake_mediawiki import FIXTURE_PAGES, FakeMediaWiki, FakeWiki
from typeprior.flows.cli import app
from typeprior.kb.errors import KBError, SourceUnavailableError
from typeprior.kb.schemes import load_scheme
from typeprior.kb.sources import LiveSource, MediaWikiClient
from typeprior.kb.sources.answers import WikiAnswerError
from typeprior.kb.sources.live import describe_failure

SCHEME = Path(__file__).resolve().parent / "fixtures" / "wiki" / "scheme_fixture.yaml"
AGENT = "typeprior-reliability/0.1 (tests@example.org)"
FAST = dict(min_interval_s=0.0, max_retries=1, retry_wait_s=0.01, max_wait_s=0.05, timeout_s=2.0)


def members(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, str], dict[str, Any]], Any]:
    def rewrite(params: dict[str, str], body: dict[str, Any]) -> Any:
        return change(body) if params.get("list") == "categorymembers" else body
    return rewrite


def pages(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, str], dict[str, Any]], Any]:
    def rewrite(params: dict[str, str], body: dict[str, Any]) -> Any:
        if "titles" in params:
            for page in body["query"]["pages"].values():
                change(page)
        return body
    return rewrite


def _set(body: dict[str, Any], **items: Any) -> dict[str, Any]:
    body.update(items)
    return body


def _each_member(body: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    for m in body["query"]["categorymembers"]:
        change(m)
    return body


SHAPES = {
    "namespace not a number": members(lambda b: _each_member(b, lambda m: m.update(ns="zero"))),
    "member without ns": members(lambda b: _each_member(b, lambda m: m.pop("ns"))),
    "member title a number": members(lambda b: _each_member(b, lambda m: m.update(title=7))),
    "query a string": members(lambda b: _set(b, query="nothing here")),
    "categorymembers a dict": members(lambda b: _set(b, query={"categorymembers": {"a": 1}})),
    "continue a string": members(lambda b: _set(b, **{"continue": "more"})),
    "answer a list": lambda params, body: [body],
    "revisions a string": pages(lambda p: p.update(revisions="text")),
    "revision slots a list": pages(lambda p: p.update(revisions=[{"slots": ["main"]}])),
    "length not numeric": pages(lambda p: p.update(length="long")),
    "pageviews a list": pages(lambda p: p.update(pageviews=[1, 2])),
    "pages a list": lambda params, body: _set(body, query={"pages": [1]}) if "titles" in params else body,
}


def harvest_with(server: FakeMediaWiki, **client: Any) -> None:
    source = LiveSource(MediaWikiClient(server.url, AGENT, **{**FAST, **client}), batch_size=2)
    scheme = load_scheme(SCHEME)
    for partition in source.partitions(scheme):
        titles = list(source.candidates(scheme, partition))
        list(source.fetch(titles, partition))


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_an_answer_of_an_unexpected_shape_is_one_typed_error(name: str) -> None:
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES), rewrite=SHAPES[name]) as server:
        url = server.url
        with pytest.raises(KBError) as err:
            harvest_with(server)
    message = str(err.value)
    assert isinstance(err.value, (WikiAnswerError, SourceUnavailableError)), repr(err.value)
    assert "\n" not in message and url in message and len(message) < 400


def test_an_endless_continue_stops_at_the_cap() -> None:
    rounds = iter(range(10**6))
    rewrite = members(lambda b: _set(b, **{"continue": {"cmcontinue": f"page|{next(rounds)}", "continue": "-||"},
                                          "query": {"categorymembers": []}}))
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES), rewrite=rewrite) as server:
        with pytest.raises(WikiAnswerError, match="after 5 continue rounds"):
            harvest_with(server, max_continue=5)
        assert len(server.requests) == 6


def test_a_repeated_continue_token_stops_at_once() -> None:
    rewrite = members(lambda b: _set(b, **{"continue": {"cmcontinue": "page|0", "continue": "-||"}}))
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES), rewrite=rewrite) as server:
        with pytest.raises(WikiAnswerError, match="same continue token"):
            harvest_with(server)
        assert len(server.requests) == 2


@pytest.mark.parametrize("kind", ["trickle", "trickle_headers"])
def test_a_trickling_server_times_out_at_the_total_deadline(kind: str) -> None:
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as server:
        server.inject(kind, times=10, delay=0.2)
        client = MediaWikiClient(server.url, AGENT, **{**FAST, "max_retries": 0, "deadline_s": 1.5})
        started = time.monotonic()
        with pytest.raises(Exception) as err:
            client.category_members("Category:Test cities", 100)
        took = time.monotonic() - started
    assert took < 4.0
    assert "within the total deadline of 1.5 s" in describe_failure(err.value)


def test_a_tcp_reset_is_not_reported_as_a_timeout() -> None:
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES)) as server:
        server.inject("reset", times=10)
        client = MediaWikiClient(server.url, AGENT, **{**FAST, "max_retries": 0})
        with pytest.raises(Exception) as err:
            client.category_members("Category:Test cities", 100)
    text = describe_failure(err.value)
    assert "reset" in text and "timed out" not in text


def test_kb_build_prints_one_error_line_for_an_odd_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typeprior.kb import embeddings

    monkeypatch.setattr(embeddings.Encoder, "from_settings", classmethod(lambda cls, p, s: embeddings.Encoder(None, "stub")))
    config = tmp_path / "kb.yaml"
    config.write_text("live:\n  min_interval_s: 0.0\n  max_retries: 0\n  timeout_s: 2.0\n")
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES), rewrite=SHAPES["query a string"]) as server:
        result = CliRunner().invoke(app, ["kb", "build", "--scheme", str(SCHEME), "--source", f"api:{server.url}",
                                          "--warehouse", str(tmp_path / "w.duckdb"), "--config", str(config), "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: live:") and result.output.count("\n") == 1


def test_kb_build_as_a_flow_logs_the_typed_error_without_a_traceback(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from typeprior.kb import embeddings

    monkeypatch.setattr(embeddings.Encoder, "from_settings", classmethod(lambda cls, p, s: embeddings.Encoder(None, "stub")))
    config = tmp_path / "kb.yaml"
    config.write_text("live:\n  min_interval_s: 0.0\n  max_retries: 0\n  timeout_s: 2.0\n")
    rewrite = SHAPES["member without ns"]
    with FakeMediaWiki(FakeWiki.from_dirs(FIXTURE_PAGES), rewrite=rewrite) as server, prefect_test_harness():
        result = CliRunner().invoke(app, ["kb", "build", "--flow", "--scheme", str(SCHEME), "--source",
                                          f"api:{server.url}", "--warehouse", str(tmp_path / "w.duckdb"),
                                          "--config", str(config), "-q"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")][0].startswith("error: live:")
