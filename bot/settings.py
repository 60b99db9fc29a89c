"""Settings of the Teams bot server: Bot Framework identity, tenants, token validation."""

from __future__ import annotations

from signals.config import declare

SECTION = "Teams bot"

MICROSOFT_APP_ID = declare(
    "microsoft_app_id",
    "",
    "The bot's Microsoft app (client) id. Empty: local development mode, no authentication, "
    "loopback only.",
    section=SECTION,
    env="MicrosoftAppId",
)
MICROSOFT_APP_PASSWORD = declare(
    "microsoft_app_password",
    "",
    "The app's client secret, used to get tokens for replies to Teams.",
    section=SECTION,
    env="MicrosoftAppPassword",
    secret=True,
)
MICROSOFT_APP_TYPE = declare(
    "microsoft_app_type",
    "MultiTenant",
    "`MultiTenant`, `SingleTenant` or `UserAssignedMSI`, as registered in Azure Bot Service.",
    section=SECTION,
    env="MicrosoftAppType",
)
MICROSOFT_APP_TENANT_ID = declare(
    "microsoft_app_tenant_id",
    "",
    "The app's home tenant (required for SingleTenant); also a tenant the bot serves.",
    section=SECTION,
    env="MicrosoftAppTenantId",
)
ALLOWED_TENANTS = declare(
    "allowed_tenants",
    (),
    "Further Entra tenant ids the bot serves (comma-separated); others get no data.",
    section=SECTION,
)
BOT_OPENID_METADATA_URL = declare(
    "bot_openid_metadata_url",
    "",
    "OpenID metadata URL for validating incoming tokens, instead of Bot Framework's "
    "(tests and private clouds only).",
    section=SECTION,
)
BOT_TOKEN_ISSUER = declare(
    "bot_token_issuer",
    "https://api.botframework.com",
    "Issuer expected in incoming tokens; read only with `WHOKNOWS_BOT_OPENID_METADATA_URL`.",
    section=SECTION,
)
BOT_SDK = declare(
    "bot_sdk",
    "botbuilder",
    "The SDK that hosts the bot: `botbuilder` (Bot Framework SDK 4.17.1, out of support since "
    "2025-12-31) or `agents` (Microsoft 365 Agents SDK). Nothing else changes when you switch.",
    section=SECTION,
)
BOT_EMULATOR_TOKENS = declare(
    "bot_emulator_tokens",
    False,
    "Accept tokens issued for the Bot Framework Emulator (local testing only). Off: such "
    "tokens get 401 without any network call.",
    section=SECTION,
)
BOT_OPENID_TIMEOUT_SECONDS = declare(
    "bot_openid_timeout_seconds",
    5.0,
    "Longest wait for OpenID metadata and signing keys (per fetch, all attempts included); a "
    "failed fetch is not retried for a minute.",
    section=SECTION,
)
CONNECTOR_TIMEOUT_SECONDS = declare(
    "connector_timeout_seconds",
    10.0,
    "Longest wait for one Bot Connector call (a reply, an update, creating a conversation), "
    "its token included.",
    section=SECTION,
)
CONNECTOR_BUDGET_SECONDS = declare(
    "connector_budget_seconds",
    30.0,
    "Longest time one proactive send may take with its retries (throttling, gateway errors).",
    section=SECTION,
)
MAX_REQUEST_BYTES = declare(
    "max_request_bytes",
    256 * 1024,
    "Largest request body `/api/messages` accepts (larger: 413).",
    section=SECTION,
)

# --- Teams app package (`whoknows manifest`) ---

APP_PACKAGE_SECTION = "Teams app package"

