"""A fake MediaWiki API on 127.0.0.1 for tests: real HTTP, real wikitext, switchable faults.

It answers `action=query` as MediaWiki does with formatversion 1: `prop=revisions|info|pageviews|langlinks|
description` for `titles=`, `list=categorymembers` with `continue` paging, normalised titles, redirects (with
`redirects=1`) and missing pages (negative ids, `"missing": ""`). Pages are wikitext files: a file's name is its
title with `_` (or `-`) for spaces and `%3A` for `:`; categories and redirects are read from the wikitext itself.

Faults are queued with `inject(kind, times=..., retry_after=..., only=...)` and consumed one per matching request:
  "429"        HTTP 429 with Retry-After
  "500"/"502"/"503"  HTTP error pages
  "timeout"    the answer comes after `delay` seconds (longer than the client's timeout)
  "reset"      the connection is closed with a TCP reset, no answer
  "api_error"  HTTP 200 with an {"error": {...}} body (wikipedia-api would raise KeyError: 'query')
  "maxlag"     HTTP 200 with a maxlag error, Retry-After and X-Database-Lag, as MediaWiki sends it
  "truncated"  HTTP 200 whose JSON body is cut in half
  "trickle"    HTTP 200 whose body comes one byte every `delay` seconds (no single read ever times out)
  "trickle_headers"  the same, but from the status line on
`rewrite(params, body)`, when set, changes every answer before it is sent (a hostile or odd server's shapes).
Every request is recorded (params and headers) in `requests`.
"""
from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlparse

FIXTURE_PAGES = Path(__file__).resolve().parent / "fixtures" / "wiki" / "pages"
SHARED_WIKITEXT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wikipedia" / "wikitext"

FAULT_KINDS = {"429", "500", "502", "503", "timeout", "reset", "api_error", "maxlag", "truncated", "trickle", "trickle_headers"}
_REDIRECT = re.compile(r"^\s*#redirect\s*:?\s*\[\[([^\]|#]+)", re.IGNORECASE)
_CATEGORY = re.compile(r"\[\[\s*category\s*:\s*([^\]|]+)", re.IGNORECASE)
_LANGLINK = re.compile(r"\[\[([a-z]{2,3}):([^\]]+)\]\]")
_SHORTDESC = re.compile(r"\{\{\s*short description\s*\|([^}]*)\}\}", re.IGNORECASE)


def normalize(title: str) -> str:
    t = re.sub(r"[\s_]+", " ", title).strip()
    if t.lower().startswith("category:"):
        rest = t.split(":", 1)[1].strip()
        return "Category:" + rest[:1].upper() + rest[1:]
    return t[:1].upper() + t[1:]


def title_from_filename(path: Path) -> str:
    stem = unquote(path.stem)
    return normalize(stem.replace("_", " ") if "_" in stem or " " in stem else stem.replace("-", " "))


@dataclass
class FakePage:
    title: str
    wikitext: str
    pageid: int

    @property
    def ns(self) -> int:
        return 14 if self.title.startswith("Category:") else 0

    @property
    def redirect_to(self) -> str | None:
        m = _REDIRECT.match(self.wikitext)
        return normalize(m.group(1)) if m else None

    @property
    def categories(self) -> list[str]:
        return [normalize("Category:" + c) for c in _CATEGORY.findall(self.wikitext)]

    @property
    def has_revision(self) -> bool:
        return "fake:no-revisions" not in self.wikitext

    def pageviews(self, days: int) -> dict[str, int | None]:
        per_day = 1 + len(self.wikitext) // 500
        views: dict[str, int | None] = {f"2026-01-{d + 1:02d}": per_day for d in range(days)}
        if days:
            views["2026-01-01"] = None
        return views

    def langlinks(self) -> list[dict[str, str]]:
        return [{"lang": lang, "url": f"https://{lang}.wikipedia.org/wiki/{t}", "*": t}
                for lang, t in _LANGLINK.findall(self.wikitext)]


class FakeWiki:
    """The pages a fake server serves, with category membership read from their wikitext."""

    def __init__(self, pages: dict[str, FakePage]) -> None:
        self.pages = pages
        self.members: dict[str, list[str]] = {}
        for page in sorted(pages.values(), key=lambda p: p.title):
            if page.redirect_to is None:
                for cat in page.categories:
                    self.members.setdefault(cat, []).append(page.title)

    @classmethod
    def from_dirs(cls, *dirs: Path) -> "FakeWiki":
        pages: dict[str, FakePage] = {}
        for d in dirs:
            for f in sorted(Path(d).glob("*.txt")):
                title = title_from_filename(f)
                pages[title] = FakePage(title, f.read_text(encoding="utf-8"), 1000 + len(pages))
        return cls(pages)

    @classmethod
    def default(cls) -> "FakeWiki":
        """The real wikitext pages in ../shared/data when present, the project's own fixtures otherwise."""
        return cls.from_dirs(SHARED_WIKITEXT if SHARED_WIKITEXT.is_dir() else FIXTURE_PAGES)


