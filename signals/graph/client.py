"""An async Graph (and Dataverse) client: paging, delta links, throttling, per-mailbox limits.

Exchange allows 4 concurrent requests per mailbox: every request names the mailbox it
reads, and a semaphore per mailbox keeps to that. 429, 502, 503 and 504 are retried after
``Retry-After`` (else exponential backoff with full jitter) until the retry budget is
spent. The sleep and the random source are injectable so that tests never wait.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from signals.graph.errors import DeltaExpired, GraphError, NotPermitted, RetryBudgetExhausted

RETRY_STATUSES = {429, 502, 503, 504}
EXPIRED_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
BASE_BACKOFF = 1.0

TokenSource = Callable[[], Awaitable[str]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class ClientStats:
    requests: int = 0
    throttled: int = 0  # answers 429/503/504 (and 502) that were retried or gave up
    retries: int = 0
    waited_seconds: float = 0.0

    def add(self, other: ClientStats) -> None:
        self.requests += other.requests
        self.throttled += other.throttled
        self.retries += other.retries
        self.waited_seconds += other.waited_seconds


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None
    url: str = ""


@dataclass
class GraphClient:
    """Requests against one base URL with one token scope."""

    base_url: str
    token: TokenSource
    ca_file: str = ""
    per_mailbox: int = 4
    retry_budget: int = 8
    max_backoff: float = 120.0
    request_timeout: float = 60.0  # one request, connect to last byte
    sleep: Sleep = asyncio.sleep
    rand: Callable[[], float] = random.random
    user_agent: str = "whoknows-sync"
    on_close: Callable[[], None] | None = None
    stats: ClientStats = field(default_factory=ClientStats)
    _session: aiohttp.ClientSession | None = None
    _limits: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """Absolute URL: paths are relative to the base; links from Graph are used as is."""
        if path.startswith(("https://", "http://")):
            full = path
        else:
            full = self.base_url.rstrip("/") + "/" + path.lstrip("/")
        if params:
            full += ("&" if "?" in full else "?") + urlencode(params, safe="$,:'()")
        return full

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=self.ca_file or None)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context, limit=64),
                timeout=aiohttp.ClientTimeout(
                    total=self.request_timeout,
                    sock_connect=self.request_timeout,
                    sock_read=self.request_timeout,
                ),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.on_close is not None:
            self.on_close()

    def _limit(self, mailbox: str | None) -> asyncio.Semaphore | None:
        if mailbox is None:
            return None
        if mailbox not in self._limits:
            self._limits[mailbox] = asyncio.Semaphore(self.per_mailbox)
        return self._limits[mailbox]

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(self.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: fall back to backoff
        return float(min(self.max_backoff, BASE_BACKOFF * 2**attempt) * self.rand())

    async def get_json(
        self,
        path: str,
        *,
        mailbox: str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """GET one resource, retrying throttling and transient failures within the budget."""
        url = self.url(path, params)
        attempt = 0
        while True:
            status, body, retry_after = await self._once(url, mailbox, headers)
            if status == 200:
                return body
            retryable = status in RETRY_STATUSES or status == 0
            if not retryable:
                raise _error(status, body, url)
            if status:
                self.stats.throttled += 1
            if attempt >= self.retry_budget:
                raise RetryBudgetExhausted(
                    f"gave up on {url} after {attempt + 1} attempts "
                    f"(last answer {status or 'network error'}); progress so far is kept",
                    status=status,
                    code=_code(body),
                    url=url,
                    attempts=attempt + 1,
                )
            delay = self._backoff(attempt, retry_after)
            attempt += 1
            self.stats.retries += 1
            self.stats.waited_seconds += delay
            await self.sleep(delay)

    async def _once(
        self, url: str, mailbox: str | None, headers: Mapping[str, str] | None
    ) -> tuple[int, dict[str, Any], str | None]:
        token = await self.token()
        sent = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        sent.update(headers or {})
        limit = self._limit(mailbox)
        try:
            if limit is not None:
                await limit.acquire()
            self.stats.requests += 1
            async with self._http().get(url, headers=sent) as resp:
                text = await resp.text()
                retry_after = resp.headers.get("Retry-After")
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            return 0, {"error": {"code": "network", "message": str(exc)}}, None
        finally:
            if limit is not None:
                limit.release()
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {"error": {"code": "notJson", "message": text[:200]}}
        return status, body if isinstance(body, dict) else {"value": body}, retry_after

    async def pages(
        self,
        start: str,
        *,
        mailbox: str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Page]:
        """Every page from ``start`` (a path, a nextLink or a deltaLink) to the last one.

        Query options go on the first request only: Graph encodes them into its links.
        """
        url: str | None = self.url(start, params)
        while url is not None:
            body = await self.get_json(url, mailbox=mailbox, headers=headers)
            items = body.get("value", [])
            next_link = body.get("@odata.nextLink")
            delta_link = body.get("@odata.deltaLink")
            yield Page(list(items) if isinstance(items, list) else [], next_link, delta_link, url)
            url = next_link


def _code(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code", ""))
    return ""


def _error(status: int, body: Mapping[str, Any], url: str) -> GraphError:
    code = _code(body)
    error = body.get("error")
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    text = f"{status} {code}: {message} ({url})"
    if status == 410 or code.lower() in EXPIRED_CODES:
        return DeltaExpired(text, status=status, code=code, url=url)
    if status == 403:
        return NotPermitted(text, status=status, code=code, url=url)
    return GraphError(text, status=status, code=code, url=url)
