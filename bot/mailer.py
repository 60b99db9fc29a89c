"""The e-mail route for introduction requests: Microsoft Graph `sendMail` as the requester."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import aiohttp

from bot import settings as bot_settings
from signals import sync_settings
from signals.graph.auth import Credentials, TokenProvider, resource_scope


class MailError(RuntimeError):
    """Graph refused to send the message."""


class Mailer(Protocol):
    async def send(self, *, sender: str, to: str, subject: str, body: str) -> None: ...


class GraphMailer:
    """Sends as ``sender`` (application permission Mail.Send, narrowed by Exchange RBAC)."""

    def __init__(self, base_url: str, tokens: TokenProvider, ca_file: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.ca_file = ca_file

    async def send(self, *, sender: str, to: str, subject: str, body: str) -> None:
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
        ssl: object = None
        if self.ca_file:
            import ssl as ssl_module

            ssl = ssl_module.create_default_context(cafile=self.ca_file)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url,
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
                ssl=ssl,  # type: ignore[arg-type]
            ) as response,
        ):
            if response.status != 202:
                raise MailError(f"sendMail answered {response.status}: {await response.text()}")


def mailer_from_settings() -> Mailer | None:
    """A mailer when the e-mail route is switched on and Graph credentials exist."""
    if not bot_settings.INTRO_EMAIL.get():
        return None
    creds = Credentials.from_settings()
    if not creds.client_id or not creds.tenant_id:
        return None
    return GraphMailer(sync_settings.GRAPH_URL.get(), TokenProvider(creds), creds.ca_file)
