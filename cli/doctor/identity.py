"""Identity checks: can the configured credentials get a Bot Framework and a Graph token,
and does the Graph token carry every application permission the enabled features need?
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from bot import settings as bs
from cli.doctor.result import Check, Shared, Status, failure, ok, warning
from signals import sync_settings as ss
from signals.config import all_settings
from signals.graph.auth import Credentials, TokenProvider, resource_scope
from signals.graph.client import GraphClient
from signals.graph.errors import GraphError
from signals.graph.permissions import BROADER_THAN_NEEDED, GRAPH_PERMISSIONS, GraphPermission

FAMILY = "identity"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
BOT_FRAMEWORK_TENANT = "botframework.com"
"""The tenant a multi-tenant bot gets its Bot Framework token from."""
CREDENTIAL_UNREADABLE = "the credential cannot be read"
READS_APPLICATIONS = frozenset({"Application.Read.All", "Application.ReadWrite.All"})
EXPIRY_WARNING = timedelta(days=30)
PORTAL_PERMISSIONS = (
    "Entra admin center > App registrations > {app} > API permissions > Add a permission > "
    "Microsoft Graph > Application permissions > {perm}, then Grant admin consent"
)


@dataclass(frozen=True)
class Explained:
    found: str
    fix: str


def explain(error: str, *, app: str, tenant: str, secret_env: str) -> Explained:
    """What an Entra sign-in error means for this installation, and what to change."""
    code = re.search(r"AADSTS(\d+)", error)
    number = code.group(1) if code else ""
    if not number and "Unable to get authority configuration" in error:
        number = "90002"  # msal keeps Entra's answer to an unknown tenant to itself
    if number == "7000222":
        return Explained(
            f"the client secret of app {app} has expired (AADSTS7000222)",
            "App registration > Certificates & secrets > New client secret; put its Value in "
            f"{secret_env}, restart whoknows, then delete the expired secret.",
        )
    if number == "7000215":
        return Explained(
            f"the client secret is wrong for app {app} (AADSTS7000215)",
            f"Put the secret's Value (not its Secret ID) in {secret_env}; it must be a secret "
            "of this app registration. Create a new one if the value is no longer shown.",
        )
    if number in {"90002", "900023"}:
        return Explained(
            f"tenant {tenant!r} does not exist (AADSTS{number})",
            "Use the Directory (tenant) ID from the app registration's Overview page.",
        )
    if number == "700016":
        return Explained(
            f"app {app} is not found in tenant {tenant} (AADSTS700016)",
            "Check the Application (client) ID, and that the app is registered in this tenant "
            "(the tenant id must be the app's home tenant).",
        )
    if number == "7000112":
        return Explained(
            f"app {app} is disabled (AADSTS7000112)",
            "Enterprise applications > Who Knows > Properties > Enabled for users to sign in: Yes.",
        )
    if number in {"700027", "700024"}:
        return Explained(
            f"the certificate assertion was refused (AADSTS{number})",
            "Upload the certificate to the app registration (Certificates & secrets > "
            "Certificates) and check WHOKNOWS_GRAPH_CERTIFICATE_THUMBPRINT.",
        )
    if number == "500011":
        return Explained(
            f"the resource is not known in tenant {tenant} (AADSTS500011)",
            "Check the URL: the service (e.g. the Dynamics 365 organisation) must exist in "
            "this tenant.",
        )
    if "cannot reach" in error or not number:
        return Explained(
            f"the login endpoint did not answer: {error}",
            f"Check the network path (proxy, firewall) to {ss.LOGIN_URL.get()} and "
            f"{ss.LOGIN_URL.env}; a TLS-inspecting proxy needs {ss.GRAPH_CA_FILE.env}.",
        )
    return Explained(f"sign-in refused: {error}", "See the AADSTS code in Microsoft's docs.")


def acquire(creds: Credentials, scope: str) -> tuple[str | None, str]:
    """A token, or None and the login endpoint's error text."""
    provider = TokenProvider(creds)
    try:
        return provider.token_sync(scope), ""
    except OSError as exc:  # the login endpoint's errors arrive as AuthError: this is a file
        return None, f"{CREDENTIAL_UNREADABLE}: {exc}"
    except Exception as exc:  # msal and requests raise many kinds; all mean "no token"
        return None, str(exc)
    finally:
        provider.close()


