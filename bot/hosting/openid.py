"""Token signing keys from OpenID metadata, fetched without ever blocking the event loop.

Both SDKs fetch signing keys with blocking calls (botbuilder: ``requests`` without a
timeout, on the event loop; the Agents SDK: a thread holding a lock for up to 30 s), and
both let the *unverified* issuer of a token decide where to fetch from. The hosts read keys
only from here: one :class:`SigningKeys` per configured metadata URL, refreshed with
aiohttp under a time limit, at most once a minute after a failure or for an unknown key
id, so an unauthenticated client can neither stall the server nor make it call out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import jwt

log = logging.getLogger("whoknows.bot")

REFRESH_AFTER = 12 * 3600.0
"""Seconds before keys are refreshed (the SDKs' own cache lives a day)."""
RETRY_AFTER = 60.0
"""Seconds between two fetches after a failure or for a key id not in the set."""

Fetch = Callable[[str, float], Awaitable[Any]]


async def fetch_json(url: str, timeout: float) -> Any:
    """GET a JSON document, all of it within ``timeout`` seconds."""
    limit = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=limit) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        response.raise_for_status()
        return await response.json(content_type=None)


class SigningKeys:
    """The JWKS of one OpenID metadata URL, kept fresh off the request path when it can be."""

    def __init__(
        self,
        metadata_url: str,
        *,
        timeout: float,
        fetch: Fetch = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metadata_url = metadata_url
        self.timeout = timeout
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self._fetch = fetch
        self._clock = clock
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()

    def _due(self, now: float, kid: str | None) -> bool:
        if self._tried_at is not None and now - self._tried_at < RETRY_AFTER:
            return False
        if self._fetched_at is None or now - self._fetched_at >= REFRESH_AFTER:
            return True
        return kid is not None and self._find(kid) is None

    def _find(self, kid: str) -> dict[str, Any] | None:
        return next((k for k in self.keys if k.get("kid") == kid), None)

    async def _refresh(self) -> None:
        self._tried_at = self._clock()
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                metadata = await self._fetch(self.metadata_url, self.timeout)
                jwks = await self._fetch(str(metadata["jwks_uri"]), self.timeout)
            keys = [k for k in jwks["keys"] if isinstance(k, Mapping)]
        except (TimeoutError, aiohttp.ClientError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "cannot fetch token signing keys from %s: %s", self.metadata_url, exc or "timeout"
            )
            return
        self.keys = [dict(k) for k in keys]
        self._fetched_at = self._clock()

    async def ensure(self, kid: str | None = None) -> None:
        """Refresh when due: never fetched, old, or ``kid`` unknown (each at most once a minute)."""
        if not self._due(self._clock(), kid):
            return
        async with self._lock:
            if self._due(self._clock(), kid):
                await self._refresh()

    async def find(self, kid: str) -> dict[str, Any] | None:
        """The JWK with this key id, refreshing first if needed; None when there is none."""
        await self.ensure(kid)
        return self._find(kid)

    @property
    def usable(self) -> bool:
        """Keys were fetched within a day (older keys are too stale to trust)."""
        return self._fetched_at is not None and self._clock() - self._fetched_at < 2 * REFRESH_AFTER


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a JWT without checking anything; None when it is not one."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def bearer_token(auth_header: str) -> str | None:
    """The token of ``Bearer <token>``; None for any other shape."""
    parts = auth_header.split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]