APP_DEVELOPER_NAME = declare(
    "app_developer_name",
    "whoknows open-source project",
    "Developer name shown on the app's page in Teams (at most 32 characters): "
    "usually your organisation.",
    section=APP_PACKAGE_SECTION,
)
APP_WEBSITE_URL = declare(
    "app_website_url",
    "",
    "Support page linked from the app's page in Teams. Empty: `https://<domain>/`.",
    section=APP_PACKAGE_SECTION,
)
APP_PRIVACY_URL = declare(
    "app_privacy_url",
    "",
    "Privacy statement linked from the app's page in Teams. Empty: `https://<domain>/privacy`.",
    section=APP_PACKAGE_SECTION,
)
APP_TERMS_URL = declare(
    "app_terms_url",
    "",
    "Terms of use linked from the app's page in Teams. Empty: `https://<domain>/terms`.",
    section=APP_PACKAGE_SECTION,
)

CONVERSATION = "Conversation and introductions"

REQUESTS_PER_DAY = declare(
    "requests_per_day",
    10,
    "Introduction requests one person may send per day.",
    section=CONVERSATION,
)
OPEN_REQUESTS_PER_COLLEAGUE = declare(
    "open_requests_per_colleague",
    5,
    "Unanswered requests a colleague may have before they are not asked again for a while.",
    section=CONVERSATION,
)
DEV_USER = declare(
    "dev_user",
    "",
    "Local development only (no MicrosoftAppId): the colleague (e-mail) a Teams user the "
    "directory doesn't know is taken for, e.g. in the Agents Playground.",
    section=CONVERSATION,
)
ALLOW_INTERNAL_LEADS = declare(
    "allow_internal_leads",
    False,
    "Let a colleague be the lead of a question or a card action (off: leads are external "
    "people and companies only, whatever a card's data says).",
    section=CONVERSATION,
)
ACCESS_CONTACT = declare(
    "access_contact",
    "",
    "Whom a person who may not ask is told to ask for access (a name, team or address). "
    "Empty: their IT administrator.",
    section=CONVERSATION,
)
INTRO_EMAIL = declare(
    "intro_email",
    False,
    "Offer to send a request by e-mail, as the requester, through Microsoft Graph `sendMail` "
    "when the colleague can't be reached in Teams (needs the Mail.Send permission).",
    section=CONVERSATION,
)
ACK_AFTER_SECONDS = declare(
    "ack_after_seconds",
    1.0,
    "An answer not ready after this many seconds is acknowledged with a 'looking up' card "
    "that the answer then replaces.",
    section=CONVERSATION,
)

HEADS_UP_SECTION = "New-lead heads-up"

HEADS_UP = declare(
    "heads_up",
    True,
    "Tell colleagues who knows a lead when the Dynamics 365 sync sees it newly assigned to "
    "them: the default for everyone who has not typed `notify off` or `notify on`.",
    section=HEADS_UP_SECTION,
)
HEADS_UP_PER_COLLEAGUE_PER_DAY = declare(
    "heads_up_per_colleague_per_day",
    5,
    "Heads-ups one colleague gets in 24 hours; more wait for the next day (see "
    "`WHOKNOWS_HEADS_UP_MAX_AGE_HOURS`).",
    section=HEADS_UP_SECTION,
)
HEADS_UP_PER_TENANT_PER_MINUTE = declare(
    "heads_up_per_tenant_per_minute",
    30,
    "Heads-ups sent per minute in one tenant (Teams allows about 50 messages per second per "
    "app and tenant; bulk assignments should not crowd out answers).",
    section=HEADS_UP_SECTION,
)
HEADS_UP_MAX_AGE_HOURS = declare(
    "heads_up_max_age_hours",
    72,
    "A heads-up held back by a limit for longer than this is dropped: old news.",
    section=HEADS_UP_SECTION,
)
HEADS_UP_INTERVAL_SECONDS = declare(
    "heads_up_interval_seconds",
    60.0,
    "How often `whoknows serve` looks for heads-ups to send.",
    section=HEADS_UP_SECTION,
)
TEAMS_SERVICE_URL = declare(
    "teams_service_url",
    "https://smba.trafficmanager.net/teams/",
    "Bot Connector address for a heads-up to a colleague the bot has not talked to yet, "
    "used when no stored conversation gives one.",
    section=HEADS_UP_SECTION,
)
