"""Settings checks: the app identity, tenants, the Graph credential, unknown variables.

These read the environment only; nothing here touches the network.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot import settings as bs
from cli.doctor.result import Check, Options, failure, ok, warning
from signals import sync_settings as ss
from signals.config import Setting, SettingError, all_settings

FAMILY = "settings"
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
APP_TYPES = {"singletenant": "SingleTenant", "multitenant": "MultiTenant"}
MSI = "userassignedmsi"
EXPIRY_WARNING = timedelta(days=30)
AGENTS_SDK_PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
IGNORED_PREFIXES = ("WHOKNOWS_TEST_",)
"""Variables of the test suite, not settings."""


def _is_guid(value: str) -> bool:
    return bool(GUID.match(value.strip()))


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


def values(environ: Mapping[str, str]) -> list[Check]:
    """Every declared setting parses."""
    bad = []
    for s in all_settings():
        try:
            s.get(environ)
        except SettingError as exc:
            bad.append(str(exc))
    if bad:
        return [
            failure(
                FAMILY,
                "values",
                "; ".join(bad),
                "Correct these values (`whoknows settings` lists each setting and its meaning).",
            )
        ]
    return [ok(FAMILY, "values", "every setting that is set has a valid value")]


def unknown_variables(environ: Mapping[str, str]) -> list[Check]:
    """A variable that looks like a setting but is not one is silently ignored: say so."""
    declared = {s.env for s in all_settings()}
    by_squash = {_squash(env): env for env in declared}
    found = []
    for name in sorted(environ):
        if name in declared or name.startswith(IGNORED_PREFIXES):
            continue
        looks_like_ours = name.startswith("WHOKNOWS_") or _squash(name).startswith("microsoftapp")
        if not looks_like_ours:
            continue
        exact = by_squash.get(_squash(name))
        guess = exact or next(iter(difflib.get_close_matches(name, declared, n=1, cutoff=0.6)), "")
        found.append(f"{name} (did you mean {guess}?)" if guess else name)
    checks = []
    if found:
        checks.append(
            warning(
                FAMILY,
                "unknown variables",
                "set but declared by no setting, so ignored: " + ", ".join(found),
                "Rename each to the setting it was meant for (names are case-sensitive), or "
                "remove it; `whoknows settings` lists every variable.",
            )
        )
    else:
        checks.append(
            ok(FAMILY, "unknown variables", "no unknown WHOKNOWS_ or MicrosoftApp* variable")
        )
    if any(k.startswith(AGENTS_SDK_PREFIX) for k in environ) and not bs.MICROSOFT_APP_ID.get(
        environ
    ):
        checks.append(
            warning(
                FAMILY,
                "Agents SDK variables",
                f"{AGENTS_SDK_PREFIX}* is set but MicrosoftAppId is not",
                "whoknows reads the bot identity from MicrosoftAppId, MicrosoftAppPassword, "
                "MicrosoftAppTenantId and MicrosoftAppType: set those.",
            )
        )
    return checks


def app_identity(environ: Mapping[str, str]) -> list[Check]:
    """MicrosoftAppId, type, tenant and secret: present, well-formed and consistent."""
    app_id = bs.MICROSOFT_APP_ID.get(environ).strip()
    password = bs.MICROSOFT_APP_PASSWORD.get(environ)
    raw_type = bs.MICROSOFT_APP_TYPE.get(environ).strip()
    tenant = bs.MICROSOFT_APP_TENANT_ID.get(environ).strip()
    type_set = bs.MICROSOFT_APP_TYPE.env in environ
    name = "bot identity"
    if not app_id:
        return [
            failure(
                FAMILY,
                name,
                "MicrosoftAppId is not set: the bot runs in local development mode (no "
                "authentication, loopback only) and Teams cannot reach it",
                "Set MicrosoftAppId to the Application (client) ID of the Entra app registration "
                "(Entra admin center > App registrations > Who Knows > Overview), see "
                "docs/admin-install.md step 1.",
            )
        ]
    checks = []
    if not _is_guid(app_id):
        checks.append(
            failure(
                FAMILY,
                name,
                f"MicrosoftAppId {app_id!r} is not a GUID",
                "Copy the Application (client) ID from the app registration's Overview page "
                "(not its name, not the Object ID of the enterprise application).",
            )
        )
    app_type = raw_type.lower()
    if app_type == MSI:
        checks.append(
            warning(
                FAMILY,
                "app type",
                "MicrosoftAppType=UserAssignedMSI: the bot signs in with a managed identity, but "
                "the Microsoft Graph sync needs a secret or certificate",
                "Set WHOKNOWS_GRAPH_CLIENT_ID, WHOKNOWS_GRAPH_TENANT_ID and "
                "WHOKNOWS_GRAPH_CLIENT_SECRET (or WHOKNOWS_GRAPH_CERTIFICATE_PATH) for the sync.",
            )
        )
    elif app_type not in APP_TYPES:
        checks.append(
            failure(
                FAMILY,
                "app type",
                f"MicrosoftAppType={raw_type!r} is not a type Azure Bot Service knows",
                "Set MicrosoftAppType=SingleTenant (as chosen when creating the Azure Bot).",
            )
        )
    elif app_type == "multitenant":
        default = "" if type_set else " (the default, as MicrosoftAppType is not set)"
        checks.append(
            warning(
                FAMILY,
                "app type",
                f"MicrosoftAppType=MultiTenant{default}: Azure no longer creates new multi-tenant "
                "bots, and a single-tenant Azure Bot rejects the tokens a multi-tenant "
                "configuration asks for",
                "Set MicrosoftAppType=SingleTenant and MicrosoftAppTenantId to the Directory "
                "(tenant) ID, matching the Azure Bot's Configuration page (Type of app).",
            )
        )
    else:
        checks.append(ok(FAMILY, "app type", f"MicrosoftAppType={APP_TYPES[app_type]}"))
    if not tenant:
        if app_type != "multitenant":
            checks.append(
                failure(
                    FAMILY,
                    "tenant",
                    f"MicrosoftAppType={raw_type or 'MultiTenant'} needs MicrosoftAppTenantId, "
                    "which is not set",
                    "Set MicrosoftAppTenantId to the Directory (tenant) ID shown on the app "
                    "registration's Overview page.",
                )
            )
    elif tenant.lower() in {"common", "organizations", "consumers", "botframework.com"}:
        checks.append(
            failure(
                FAMILY,
                "tenant",
                f"MicrosoftAppTenantId={tenant!r} is not your tenant",
                "Set MicrosoftAppTenantId to your Directory (tenant) ID, a GUID.",
            )
        )
    elif not _is_guid(tenant):
        checks.append(
            failure(
                FAMILY,
                "tenant",
                f"MicrosoftAppTenantId={tenant!r} is not a GUID: Teams identifies the tenant by "
                "its id, so messages from it would be refused",
                "Use the Directory (tenant) ID (a GUID) from the app registration's Overview page, "
                "not a domain name.",
            )
        )
    if app_type != MSI:
        if not password:
            checks.append(
                failure(
                    FAMILY,
                    "secret",
                    "MicrosoftAppPassword is not set: the bot cannot get a token to reply",
                    "App registration > Certificates & secrets > New client secret; put its "
                    "Value (shown once) in MicrosoftAppPassword.",
                )
            )
        elif _is_guid(password):
            checks.append(
                failure(
                    FAMILY,
                    "secret",
                    "MicrosoftAppPassword looks like a GUID: that is the secret's ID, not "
                    "its value",
                    "Certificates & secrets shows a Secret ID and a Value: MicrosoftAppPassword "
                    "takes the Value (create a new secret if it is no longer shown).",
                )
            )
        else:
            checks.append(ok(FAMILY, "secret", "MicrosoftAppPassword is set"))
    if not any(c.name == name for c in checks):
        where = f", tenant {tenant}" if tenant else ""
        checks.insert(0, ok(FAMILY, name, f"MicrosoftAppId {app_id}{where}"))
    return checks


QUOTES = ("'", '"')


def pasted_values(environ: Mapping[str, str]) -> list[Check]:
    """Ids and secrets pasted with quotes or spaces: `docker --env-file` keeps them."""
    names = (
        bs.MICROSOFT_APP_ID,
        bs.MICROSOFT_APP_PASSWORD,
        bs.MICROSOFT_APP_TENANT_ID,
        bs.MICROSOFT_APP_TYPE,
        ss.GRAPH_CLIENT_ID,
        ss.GRAPH_CLIENT_SECRET,
        ss.GRAPH_TENANT_ID,
    )
    odd = []
    for s in names:
        raw = environ.get(s.env, "")
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in QUOTES:
            odd.append(f"{s.env} is wrapped in quotes")
        elif raw != raw.strip():
            odd.append(f"{s.env} has spaces or a line break around it")
    if not odd:
        return []
    return [
        failure(
            FAMILY,
            "pasted values",
            "; ".join(odd),
            "Remove the quotes and spaces: an env file (`docker run --env-file`, Kubernetes "
            "secrets from a file) keeps them as part of the value.",
        )
    ]


def token_validation(environ: Mapping[str, str]) -> list[Check]:
    """A test OpenID endpoint left in production trusts whatever keys it lists."""
    url = bs.BOT_OPENID_METADATA_URL.get(environ).strip()
    if not url or not bs.MICROSOFT_APP_ID.get(environ).strip():
        return []
    return [
        warning(
            FAMILY,
            "token validation",
            f"{bs.BOT_OPENID_METADATA_URL.env}={url}: incoming requests are validated against "
            "these keys instead of Bot Framework's",
            f"Unset {bs.BOT_OPENID_METADATA_URL.env} and {bs.BOT_TOKEN_ISSUER.env} unless this "
            "is a sovereign cloud's Bot Framework endpoint.",
        )
    ]


def tenants(environ: Mapping[str, str]) -> list[Check]:
    """Teams sends tenant ids; the allow-list must hold ids and at least one tenant."""
    listed: tuple[str, ...] = bs.ALLOWED_TENANTS.get(environ)
    allowed = [t.strip() for t in listed if t.strip()]
    app_tenant = bs.MICROSOFT_APP_TENANT_ID.get(environ).strip()
    not_ids = [t for t in allowed if not _is_guid(t)]
    if not_ids:
        return [
            failure(
                FAMILY,
                "tenant allow-list",
                f"{bs.ALLOWED_TENANTS.env} holds values that are not tenant ids: "
                + ", ".join(not_ids),
                "List tenant ids (GUIDs), comma-separated: Teams identifies a tenant by its id, "
                "so a domain name never matches.",
            )
        ]
    if not allowed and not app_tenant and bs.MICROSOFT_APP_ID.get(environ):
        return [
            failure(
                FAMILY,
                "tenant allow-list",
                "no tenant is configured: the bot serves nobody",
                f"Set MicrosoftAppTenantId (your tenant) or {bs.ALLOWED_TENANTS.env}.",
            )
        ]
    served = sorted({*(t.lower() for t in allowed), *([app_tenant.lower()] if app_tenant else [])})
    return [ok(FAMILY, "tenant allow-list", "serves " + (", ".join(served) or "(development)"))]


def _setting_or_bot(own: Setting[str], fallback: Setting[str], environ: Mapping[str, str]) -> str:
    return own.get(environ).strip() or fallback.get(environ).strip()


def graph_credential(environ: Mapping[str, str], options: Options) -> list[Check]:
    """The Graph sync's app, tenant and secret or certificate."""
    name = "Graph credential"
    client = _setting_or_bot(ss.GRAPH_CLIENT_ID, bs.MICROSOFT_APP_ID, environ)
    tenant = _setting_or_bot(ss.GRAPH_TENANT_ID, bs.MICROSOFT_APP_TENANT_ID, environ)
    secret = ss.GRAPH_CLIENT_SECRET.get(environ) or bs.MICROSOFT_APP_PASSWORD.get(environ)
    cert = ss.GRAPH_CERTIFICATE_PATH.get(environ).strip()
    if not client or not tenant:
        return [
            failure(
                FAMILY,
                name,
                "no app id or tenant for Microsoft Graph",
                "Set MicrosoftAppId and MicrosoftAppTenantId (or WHOKNOWS_GRAPH_CLIENT_ID and "
                "WHOKNOWS_GRAPH_TENANT_ID for a separate Graph app).",
            )
        ]
    checks: list[Check] = []
    if cert:
        checks += _certificate(cert, ss.GRAPH_CERTIFICATE_THUMBPRINT.get(environ), options.now)
    elif not secret:
        checks.append(
            failure(
                FAMILY,
                name,
                f"no secret or certificate for the Graph app {client}",
                "Set WHOKNOWS_GRAPH_CLIENT_SECRET (or MicrosoftAppPassword when the bot's app "
                "reads Graph) or WHOKNOWS_GRAPH_CERTIFICATE_PATH and _THUMBPRINT.",
            )
        )
    bot_id = bs.MICROSOFT_APP_ID.get(environ).strip()
    bot_tenant = bs.MICROSOFT_APP_TENANT_ID.get(environ).strip()
    if bot_tenant and tenant.lower() != bot_tenant.lower():
        checks.append(
            warning(
                FAMILY,
                "Graph tenant",
                f"the sync reads tenant {tenant} but the bot's tenant is {bot_tenant}",
                "Usually both are your tenant: correct WHOKNOWS_GRAPH_TENANT_ID or "
                "MicrosoftAppTenantId.",
            )
        )
    if not checks:
        separate = (
            f" (a separate app from the bot's {bot_id}: build the app package with "
            f"--graph-app-id {client})"
            if bot_id and client.lower() != bot_id.lower()
            else ""
        )
        how = "certificate" if cert else "secret"
        checks.append(ok(FAMILY, name, f"app {client}, tenant {tenant}, {how}{separate}"))
    return checks


