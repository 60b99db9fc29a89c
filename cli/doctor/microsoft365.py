"""Microsoft 365 checks: the organisation, mailbox reach (a sample), Dataverse.

Mailboxes are sampled, not all read: the check must stay quick in a tenant of thousands.
Where Exchange RBAC for Applications (or an application access policy) limits the app to
some mailboxes, the sample says how many of those tried are reachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cli.doctor.identity import acquire, explain
from cli.doctor.result import Check, Options, Shared, Status, failure, ok, warning
from signals import settings as sigs
from signals import sync_settings as ss
from signals.graph.auth import Credentials, TokenProvider, resource_scope
from signals.graph.client import GraphClient
from signals.graph.errors import GraphError

FAMILY = "microsoft365"
DIRECTORY_PAGE = 999
PROBE_CONCURRENCY = 4
NO_MAILBOX_CODES = {"mailboxnotenabledforrestapi", "resourcenotfound", "erroritemnotfound"}


def _client(base: str, provider: TokenProvider, scope: str, ca_file: str) -> GraphClient:
    async def token() -> str:
        return await provider.token(scope)

    return GraphClient(base_url=base, token=token, ca_file=ca_file, retry_budget=2, max_backoff=5)


async def organisation(graph: GraphClient, environ: Mapping[str, str]) -> Check:
    name = "organisation"
    try:
        body = await graph.get_json(
            "organization", params={"$select": "displayName,verifiedDomains"}
        )
    except GraphError as exc:
        fix = "Grant Organization.Read.All (application) and admin consent: whoknows needs the "
        fix += "verified domains to tell colleagues from outsiders."
        return failure(FAMILY, name, f"cannot read the organisation: {exc}", fix)
    domains = sorted(
        {
            str(d.get("name", "")).lower()
            for org in body.get("value", [])
            for d in org.get("verifiedDomains", [])
            if d.get("name")
        }
    )
    if not domains:
        return warning(FAMILY, name, "the organisation lists no verified domain", "")
    configured = {d.lower() for d in sigs.INTERNAL_DOMAINS.get(environ)}
    own = [d for d in domains if not d.endswith(".onmicrosoft.com")] or domains
    missing = [d for d in own if d not in configured]
    stray = sorted(configured - set(domains))
    if missing or stray:
        found = f"verified domains {', '.join(domains)}; {sigs.INTERNAL_DOMAINS.env} is "
        found += ", ".join(sorted(configured)) or "(empty)"
        return warning(
            FAMILY,
            name,
            found + ": the bot tells colleagues from outsiders by that setting",
            f"Set {sigs.INTERNAL_DOMAINS.env}={','.join(own)}",
        )
    return ok(FAMILY, name, "verified domains " + ", ".join(domains))


@dataclass
class Reach:
    readable: list[str]
    readable_ids: list[str]
    denied: list[str]
    without_mailbox: list[str]
    errors: list[str]


async def _probe(graph: GraphClient, user: dict[str, Any], reach: Reach) -> None:
    uid = str(user["id"])
    who = str(user.get("mail") or uid)
    try:
        await graph.get_json(
            f"users/{uid}/mailFolders/inbox/messages",
            mailbox=uid,
            params={"$top": "1", "$select": "id,receivedDateTime"},
        )
    except GraphError as exc:
        if exc.status == 403:
            reach.denied.append(who)
        elif exc.status == 404 or exc.code.lower() in NO_MAILBOX_CODES:
            reach.without_mailbox.append(who)
        else:
            reach.errors.append(f"{who}: {exc}")
        return
    reach.readable.append(who)
    reach.readable_ids.append(uid)


def _spread(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` items spread evenly over the list (deterministic, so reruns compare)."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


async def mailboxes(graph: GraphClient, sample: int, app: str, shared: Shared) -> Check:
    name = "mailboxes"
    try:
        body = await graph.get_json(
            "users",
            params={
                "$select": "id,mail,userType,accountEnabled",
                "$top": str(DIRECTORY_PAGE),
            },
        )
    except GraphError as exc:
        return failure(
            FAMILY,
            name,
            f"cannot list the directory: {exc}",
            "Grant User.Read.All (application) and admin consent: whoknows reads the directory "
            "to know its colleagues.",
        )
    people = [
        u
        for u in body.get("value", [])
        if u.get("mail")
        and u.get("userType", "Member") == "Member"
        and u.get("accountEnabled", True)
    ]
    more = "@odata.nextLink" in body
    if not people:
        return warning(FAMILY, name, "the directory lists no enabled member with a mailbox", "")
    picked = _spread(people, max(1, sample))
    reach = Reach([], [], [], [], [])
    gate = asyncio.Semaphore(PROBE_CONCURRENCY)

    async def probe(user: dict[str, Any]) -> None:
        async with gate:
            await _probe(graph, user, reach)

    await asyncio.gather(*(probe(u) for u in picked))
    if reach.readable_ids:
        shared.readable_mailbox = sorted(reach.readable_ids)[0]
        shared.confirmed.add("Mail.ReadBasic.All")
    total = f"{'at least ' if more else ''}{len(people)}"
    tried = len(picked) - len(reach.without_mailbox)
    if len(picked) < len(people) or more:
        scope = f"a sample of the directory's {total} mailboxes, not all of them"
    else:
        scope = f"every one of the directory's {total} mailboxes"
    found = f"{len(reach.readable)} of {tried} sampled mailboxes readable ({scope})"
    if reach.without_mailbox:
        found += f"; {len(reach.without_mailbox)} sampled users have no Exchange Online mailbox"
    if reach.errors:
        found += "; errors: " + "; ".join(reach.errors[:3])
    rbac = (
        f"Test-ServicePrincipalAuthorization -Identity {app} -Resource <address> shows why one is "
        "denied; add the people whose mail should count to the group of the management scope "
        "(docs/admin-install.md, step 3)."
    )
    if not reach.readable and reach.denied:
        return failure(
            FAMILY,
            name,
            found + ": every mailbox tried was denied (" + ", ".join(reach.denied[:5]) + ")",
            "Grant Mail.ReadBasic.All, either in Entra ID (all mailboxes) or with "
            f"New-ManagementRoleAssignment -App {app} -Role 'Application Mail.ReadBasic' "
            f"-CustomResourceScope <scope>. {rbac}",
        )
    if reach.denied:
        found += (
            f"; {len(reach.denied)} denied (e.g. {', '.join(reach.denied[:3])}), as Exchange "
            "RBAC scoping or an application access policy does for mailboxes outside its scope"
        )
        return Check(FAMILY, name, Status.OK, found, "If someone is missing: " + rbac)
    if reach.errors and not reach.readable:
        return warning(FAMILY, name, found, "Run again; if it persists, check Graph's status.")
    return ok(FAMILY, name, found)


async def calendar(graph: GraphClient, user_id: str, options: Options, shared: Shared) -> None:
    """Reading one calendar proves a calendar grant the token may not show."""
    start = options.now - timedelta(days=1)
    try:
        await graph.get_json(
            f"users/{user_id}/calendarView",
            mailbox=user_id,
            params={
                "startDateTime": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                "endDateTime": f"{options.now:%Y-%m-%dT%H:%M:%SZ}",
                "$top": "1",
                "$select": "id",
            },
            headers={"Prefer": 'outlook.timezone="UTC"'},
        )
    except GraphError:
        return
    shared.confirmed.add("Calendars.ReadBasic.All")


def confirm_exchange_grants(checks: list[Check], shared: Shared) -> list[Check]:
    """A permission missing from the token but proven by reading was granted through
    Exchange RBAC for Applications: no longer a warning."""
    out = []
    for c in checks:
        granted = c.name.removeprefix("permission ")
        if c.family == "identity" and c.status is Status.WARNING and granted in shared.confirmed:
            c = ok(
                c.family,
                c.name,
                f"{granted} is not in the token, but a mailbox was read: granted through "
                "Exchange RBAC for Applications",
            )
        out.append(c)
    return out


async def dataverse(url: str, creds: Credentials) -> Check:
    name = "Dataverse"
    scope = url + "/.default"
    token, error = await asyncio.to_thread(acquire, creds, scope)
    if not token:
        why = explain(error, app=creds.client_id, tenant=creds.tenant_id, secret_env="the secret")
        return failure(FAMILY, name, f"no token for {url}: {why.found}", why.fix)
    provider = TokenProvider(creds)
    client = _client(url, provider, scope, creds.ca_file)
    try:
        await client.get_json("api/data/v9.2/leads", params={"$select": "fullname", "$top": "1"})
    except GraphError as exc:
        if exc.status in (401, 403):
            return failure(
                FAMILY,
                name,
                f"{url} refuses the app ({exc.status} {exc.code})",
                "Power Platform admin center > Environments > <yours> > Settings > Users + "
                f"permissions > Application users > New app user: app {creds.client_id}, with a "
                "security role that can read leads and contacts.",
            )
        return failure(
            FAMILY,
            name,
            f"{url} answered {exc}",
            f"Check {ss.DATAVERSE_URL.env} (the organisation URL, e.g. "
            "https://contoso.crm.dynamics.com, without a path).",
        )
    finally:
        await client.close()
        provider.close()
    return ok(FAMILY, name, f"{url} answers; leads are readable")


async def run(environ: Mapping[str, str], shared: Shared, options: Options) -> list[Check]:
    if not shared.graph_token:
        return [
            warning(
                FAMILY,
                "not checked",
                "no Graph token, so Microsoft 365 was not read",
                "Fix the identity checks first.",
            )
        ]
    creds = Credentials.from_settings()
    base = ss.GRAPH_URL.get(environ).rstrip("/")
    provider = TokenProvider(creds)
    graph = _client(base, provider, resource_scope(base), creds.ca_file)
    try:
        checks = [
            await organisation(graph, environ),
            await mailboxes(graph, options.sample, creds.client_id, shared),
        ]
        if shared.readable_mailbox:
            await calendar(graph, shared.readable_mailbox, options, shared)
    finally:
        await graph.close()
        provider.close()
    url = ss.DATAVERSE_URL.get(environ).rstrip("/")
    if url:
        checks.append(await dataverse(url, creds))
    return checks
