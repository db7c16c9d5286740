"""The live source: the MediaWiki API through wikipedia-api, as a polite client.

wikipedia-api 0.16 hard-codes `https://{lang}.wikipedia.org/w/api.php`; `MediaWikiClient` takes the API URL as a
setting (a mirror or a test server stands in), throttles, sends `maxlag`, retries with jittered exponential back-off
that honours `Retry-After`, and turns an HTTP 200 `{"error": ...}` body into a typed error instead of the library's
bare `KeyError: 'query'`. Wikitext and the weight signals come from one batched prop query.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Iterator

import httpx
import wikipediaapi
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from wikipediaapi.exceptions import (
    WikiConnectionError,
    WikiHttpError,
    WikiHttpTimeoutError,
    WikiInvalidJsonError,
    WikipediaException,
    WikiRateLimitError,
)

from ..errors import SourceUnavailableError
from ..schemes import Scheme
from .answers import MembersQuery, PagesQuery, Query, Revision, WikiAnswerError, parse_answer
from .base import HarvestItem, RawPage, SkippedPage
from .deadline import deadline_transport, request_deadline

log = logging.getLogger(__name__)


class MediaWikiApiError(WikipediaException):
    """MediaWiki answered HTTP 200 with an `{"error": {"code", "info"}}` body."""

    def __init__(self, url: str, code: str, info: str) -> None:
        self.url = url
        self.code = code
        self.info = info
        super().__init__(f"MediaWiki API error {code!r} from {url}: {info}")


class MaxLagError(WikiRateLimitError):
    """The wiki's replicas lag more than our `maxlag`: come back after `retry_after` seconds."""


class WikiDeadlineError(WikiHttpTimeoutError):
    """The whole answer did not arrive within the total deadline (a server trickling bytes never trips a per-read
    timeout)."""

    def __init__(self, url: str, deadline_s: float) -> None:
        super().__init__(url)
        self.deadline_s = deadline_s


class WikiConnectionResetError(WikiConnectionError):
    """The server closed or reset the connection before a complete answer (not a timeout, not a refused connect)."""


_TRANSIENT_API_ERRORS = ("internal_api_error", "readonly", "ratelimited", "maxlag")


class _Throttle:
    """At most one request per `interval` to one API URL, shared by every client of this process."""

    _all: dict[str, "_Throttle"] = {}
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_slot = 0.0

    @classmethod
    def for_url(cls, url: str) -> "_Throttle":
        with cls._registry_lock:
            return cls._all.setdefault(url, cls())

    def wait(self, interval: float) -> None:
        with self.lock:
            now = time.monotonic()
            wait = self.next_slot - now
            self.next_slot = max(now, self.next_slot) + interval
        if wait > 0:
            time.sleep(wait)


def describe_failure(err: WikipediaException) -> str:
    """What went wrong in words a user reads: the HTTP status where there is one, and the endpoint."""
    url = getattr(err, "url", "")
    if isinstance(err, MediaWikiApiError):
        return f"MediaWiki API error {err.code!r} from {url}: {err.info}"
    if isinstance(err, WikiHttpError):
        return f"HTTP {err.status_code} from {url}"
    if isinstance(err, WikiDeadlineError):
        return f"no complete answer from {url} within the total deadline of {err.deadline_s:g} s"
    if isinstance(err, WikiHttpTimeoutError):
        return f"timed out waiting for {url}"
    if isinstance(err, WikiConnectionResetError):
        return f"the connection to {url} was reset or closed before a complete answer"
    if isinstance(err, WikiConnectionError):
        return f"could not connect to {url}"
    if isinstance(err, WikiInvalidJsonError):
        return f"invalid JSON from {url}"
    return f"{type(err).__name__}: {err}"


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, MediaWikiApiError):
        return exc.code.startswith(_TRANSIENT_API_ERRORS)
    if isinstance(exc, (WikiRateLimitError, WikiHttpTimeoutError, WikiConnectionError, WikiInvalidJsonError)):
        return True
    return isinstance(exc, WikiHttpError) and exc.status_code >= 500


