"""Endpoint checks (`--endpoint URL`): HTTPS, the host resolves, `/healthz` answers, and
`/api/messages` is there and refuses requests without a Bot Framework token."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

from cli.doctor.result import Check, Options, failure, ok, warning

FAMILY = "endpoint"
MESSAGES_PATH = "/api/messages"
TIMEOUT = 10.0
PROBE = {"type": "typing", "channelId": "msteams", "id": "whoknows-doctor"}
"""An activity that asks nothing of the bot: a secured one must refuse it (no token)."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def run(options: Options) -> list[Check]:
    raw = (options.endpoint or "").strip()
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    host = parts.hostname or ""
    if parts.scheme != "https":
        return [
            failure(
                FAMILY,
                "HTTPS",
                f"{raw} is not HTTPS: Azure Bot Service only calls HTTPS messaging endpoints",
                "Put the container behind a TLS-terminating proxy or ingress with a publicly "
                "trusted certificate and use https://.",
            )
        ]
    if not host:
        return [
            failure(
                FAMILY,
                "URL",
                f"{raw!r} has no host name",
                "Give the bot's public URL, e.g. https://whoknows.contoso.com",
            )
        ]
    checks: list[Check] = [ok(FAMILY, "HTTPS", f"https://{parts.netloc}")]
    path = parts.path.rstrip("/")
    if path and path != MESSAGES_PATH:
        checks.append(
            failure(
                FAMILY,
                "messaging path",
                f"the path is {parts.path}; whoknows receives Teams messages at {MESSAGES_PATH}",
                f"Azure portal > the Azure Bot > Configuration > Messaging endpoint: "
                f"https://{parts.netloc}{MESSAGES_PATH}",
            )
        )
    if _is_ip(host) or host == "localhost" or host.endswith(".localhost"):
        checks.append(
            warning(
                FAMILY,
                "host name",
                f"{host} is not a public host name: Teams app packages need one in validDomains",
                "Use the DNS name the certificate is issued for.",
            )
        )
    port = parts.port or 443
    try:
        await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        checks.append(
            failure(
                FAMILY,
                "DNS",
                f"{host} does not resolve: {exc}",
                "Create the DNS record (A/AAAA or CNAME) for the host pointing at your ingress.",
            )
        )
        return checks
    checks.append(ok(FAMILY, "DNS", f"{host} resolves"))
    base = f"https://{parts.netloc}"
    context = ssl.create_default_context()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context), timeout=timeout
    ) as session:
        try:
            async with session.get(f"{base}/healthz") as resp:
                status = resp.status
        except aiohttp.ClientSSLError as exc:
            checks.append(
                failure(
                    FAMILY,
                    "TLS",
                    f"the certificate of {host} is not trusted: {exc}",
                    "Bot Service needs a certificate from a public CA that covers the host name, "
                    "with its full chain served.",
                )
            )
            return checks
        except (aiohttp.ClientError, TimeoutError) as exc:
            checks.append(
                failure(
                    FAMILY,
                    "/healthz",
                    f"{base}/healthz does not answer: {exc or type(exc).__name__}",
                    "Check that the container runs (`whoknows serve --host 0.0.0.0`) and that the "
                    "ingress forwards port 443 to its port 3978.",
                )
            )
            return checks
        if status != 200:
            checks.append(
                failure(
                    FAMILY,
                    "/healthz",
                    f"{base}/healthz answered {status}",
                    "The ingress does not reach whoknows: check its routing to port 3978.",
                )
            )
            return checks
        checks.append(ok(FAMILY, "/healthz", f"{base}/healthz answers 200"))
        try:
            async with session.post(f"{base}{MESSAGES_PATH}", json=PROBE) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = 0
            checks.append(warning(FAMILY, MESSAGES_PATH, f"no answer: {exc}", "Check the ingress."))
            return checks
    if status == 401:
        checks.append(
            ok(
                FAMILY,
                MESSAGES_PATH,
                "present, and refuses a request without a Bot Framework token",
            )
        )
    elif status in (404, 405):
        checks.append(
            failure(
                FAMILY,
                MESSAGES_PATH,
                f"{base}{MESSAGES_PATH} answered {status}",
                f"Route {MESSAGES_PATH} to whoknows in the ingress (POST must reach it).",
            )
        )
    else:
        checks.append(
            failure(
                FAMILY,
                MESSAGES_PATH,
                f"{base}{MESSAGES_PATH} answered {status} to a request without a token: the "
                "server runs without MicrosoftAppId, unauthenticated",
                "Set MicrosoftAppId, MicrosoftAppPassword, MicrosoftAppTenantId and "
                "MicrosoftAppType in the container.",
            )
        )
    return checks
