"""App-only tokens for Graph and Dataverse with msal (client credentials, cached)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from signals import sync_settings as ss
from signals.graph.errors import AuthError

TOKEN_ATTEMPTS = 3  # login requests per token, each within the request timeout

# Hosts msal knows; anything else (a test server, a private endpoint) skips its checks.
_KNOWN_LOGIN_HOSTS = {
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.microsoft.com",
    "login.windows.net",
    "login.sovcloud-identity.fr",
    "login.sovcloud-identity.de",
    "login.sovcloud-identity.sg",
}


@dataclass(frozen=True)
class Credentials:
    client_id: str
    tenant_id: str
    client_secret: str = ""
    certificate_path: str = ""
    certificate_thumbprint: str = ""
    login_url: str = "https://login.microsoftonline.com"
    ca_file: str = ""

    @classmethod
    def from_settings(cls) -> Credentials:
        """WHOKNOWS_GRAPH_* first, else the bot's own MicrosoftApp* identity."""
        fallback = ss.bot_credential_fallback()
        return cls(
            client_id=ss.GRAPH_CLIENT_ID.get() or fallback["client_id"],
            tenant_id=ss.GRAPH_TENANT_ID.get() or fallback["tenant_id"],
            client_secret=ss.GRAPH_CLIENT_SECRET.get() or fallback["client_secret"],
            certificate_path=ss.GRAPH_CERTIFICATE_PATH.get(),
            certificate_thumbprint=ss.GRAPH_CERTIFICATE_THUMBPRINT.get(),
            login_url=ss.LOGIN_URL.get().rstrip("/"),
            ca_file=ss.GRAPH_CA_FILE.get(),
        )

    def credential(self) -> str | dict[str, str]:
        if self.certificate_path:
            if not self.certificate_thumbprint:
                raise AuthError(
                    "WHOKNOWS_GRAPH_CERTIFICATE_PATH needs WHOKNOWS_GRAPH_CERTIFICATE_THUMBPRINT"
                )
            return {
                "private_key": Path(self.certificate_path).read_text(),
                "thumbprint": self.certificate_thumbprint,
            }
        if not self.client_secret:
            raise AuthError(
                "no credential for Microsoft Graph: set WHOKNOWS_GRAPH_CLIENT_SECRET (or "
                "MicrosoftAppPassword) or WHOKNOWS_GRAPH_CERTIFICATE_PATH"
            )
        return self.client_secret


class _Session(requests.Session):
    """Every login request with a timeout (msal sets none: a hung endpoint would hold the
    token lock, and with it every Graph call, for ever); trusts the given CA bundle even
    when REQUESTS_CA_BUNDLE is set (it would win)."""

    def __init__(self, ca_file: str, timeout: float) -> None:
        super().__init__()
        self.ca_file = ca_file
        self.timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.ca_file:
            kwargs.setdefault("verify", self.ca_file)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def resource_scope(base_url: str) -> str:
    """``https://graph.microsoft.com/v1.0`` -> ``https://graph.microsoft.com/.default``."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/.default"


class TokenProvider:
    """One msal confidential client; tokens are cached by msal until shortly before expiry."""

    def __init__(self, creds: Credentials, *, timeout: float | None = None) -> None:
        if not creds.client_id or not creds.tenant_id:
            raise AuthError(
                "Microsoft Graph sync needs an app id and a tenant id: set "
                "WHOKNOWS_GRAPH_CLIENT_ID and WHOKNOWS_GRAPH_TENANT_ID (or MicrosoftAppId and "
                "MicrosoftAppTenantId)"
            )
        self.creds = creds
        self.timeout = float(ss.SYNC_REQUEST_TIMEOUT.get()) if timeout is None else timeout
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: requests.Session | None = None

    def _client(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            session = _Session(self.creds.ca_file, self.timeout)
            self._session = session
            known = urlsplit(self.creds.login_url).hostname in _KNOWN_LOGIN_HOSTS
            extra: dict[str, Any] = {} if known else {"validate_authority": False}
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.creds.client_id,
                    client_credential=self.creds.credential(),
                    authority=f"{self.creds.login_url}/{self.creds.tenant_id}",
                    http_client=session,
                    token_cache=msal.TokenCache(),
                    **extra,
                )
            except (ValueError, requests.RequestException) as exc:
                raise AuthError(f"cannot reach the login endpoint: {exc}") from exc
        return self._app

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
            self._app = None

    def token_sync(self, scope: str) -> str:
        """From msal's cache, else from the login endpoint: a few attempts, each within
        the timeout, so the lock is never held longer than that budget."""
        with self._lock:
            for attempt in range(TOKEN_ATTEMPTS):
                try:
                    result = self._client().acquire_token_for_client(scopes=[scope])
                    break
                except requests.RequestException as exc:
                    if attempt + 1 == TOKEN_ATTEMPTS:
                        raise AuthError(
                            f"cannot reach the login endpoint ({type(exc).__name__}) "
                            f"after {TOKEN_ATTEMPTS} attempts"
                        ) from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            error = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
            detail = result.get("error_description", "") if isinstance(result, dict) else ""
            raise AuthError(f"token request for {scope} refused: {error} {detail}".strip())
        return str(token)

    async def token(self, scope: str) -> str:
        """A bearer token for ``scope``; msal answers from its cache when it can."""
        return await asyncio.to_thread(self.token_sync, scope)