class MediaWikiClient(wikipediaapi.Wikipedia):
    """wikipedia-api's client with a configurable endpoint, a throttle, maxlag and robust retries."""

    def __init__(
        self,
        api_url: str,
        user_agent: str,
        *,
        language: str = "en",
        min_interval_s: float = 0.2,
        maxlag: int | None = 5,
        max_retries: int = 5,
        retry_wait_s: float = 1.0,
        max_wait_s: float = 60.0,
        timeout_s: float = 20.0,
        deadline_s: float = 120.0,
        max_continue: int = 200,
        **httpx_kwargs: Any,
    ) -> None:
        httpx_kwargs.setdefault("transport", deadline_transport())
        super().__init__(user_agent=user_agent, language=language, max_retries=0, retry_wait=retry_wait_s,
                         timeout=timeout_s, **httpx_kwargs)
        self.api_url = api_url
        self.min_interval_s = min_interval_s
        self.maxlag = maxlag
        self.max_retries = max_retries
        self.retry_wait_s = retry_wait_s
        self.max_wait_s = max_wait_s
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.max_continue = max_continue
        self.requests_sent = 0
        self._throttle = _Throttle.for_url(api_url)
        self._backoff = wait_exponential_jitter(initial=retry_wait_s, max=max_wait_s, jitter=retry_wait_s)

    @classmethod
    def from_settings(cls, live: dict[str, Any], api_url: str | None = None, **httpx_kwargs: Any) -> "MediaWikiClient":
        return cls(
            api_url or live["api_url"], live["user_agent"], min_interval_s=live["min_interval_s"],
            maxlag=live["maxlag"], max_retries=live["max_retries"], retry_wait_s=live["retry_wait_s"],
            max_wait_s=live["max_wait_s"], timeout_s=live["timeout_s"], deadline_s=live["deadline_s"],
            max_continue=live["max_continue"], **httpx_kwargs,
        )

    def _build_url(self, language: str) -> str:  # type: ignore[override]
        return self.api_url

    def _process_response(self, r: Any, url: str) -> dict[str, Any]:
        body = super()._process_response(r, url)
        if not isinstance(body, dict):
            raise WikiAnswerError(f"the answer is a JSON {type(body).__name__}, not an object", f"live:{self.api_url}")
        error = body.get("error")
        if error is not None:
            code = str(error.get("code", "unknown")) if isinstance(error, dict) else "unknown"
            info = str(error.get("info", error)) if isinstance(error, dict) else str(error)
            if code == "maxlag":
                header = r.headers.get("Retry-After", "")
                raise MaxLagError(url, int(header) if header.isdigit() else None)
            raise MediaWikiApiError(url, code, info)
        return body

    def _wait(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception()
        if isinstance(exc, WikiRateLimitError) and exc.retry_after is not None:
            return float(min(exc.retry_after, self.max_wait_s))
        return float(self._backoff(retry_state))

    def _do_get(self, url: str, params: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        """One GET whose whole answer, headers and body, must arrive within `deadline_s`: the transport bounds
        every socket read by the time left, and the body is checked as it streams."""
        timeout = httpx.Timeout(min(self.timeout_s, self.deadline_s))
        with request_deadline(self.deadline_s) as deadline:
            try:
                with self._client.stream("GET", url, params=params, timeout=timeout) as r:
                    body = bytearray()
                    for chunk in r.iter_raw():
                        body += chunk
                        if time.monotonic() > deadline:
                            raise WikiDeadlineError(url, self.deadline_s)
                    whole = httpx.Response(r.status_code, headers=r.headers, content=bytes(body), request=r.request)
            except httpx.TimeoutException as err:
                if time.monotonic() >= deadline - 0.05:
                    raise WikiDeadlineError(url, self.deadline_s) from err
                raise
        if time.monotonic() > deadline:
            raise WikiDeadlineError(url, self.deadline_s)
        return self._process_response(whole, url)

    def _attempt(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        self._throttle.wait(self.min_interval_s)
        self.requests_sent += 1
        try:
            return self._do_get(url, params)
        except httpx.TimeoutException as err:
            raise WikiHttpTimeoutError(url) from err
        except httpx.ConnectError as err:
            raise WikiConnectionError(url) from err
        except httpx.TransportError as err:
            raise WikiConnectionResetError(url) from err

    def _get(self, language: str, params: dict[str, Any]) -> dict[str, Any]:
        url = self._build_url(language)
        params = {**params, "format": "json"}
        if self.maxlag is not None:
            params["maxlag"] = self.maxlag
        retryer = Retrying(
            stop=stop_after_attempt(1 + self.max_retries),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            reraise=True,
            before_sleep=lambda s: log.warning("retrying %s after %s", url, s.outcome.exception()),
        )
        return retryer(self._attempt, url, params)  # type: ignore[no-any-return]

    def query(self, params: dict[str, Any], model: type[Query], what: str) -> Iterator[Query]:
        """The validated `query` of each answer, following `continue` until MediaWiki says it is complete, for at
        most `max_continue` rounds and never twice with the same token."""
        params = {"action": "query", "formatversion": 1, **params}
        where = f"live:{self.api_url}"
        seen: set[tuple[tuple[str, Any], ...]] = set()
        for _ in range(1 + self.max_continue):
            query, cont = parse_answer(self._get(self.language, params), model, what, where)
            yield query
            if not cont:
                return
            token = tuple(sorted(cont.items()))
            if token in seen:
                raise WikiAnswerError(f"{what}: MediaWiki sent the same continue token twice ({dict(token)})", where)
            seen.add(token)
            params = {**params, **cont}
        raise WikiAnswerError(f"{what}: still incomplete after {self.max_continue} continue rounds (the most "
                              "allowed, live.max_continue)", where)

    def category_members(self, category: str, limit: int) -> list[tuple[int, str]]:
        """(namespace, title) of up to `limit` articles and sub-categories of `category` ('Category:...')."""
        if not category.startswith("Category:"):
            raise ValueError(f"a category title must start with 'Category:', not {category!r}")
        out: list[tuple[int, str]] = []
        params = {"list": "categorymembers", "cmtitle": category, "cmnamespace": "0|14",
                  "cmtype": "page|subcat", "cmlimit": max(1, min(limit, 500))}
        for query in self.query(params, MembersQuery, f"list=categorymembers of {category!r}"):
            for m in query.categorymembers:
                out.append((m.ns, m.title))
                if len(out) >= limit:
                    return out
        return out

    def page_batch(self, titles: list[str], pageview_days: int = 60) -> dict[str, Any]:
        """Wikitext, description, length, page views and language links of up to 50 titles, continuations merged."""
        params = {
            "titles": "|".join(titles), "prop": "revisions|info|pageviews|langlinks|description",
            "rvprop": "content", "rvslots": "main", "pvipdays": pageview_days, "lllimit": "max", "redirects": 1,
        }
        merged: dict[str, Any] = {"normalized": {}, "redirects": {}, "pages": {}}
        what = f"prop=revisions of {len(titles)} titles from {titles[0]!r}" if titles else "prop=revisions"
        for q in self.query(params, PagesQuery, what):
            merged["normalized"].update({n.from_: n.to for n in q.normalized})
            merged["redirects"].update({r.from_: r.to for r in q.redirects})
            for pid, page in q.pages.items():
                held = merged["pages"].setdefault(pid, {})
                for key, value in page.model_dump(exclude_unset=True).items():
                    if isinstance(value, list) and isinstance(held.get(key), list):
                        held[key] = held[key] + value
                    elif isinstance(value, dict) and isinstance(held.get(key), dict):
                        held[key] = {**held[key], **value}
                    else:
                        held.setdefault(key, value)
        return merged


def _wikitext(page: dict[str, Any]) -> str | None:
    revisions = page.get("revisions") or []
    return Revision.model_validate(revisions[0]).text() if revisions else None


class LiveSource:
    """Pages of a live (or mirrored, or test) MediaWiki, found by walking each type's categories."""

    def __init__(self, client: MediaWikiClient, batch_size: int = 20, pageview_days: int = 60) -> None:
        self.client = client
        self.key = f"live:{client.api_url}"
        self.batch_size = max(1, min(batch_size, 50))
        self.pageview_days = pageview_days

    def partitions(self, scheme: Scheme) -> list[str | None]:
        return list(scheme.type_names)

    def candidates(self, scheme: Scheme, partition: str | None) -> Iterator[str]:
        if partition is None:
            raise ValueError("the live source harvests one entity type at a time")
        spec = scheme.type(partition)
        limits = scheme.limits
        queue: deque[tuple[str, int]] = deque((c, 0) for c in spec.categories)
        seen_categories: set[str] = set()
        seen_titles: set[str] = set()
        while queue:
            category, depth = queue.popleft()
            if category in seen_categories:
                continue
            seen_categories.add(category)
            try:
                members = self.client.category_members(category, limits.max_members_per_category)
            except WikipediaException as err:
                raise SourceUnavailableError(repr(category), describe_failure(err), self.key,
                                             getattr(err, "status_code", None)) from err
            for ns, title in members:
                if ns == 14 and depth < limits.category_depth:
                    queue.append((title, depth + 1))
                elif ns == 0 and title not in seen_titles:
                    seen_titles.add(title)
                    yield title

    def fetch(self, titles: list[str], partition: str | None) -> Iterator[HarvestItem]:
        for start in range(0, len(titles), self.batch_size):
            batch = titles[start:start + self.batch_size]
            try:
                answer = self.client.page_batch(batch, self.pageview_days)
            except WikipediaException as err:
                for title in batch:
                    yield SkippedPage(title, "error", describe_failure(err))
                continue
            yield from self._pages(batch, answer, partition)

    def _pages(self, batch: list[str], answer: dict[str, Any], partition: str | None) -> Iterator[HarvestItem]:
        normalized, redirects = answer["normalized"], answer["redirects"]
        by_title = {p.get("title"): p for p in answer["pages"].values()}
        aliases: dict[str, list[str]] = {}
        resolved: dict[str, str] = {}
        for asked in batch:
            title = normalized.get(asked, asked)
            target = redirects.get(title, title)
            resolved[asked] = target
            if target != title:
                aliases.setdefault(target, []).append(title)
        done: set[str] = set()
        for asked in batch:
            target = resolved[asked]
            if target in done:
                continue
            done.add(target)
            page = by_title.get(target)
            if page is None:
                yield SkippedPage(asked, "malformed", "the answer has no page for this title")
            elif "missing" in page:
                yield SkippedPage(asked, "missing", "MediaWiki has no page with this title")
            elif "invalid" in page:
                yield SkippedPage(asked, "invalid", str(page.get("invalidreason", "invalid title")))
            else:
                text = _wikitext(page)
                if text is None:
                    yield SkippedPage(target, "malformed", "no wikitext in the revision")
                    continue
                views = page.get("pageviews") or {}
                yield RawPage(
                    title=target,
                    content=text,
                    content_kind="wikitext",
                    description=page.get("description"),
                    pageviews=sum(v for v in views.values() if isinstance(v, int)) if views else None,
                    langlinks=len(page.get("langlinks") or []),
                    page_length=page.get("length"),
                    harvested_for=partition,
                    aliases=sorted(set(aliases.get(target, []))),
                )

