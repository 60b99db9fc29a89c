"""Settings of the Microsoft 365 sync (`whoknows sync`): endpoints, credentials, limits."""

from __future__ import annotations

import os
from collections.abc import Mapping

from signals.config import declare

SECTION = "Microsoft Graph sync"

GRAPH_URL = declare(
    "graph_url",
    "https://graph.microsoft.com/v1.0",
    "Microsoft Graph base URL (sovereign clouds: e.g. `https://graph.microsoft.us/v1.0`).",
    section=SECTION,
)
LOGIN_URL = declare(
    "login_url",
    "https://login.microsoftonline.com",
    "Entra ID login base URL that issues the sync's app-only tokens.",
    section=SECTION,
)
GRAPH_CLIENT_ID = declare(
    "graph_client_id",
    "",
    "App (client) id the sync signs in with. Empty: the bot's `MicrosoftAppId`.",
    section=SECTION,
)
GRAPH_CLIENT_SECRET = declare(
    "graph_client_secret",
    "",
    "Client secret of that app. Empty: the bot's `MicrosoftAppPassword` (unless a certificate "
    "is configured).",
    section=SECTION,
    secret=True,
)
GRAPH_TENANT_ID = declare(
    "graph_tenant_id",
    "",
    "Entra tenant whose Microsoft 365 is read. Empty: the bot's `MicrosoftAppTenantId`.",
    section=SECTION,
)
GRAPH_CERTIFICATE_PATH = declare(
    "graph_certificate_path",
    "",
    "PEM file with the app's private key (and certificate): signs in with a certificate "
    "instead of a secret.",
    section=SECTION,
)
GRAPH_CERTIFICATE_THUMBPRINT = declare(
    "graph_certificate_thumbprint",
    "",
    "SHA-1 thumbprint (hex) of that certificate, as shown in the app registration.",
    section=SECTION,
)
GRAPH_CA_FILE = declare(
    "graph_ca_file",
    "",
    "Extra CA bundle (PEM) trusted for Graph, login and Dataverse (TLS-inspecting proxies, "
    "tests). Empty: the system's trust store.",
    section=SECTION,
)
DATAVERSE_URL = declare(
    "dataverse_url",
    "",
    "Dynamics 365 organisation URL (`https://contoso.crm.dynamics.com`): leads and contacts "
    "are synced from it. Empty: no CRM sync.",
    section=SECTION,
)
SYNC_BACKFILL_DAYS = declare(
    "sync_backfill_days",
    365,
    "How far back, in days, the first sync of a mailbox reads mail and calendars.",
    section=SECTION,
)
SYNC_INTERVAL = declare(
    "sync_interval",
    900,
    "Seconds between two sync runs of `whoknows sync` (without `--once`).",
    section=SECTION,
)
SYNC_MAILBOX_CONCURRENCY = declare(
    "sync_mailbox_concurrency",
    4,
    "Concurrent Graph requests per mailbox (Exchange allows 4).",
    section=SECTION,
)
SYNC_PARALLEL_MAILBOXES = declare(
    "sync_parallel_mailboxes",
    8,
    "Mailboxes one sync worker reads at the same time.",
    section=SECTION,
)
SYNC_RETRY_BUDGET = declare(
    "sync_retry_budget",
    8,
    "Retries of one Graph request after 429/503/504 or a network error before the sync "
    "gives up on that source (its progress is kept).",
    section=SECTION,
)
SYNC_MAX_BACKOFF = declare(
    "sync_max_backoff",
    120.0,
    "Longest wait between two retries, in seconds (Retry-After and exponential backoff).",
    section=SECTION,
)
SYNC_FAILURE_BACKOFF = declare(
    "sync_failure_backoff",
    60.0,
    "Seconds before a failed mailbox or source is tried again; doubles with each failure in "
    "a row (with jitter) up to an hour.",
    section=SECTION,
)
SYNC_REQUEST_TIMEOUT = declare(
    "sync_request_timeout",
    60.0,
    "Seconds one Graph, Dataverse or login request may take (connect and read) before it "
    "counts as a network error and is retried within the retry budget.",
    section=SECTION,
)
SYNC_LEASE_SECONDS = declare(
    "sync_lease_seconds",
    600,
    "How long a worker holds a mailbox without progress before another worker may take it.",
    section=SECTION,
)
SYNC_PAGE_SIZE = declare(
    "sync_page_size",
    100,
    "Items per Graph page (`Prefer: odata.maxpagesize`).",
    section=SECTION,
)
SYNC_CALL_RECORDS = declare(
    "sync_call_records",
    True,
    "Read Teams call records (needs CallRecords.Read.All; skipped quietly when not granted).",
    section=SECTION,
)


def bot_credential_fallback(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The bot's own app identity, used when no WHOKNOWS_GRAPH_* credential is set.

    The one place that reads environment variables directly: these three belong to the
    bot's settings (bot/settings.py), which ``signals`` must not import, and declaring them
    twice would list them twice in the settings reference.
    """
    env = os.environ if environ is None else environ
    return {
        "client_id": env.get("MicrosoftAppId", ""),
        "client_secret": env.get("MicrosoftAppPassword", ""),
        "tenant_id": env.get("MicrosoftAppTenantId", ""),
    }
