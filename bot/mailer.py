"""The e-mail route for introduction requests: Microsoft Graph `sendMail` as the requester."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from bot import settings as bot_settings
from signals import sync_settings
from signals.graph.auth import Credentials, TokenProvider, resource_scope


class MailError(RuntimeError):
    """Graph refused to send the message."""


class Mailer(Protocol):
    async def send(self, *, sender: str, to: str, subject: str, body: str) -> None: ...


RETRY_STATUSES = {429, 502, 503, 504}


class GraphMailer:
    """Sends as ``sender`` (application permission Mail.Send, narrowed by Exchange RBAC).

    Each request has ``timeout`` seconds; throttling, 5xx gateways and network errors are
    retried (after Retry-After, else 1, 2, 4 s) while ``attempts`` and ``budget`` seconds
    allow, so an introduction never waits on Graph for longer than the budget."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        ca_file: str = "",
        *,
        timeout: float = 20.0,
        attempts: int = 3,
        budget: float = 45.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.ca_file = ca_file
        self.timeout = timeout
        self.attempts = attempts
        self.budget = budget
        self.sleep = sleep

    async def send(self, *, sender: str, to: str, subject: str, body: str) -> None:
        deadline = time.monotonic() + self.budget
        token = await self.tokens.token(resource_scope(self.base_url))
        payload = {
            "message": {
                "subject": subject,
                "body": {"contentType": "Text", "content": body},
                "toRecipients": [{"emailAddress": {"address": to}}],
            },
            "saveToSentItems": True,
        }
        url = f"{self.base_url}/users/{quote(sender)}/sendMail"
        last = ""
        for attempt in range(self.attempts):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            status, retry_after, text = await self._post(
                url, token, payload, min(left, self.timeout)
            )
            if status == 202:
                return
            if status and status not in RETRY_STATUSES:
                raise MailError(f"sendMail answered {status}: {text[:200]}")
            last = f"answered {status}" if status else text
            wait = _wait(retry_after, attempt)
            if attempt + 1 < self.attempts and time.monotonic() + wait < deadline:
                await self.sleep(wait)
            else:
                break
        raise MailError(f"sendMail failed within its budget ({last})")

    async def _post(
        self, url: str, token: str, payload: dict[str, Any], timeout: float
    ) -> tuple[int, str | None, str]:
        """(status, Retry-After, body); status 0 for a timeout or a network error."""
        ssl: object = None
        if self.ca_file:
            import ssl as ssl_module

            ssl = ssl_module.create_default_context(cafile=self.ca_file)
        try:
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True),
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as http,
                http.post(
                    url,
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                    ssl=ssl,  # type: ignore[arg-type]
                ) as response,
            ):
                return response.status, response.headers.get("Retry-After"), await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return 0, None, f"network error ({type(exc).__name__})"


def _wait(retry_after: str | None, attempt: int) -> float:
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else float(2**attempt)
    except ValueError:
        return float(2**attempt)


def mailer_from_settings() -> Mailer | None:
    """A mailer when the e-mail route is switched on and Graph credentials exist."""
    if not bot_settings.INTRO_EMAIL.get():
        return None
    creds = Credentials.from_settings()
    if not creds.client_id or not creds.tenant_id:
        return None
    return GraphMailer(sync_settings.GRAPH_URL.get(), TokenProvider(creds), creds.ca_file)