def _certificate(path: str, thumbprint: str, now: datetime) -> list[Check]:
    name = "Graph certificate"
    env = ss.GRAPH_CERTIFICATE_PATH.env
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        return [
            failure(
                FAMILY,
                name,
                f"{env}={path} cannot be read: {exc.strerror}",
                "Point it at the PEM file holding the private key and the certificate.",
            )
        ]
    try:
        serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return [
            failure(
                FAMILY,
                name,
                f"{path} holds no unencrypted PEM private key",
                "Export the key without a passphrase into the PEM file, next to the certificate.",
            )
        ]
    if not re.fullmatch(r"[0-9a-fA-F]{40}", thumbprint.replace(":", "").strip()):
        return [
            failure(
                FAMILY,
                name,
                f"{ss.GRAPH_CERTIFICATE_THUMBPRINT.env} is not a SHA-1 thumbprint (40 hex digits)",
                "Copy the thumbprint from App registration > Certificates & secrets > "
                "Certificates.",
            )
        ]
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return [ok(FAMILY, name, f"private key in {path} (no certificate in the file to check)")]
    actual = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    if actual.lower() != thumbprint.replace(":", "").strip().lower():
        return [
            failure(
                FAMILY,
                name,
                f"the thumbprint configured is not the certificate's ({actual.upper()})",
                f"Set {ss.GRAPH_CERTIFICATE_THUMBPRINT.env}={actual.upper()} and check that this "
                "certificate is the one uploaded to the app registration.",
            )
        ]
    expires = cert.not_valid_after_utc
    if expires <= now:
        return [
            failure(
                FAMILY,
                name,
                f"the certificate expired on {expires:%Y-%m-%d}",
                "Upload a new certificate to the app registration and point "
                f"{env} and the thumbprint at it.",
            )
        ]
    if expires - now < EXPIRY_WARNING:
        return [
            warning(
                FAMILY,
                name,
                f"the certificate expires on {expires:%Y-%m-%d}",
                "Upload a new certificate to the app registration before then.",
            )
        ]
    return [ok(FAMILY, name, f"certificate {actual.upper()} valid until {expires:%Y-%m-%d}")]


def run(options: Options, environ: Mapping[str, str] | None = None) -> list[Check]:
    env = os.environ if environ is None else environ
    return [
        *values(env),
        *unknown_variables(env),
        *app_identity(env),
        *pasted_values(env),
        *token_validation(env),
        *tenants(env),
        *graph_credential(env, options),
    ]