def roles_of(token: str) -> frozenset[str] | None:
    """The ``roles`` claim (application permissions) of an access token, unverified."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    roles = claims.get("roles", [])
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()


async def bot_framework(environ: Mapping[str, str]) -> list[Check]:
    app = bs.MICROSOFT_APP_ID.get(environ).strip()
    app_type = bs.MICROSOFT_APP_TYPE.get(environ).strip().lower()
    name = "Bot Framework token"
    if not app:
        return []
    if app_type == "userassignedmsi":
        return [
            warning(
                FAMILY,
                name,
                "a managed identity only signs in from inside Azure: not checked from here",
                "Run `whoknows doctor` inside the container to check it.",
            )
        ]
    tenant = bs.MICROSOFT_APP_TENANT_ID.get(environ).strip()
    authority = BOT_FRAMEWORK_TENANT if app_type == "multitenant" else tenant
    creds = Credentials(
        client_id=app,
        tenant_id=authority,
        client_secret=bs.MICROSOFT_APP_PASSWORD.get(environ),
        login_url=ss.LOGIN_URL.get(environ).rstrip("/"),
        ca_file=ss.GRAPH_CA_FILE.get(environ),
    )
    if not authority or not creds.client_secret:
        return []  # reported by the settings checks
    token, error = await asyncio.to_thread(acquire, creds, BOT_FRAMEWORK_SCOPE)
    if token:
        return [ok(FAMILY, name, f"app {app} signs in to Bot Framework (tenant {authority})")]
    why = explain(error, app=app, tenant=authority, secret_env=bs.MICROSOFT_APP_PASSWORD.env)
    if app_type == "multitenant" and "700016" in error:
        why = Explained(
            why.found + ": a single-tenant app cannot sign in as a multi-tenant bot",
            "Set MicrosoftAppType=SingleTenant and MicrosoftAppTenantId to your tenant id.",
        )
    return [failure(FAMILY, name, why.found, why.fix + " Without it the bot cannot reply.")]


def _enabled(permission: GraphPermission, environ: Mapping[str, str]) -> bool:
    if not permission.enabled_by:
        return True
    settings = [s for s in all_settings() if s.env in permission.enabled_by]
    return any(bool(setting.get(environ)) for setting in settings)


def _switched_off(permission: GraphPermission) -> str:
    """How to turn a feature off: its boolean settings false, its list settings empty."""
    kinds = {s.env: s.kind for s in all_settings()}
    return " and ".join(
        f"{env}=false" if kinds.get(env) is bool else f"{env} empty"
        for env in permission.enabled_by
    )


def permissions(roles: frozenset[str], app: str, environ: Mapping[str, str]) -> list[Check]:
    """One check per missing permission, naming the feature it blocks and why it is needed."""
    checks: list[Check] = []
    granted = []
    for p in GRAPH_PERMISSIONS:
        if not _enabled(p, environ):
            continue
        if p.name in roles:
            granted.append(p.name)
            continue
        broader = [c for c in p.covered_by if c in roles]
        if broader:
            granted.append(f"{p.name} (through {broader[0]})")
            continue
        portal = PORTAL_PERMISSIONS.format(app=app, perm=p.name)
        fix = f"{portal}. whoknows needs it {p.why}."
        if p.exchange_role:
            checks.append(
                warning(
                    FAMILY,
                    f"permission {p.name}",
                    f"{p.name} is not granted in Entra ID: fine if it is granted through "
                    "Exchange RBAC for Applications (the Microsoft 365 checks try), otherwise "
                    f"whoknows has no {p.feature}",
                    f"{fix} Or, to limit it to some mailboxes: New-ManagementRoleAssignment "
                    f"-App {app} -Role '{p.exchange_role}' -CustomResourceScope <scope> "
                    "(docs/admin-install.md, step 3).",
                )
            )
            continue
        if p.enabled_by:
            fix += f" Or turn the feature off: {_switched_off(p)}."
        status = Status.FAILURE if p.required else Status.WARNING
        checks.append(
            Check(
                FAMILY,
                f"permission {p.name}",
                status,
                f"{p.name} is not granted: blocks {p.feature}",
                fix,
            )
        )
    excess = sorted(r for r in roles if r in BROADER_THAN_NEEDED)
    if excess:
        checks.append(
            warning(
                FAMILY,
                "broader permissions",
                "granted, more than whoknows uses: " + ", ".join(excess),
                "Remove them (API permissions > ... > Remove permission): "
                + "; ".join(f"{r}: {BROADER_THAN_NEEDED[r]}" for r in excess)
                + ".",
            )
        )
    if not roles:
        checks.insert(
            0,
            failure(
                FAMILY,
                "admin consent",
                "the Graph token carries no application permission at all",
                "API permissions > Grant admin consent for <your organisation> (a Global "
                "Administrator or Privileged Role Administrator); every row must show Granted.",
            ),
        )
    checks.insert(
        0,
        ok(FAMILY, "permissions granted", ", ".join(granted) if granted else "none"),
    )
    return checks


async def graph(environ: Mapping[str, str], shared: Shared, now: datetime) -> list[Check]:
    creds = Credentials.from_settings()
    name = "Graph token"
    if not creds.client_id or not creds.tenant_id:
        return []  # reported by the settings checks
    scope = resource_scope(ss.GRAPH_URL.get(environ).rstrip("/"))
    token, error = await asyncio.to_thread(acquire, creds, scope)
    if not token:
        secret_env = (
            ss.GRAPH_CLIENT_SECRET.env
            if ss.GRAPH_CLIENT_SECRET.get(environ)
            else bs.MICROSOFT_APP_PASSWORD.env
        )
        if "no credential" in error or "CERTIFICATE" in error or CREDENTIAL_UNREADABLE in error:
            return [failure(FAMILY, name, error, "See the settings checks above.")]
        why = explain(error, app=creds.client_id, tenant=creds.tenant_id, secret_env=secret_env)
        return [failure(FAMILY, name, why.found, why.fix + " Without it nothing is synced.")]
    shared.graph_token = True
    checks = [
        ok(FAMILY, name, f"app {creds.client_id} signs in to {scope.removesuffix('/.default')}")
    ]
    roles = roles_of(token)
    if roles is None:
        checks.append(
            warning(
                FAMILY,
                "permissions",
                "the Graph token is not a readable JWT, so its roles cannot be listed",
                "Compare API permissions in the app registration with docs/admin-install.md.",
            )
        )
        return checks
    shared.roles = roles
    checks += permissions(roles, creds.client_id, environ)
    if creds.client_secret and not creds.certificate_path:
        base = ss.GRAPH_URL.get(environ).rstrip("/")
        checks.append(await secret_expiry(base, token, creds, roles, now))
    return checks


async def secret_expiry(
    base: str, token: str, creds: Credentials, roles: frozenset[str], now: datetime
) -> Check:
    """When the secret expires, if the app may read its own registration.

    Entra ID keeps the first three characters of each secret (``hint``): that tells which
    of the app's secrets is the one configured.
    """
    name = "secret expiry"
    where = "App registration > Certificates & secrets > Client secrets > Expires"
    if not roles & READS_APPLICATIONS:
        return Check(
            FAMILY,
            name,
            Status.OK,
            "not readable with the permissions whoknows asks for (it would need "
            "Application.Read.All); look it up and plan the rotation",
            where,
        )

    async def static() -> str:
        return token

    client = GraphClient(base_url=base, token=static, ca_file=creds.ca_file, retry_budget=1)
    try:
        body = await client.get_json(
            f"applications(appId='{creds.client_id}')",
            params={"$select": "passwordCredentials"},
        )
    except GraphError as exc:
        return warning(FAMILY, name, f"cannot read the app registration: {exc}", where)
    finally:
        await client.close()
    hint = creds.client_secret[:3]
    ends = sorted(
        _when(str(c.get("endDateTime", "")))
        for c in body.get("passwordCredentials", [])
        if isinstance(c, dict) and c.get("hint") == hint and c.get("endDateTime")
    )
    if not ends:
        return warning(
            FAMILY,
            name,
            "the configured secret is not among the app's secrets",
            f"Check that it belongs to app {creds.client_id} ({where}).",
        )
    expires = ends[-1]
    rotate = (
        "Create a new client secret (Certificates & secrets), put its Value in the secret "
        "setting, restart whoknows, then delete the old one."
    )
    if expires <= now:
        return failure(FAMILY, name, f"the secret expired on {expires:%Y-%m-%d}", rotate)
    if expires - now < EXPIRY_WARNING:
        return warning(FAMILY, name, f"the secret expires on {expires:%Y-%m-%d}", rotate)
    return ok(FAMILY, name, f"the secret is valid until {expires:%Y-%m-%d}")


def _when(raw: str) -> datetime:
    at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def run(environ: Mapping[str, str], shared: Shared, now: datetime) -> list[Check]:
    return [*(await bot_framework(environ)), *(await graph(environ, shared, now))]