@dataclass
class Fault:
    kind: str
    times: int = 1
    retry_after: int | None = 1
    delay: float = 2.0
    only: Callable[[dict[str, str]], bool] | None = None


@dataclass
class FakeMediaWiki:
    """Serve a FakeWiki at http://127.0.0.1:PORT/w/api.php. Use as a context manager."""

    wiki: FakeWiki = field(default_factory=FakeWiki.default)
    list_page_size: int = 2          # members per categorymembers answer, to force `continue`
    content_page_size: int = 50      # pages whose revisions one prop answer carries
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    rewrite: Callable[[dict[str, str], dict[str, Any]], Any] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/w/api.php"

    def inject(self, kind: str, times: int = 1, retry_after: int | None = 1, delay: float = 2.0,
               only: Callable[[dict[str, str]], bool] | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        with self._lock:
            self.faults.append(Fault(kind, times, retry_after, delay, only))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, params: dict[str, str]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.only is None or fault.only(params)):
                    fault.times -= 1
                    return fault
        return None

    def start(self) -> "FakeMediaWiki":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeMediaWiki":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- answering -------------------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"path": url.path, "params": params, "headers": dict(h.headers)})
        if url.path != "/w/api.php":
            self._send(h, 404, b"not found", "text/plain")
            return
        fault = self._take_fault(params)
        if fault is not None and self._apply_fault(h, fault, params):
            return
        body = self._answer(params)
        if self.rewrite is not None:
            body = self.rewrite(params, body)
        self._send(h, 200, json.dumps(body).encode(), "application/json")

    def _apply_fault(self, h: BaseHTTPRequestHandler, fault: Fault, params: dict[str, str]) -> bool:
        """Send the fault; True when nothing more must be sent."""
        kind = fault.kind
        if kind == "429":
            self._send(h, 429, b"Too many requests", "text/plain", {"Retry-After": str(1 if fault.retry_after is None else fault.retry_after)})
        elif kind in {"500", "502", "503"}:
            self._send(h, int(kind), b"<html><body>Server error</body></html>", "text/html")
        elif kind == "timeout":
            time.sleep(fault.delay)
            return False
        elif kind == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
        elif kind == "api_error":
            self._send(h, 200, json.dumps({"error": {"code": "internal_api_error_DBQueryError",
                                                     "info": "A database query error has occurred."},
                                           "servedby": "fake-mw"}).encode(), "application/json")
        elif kind == "maxlag":
            body = {"error": {"code": "maxlag", "info": "Waiting for 10.64.0.1: 7 seconds lagged.",
                              "host": "10.64.0.1", "lag": 7, "type": "db"}, "servedby": "fake-mw"}
            self._send(h, 200, json.dumps(body).encode(), "application/json",
                       {"Retry-After": str(1 if fault.retry_after is None else fault.retry_after), "X-Database-Lag": "7"})
        elif kind == "trickle":
            data = json.dumps(self._answer(params)).encode()
            try:
                h.send_response(200)
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.flush()
                for k in range(len(data)):
                    h.wfile.write(data[k:k + 1])
                    h.wfile.flush()
                    time.sleep(fault.delay)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif kind == "trickle_headers":
            data = json.dumps(self._answer(params)).encode()
            raw = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                   .encode() + data)
            try:
                for k in range(len(raw)):
                    h.wfile.write(raw[k:k + 1])
                    h.wfile.flush()
                    time.sleep(fault.delay)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif kind == "truncated":
            data = json.dumps(self._answer(params)).encode()
            self._send(h, 200, data[: max(1, len(data) // 2)], "application/json")
        return True

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _answer(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("action") != "query" or params.get("format") != "json":
            return {"error": {"code": "badvalue", "info": "only action=query&format=json is faked"}}
        if params.get("list") == "categorymembers":
            return self._category_members(params)
        if "titles" in params:
            return self._pages(params)
        return {"batchcomplete": ""}

    def _category_members(self, params: dict[str, str]) -> dict[str, Any]:
        cmtitle = normalize(params.get("cmtitle", ""))
        if not cmtitle.startswith("Category:"):
            return {"error": {"code": "invalidcategory", "info": "The category name you entered is not valid."}}
        namespaces = {int(n) for n in params.get("cmnamespace", "0|14").split("|") if n}
        members = [self.wiki.pages[t] for t in self.wiki.members.get(cmtitle, [])]
        members = [m for m in members if m.ns in namespaces]
        limit = params.get("cmlimit", "10")
        size = min(self.list_page_size, 500 if limit == "max" else int(limit))
        start = int(params.get("cmcontinue", "page|0").split("|")[-1])
        chunk = members[start:start + size]
        body: dict[str, Any] = {"query": {"categorymembers": [
            {"pageid": m.pageid, "ns": m.ns, "title": m.title} for m in chunk]}}
        if start + size < len(members):
            body["continue"] = {"cmcontinue": f"page|{start + size}", "continue": "-||"}
        else:
            body["batchcomplete"] = ""
        return body

    def _pages(self, params: dict[str, str]) -> dict[str, Any]:
        asked = [t for t in params["titles"].split("|")]
        props = set(params.get("prop", "").split("|"))
        query: dict[str, Any] = {}
        normalized, redirects, titles = [], [], []
        for t in asked:
            n = normalize(t)
            if n != t:
                normalized.append({"from": t, "to": n})
            page = self.wiki.pages.get(n)
            if params.get("redirects") and page is not None and page.redirect_to:
                redirects.append({"from": n, "to": page.redirect_to})
                n = page.redirect_to
            if n not in titles:
                titles.append(n)
        if normalized:
            query["normalized"] = normalized
        if redirects:
            query["redirects"] = redirects
        start = int(params.get("rvcontinue", "0"))
        pages: dict[str, Any] = {}
        missing = 0
        with_content = [t for t in titles if t in self.wiki.pages]
        content_now = set(with_content[start:start + self.content_page_size])
        for t in titles:
            page = self.wiki.pages.get(t)
            if page is None:
                missing += 1
                pages[str(-missing)] = {"ns": 0, "title": t, "missing": ""}
                continue
            entry: dict[str, Any] = {"pageid": page.pageid, "ns": page.ns, "title": page.title}
            if start == 0:
                if "info" in props:
                    entry.update(contentmodel="wikitext", pagelanguage="en", length=len(page.wikitext.encode()),
                                 lastrevid=page.pageid * 10, touched="2026-01-01T00:00:00Z")
                if "pageviews" in props:
                    entry["pageviews"] = page.pageviews(int(params.get("pvipdays", "60")))
                if "langlinks" in props:
                    links = page.langlinks()
                    if links:
                        entry["langlinks"] = links
                if "description" in props:
                    m = _SHORTDESC.search(page.wikitext)
                    if m:
                        entry.update(description=m.group(1).strip(), descriptionsource="local")
            if "revisions" in props and t in content_now and page.has_revision:
                entry["revisions"] = [{"slots": {"main": {"contentmodel": "wikitext", "contentformat": "text/x-wiki",
                                                          "*": page.wikitext}}}]
            pages[str(page.pageid)] = entry
        query["pages"] = pages
        body: dict[str, Any] = {"query": query}
        if "revisions" in props and start + self.content_page_size < len(with_content):
            body["continue"] = {"rvcontinue": str(start + self.content_page_size), "continue": "||"}
        else:
            body["batchcomplete"] = ""
        return body


def write_xml_export(wiki: FakeWiki, path: Path, compress: bool = False) -> Path:
    """Write the wiki's pages as a MediaWiki XML export (export-0.11), optionally bz2-compressed."""
    import bz2
    from xml.sax.saxutils import escape, quoteattr

    parts = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">\n',
             "  <siteinfo><sitename>Fake</sitename><dbname>fakewiki</dbname></siteinfo>\n"]
    for page in wiki.pages.values():
        redirect = f"    <redirect title={quoteattr(page.redirect_to)} />\n" if page.redirect_to else ""
        text = "" if not page.has_revision else (
            f'      <text bytes="{len(page.wikitext.encode())}" xml:space="preserve">{escape(page.wikitext)}</text>\n')
        parts.append(f"  <page>\n    <title>{escape(page.title)}</title>\n    <ns>{page.ns}</ns>\n"
                     f"    <id>{page.pageid}</id>\n{redirect}    <revision>\n      <id>{page.pageid * 10}</id>\n"
                     f"{text}    </revision>\n  </page>\n")
    parts.append("</mediawiki>\n")
    data = "".join(parts).encode("utf-8")
    path.write_bytes(bz2.compress(data) if compress else data)
    return path
