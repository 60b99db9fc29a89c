"""A local Microsoft 365 for tests: Entra login, Graph and Dataverse over TLS.

It speaks the endpoints the sync uses, the way Microsoft documents them: OpenID
configuration and a client-credentials token endpoint (msal talks to it), ``/users/delta``,
``/organization``, per-folder message delta with ``$select``, ``Prefer:
odata.maxpagesize``, nextLink/deltaLink and ``@removed``, ``calendarView``,
``/communications/callRecords``, ``/groups/{id}/transitiveMembers`` and the Dataverse
Web API. Switches make it throttle (429 with Retry-After), fail (5xx), expire delta
tokens (410 syncStateNotFound) or refuse call records or groups (403). It records every
request, and how many requests each mailbox had in flight at once.

For `whoknows doctor` the login endpoint also behaves like Entra ID when things are wrong:
an unknown tenant (AADSTS90002), an unknown app (AADSTS700016), a wrong secret
(AADSTS7000215) or an expired one (AADSTS7000222); with ``roles`` set, it issues JWTs whose
``roles`` claim lists the application permissions granted. Graph can deny chosen mailboxes
(403, as Exchange RBAC scoping does) and lists users and inbox messages.

It runs on its own event loop in a thread, so that synchronous callers (msal, click's
CliRunner) and async tests can all use it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import trustme
from aiohttp import web

TENANT = "00000000-0000-4000-8000-00000000c0de"
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
CLIENT_SECRET = "test-secret-not-real"
BOT_FRAMEWORK_TENANT = "botframework.com"
TOKEN_KEY = "graph-server-token-key-not-secret-at-all"
FORBIDDEN_FIELDS = {"body", "bodyPreview", "uniqueBody", "attachments", "extensions"}
# The most items a page holds whatever ``odata.maxpagesize`` asks, by path: Outlook
# collections take 1 to 1,000 (the list-messages reference: "$top ... within the range
# of 1 and 1000"), directory objects 200 and directory links 500 (Microsoft's answer on
# Q&A, 2025), Dataverse 5,000 rows. The first fragment found in the path decides.
PAGE_LIMITS = (
    ("/messages", 1000),
    ("/calendarView", 1000),
    ("/transitiveMembers", 500),
    ("users", 200),
    ("/api/data/", 5000),
)


@dataclass
class Served:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    mailbox: str | None
    worker: str
    status: int
    started: int  # sequence numbers: orders events without a clock
    ended: int = 0


@dataclass
class Folder:
    """A mail folder's items plus a change log for delta tokens."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[int, str, bool]] = field(default_factory=list)  # (seq, id, removed)


@dataclass
class Tenant:
    domains: list[str]
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    users_log: list[tuple[int, str, bool]] = field(default_factory=list)
    folders: dict[tuple[str, str], Folder] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    # Entra groups: group id -> direct member ids (users, nested groups or devices).
    groups: dict[str, list[str]] = field(default_factory=dict)
    systemusers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Dynamics 365 users by systemuserid: a record's ``_ownerid_value`` names one."""


class GraphServer:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.change = itertools.count(1)
        self.port = 0
        self.served: list[Served] = []
        self.token_requests: list[dict[str, str]] = []
        self.token_tenants: list[str] = []  # the tenant in each token request's path
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.violations: list[str] = []
        # switches
        self.throttle_next = 0
        self.throttle_status = 429
        self.retry_after: str | None = "0"
        self.token_epoch = 0
        self.calls_forbidden = False
        self.roles: list[str] | None = None  # a list: tokens are JWTs with these roles
        self.secret_expired = False
        self.denied_mailboxes: set[str] = set()
        self.secret_expires: datetime | None = None  # the app registration's secret
        # Granted through Exchange RBAC for Applications: works, but not in the token's roles.
        self.exchange_grants: set[str] = set()
        self.issued: dict[str, str] = {}  # access token -> scope
        self.groups_forbidden = False
        self.latency = 0.0
        self.page_size = 5
        # mailbox -> "error" (a 500 for its requests) or "garbage" (200 with items that
        # are not objects): one mailbox failing in the way a bug or an outage would.
        self.failing_mailboxes: dict[str, str] = {}
        # Called with the number of Graph requests received so far, as each arrives
        # (tests kill the sync process at chosen points with it).
        self.on_request: Callable[[int], None] | None = None
        # sendMail: statuses answered before the 202 (e.g. [503, 429]); seconds each
        # answer (and each token) is held back, to let clients time out.
        self.mail_answers: list[int] = []
        self.mail_delay = 0.0
        self.token_delay = 0.0
        self.token_held = 0  # token requests being held back by token_delay right now
        self.mail_requests = 0
        self.mail_answered = 0  # requests whose handler has finished (held ones included)
        self.sent_mail: list[dict[str, Any]] = []
        self._snapshots: dict[str, list[dict[str, Any]]] = {}
        self._snap_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        for uid in tenant.users:
            tenant.users_log.append((next(self.change), uid, False))
        for folder in tenant.folders.values():
            for mid in folder.items:
                folder.log.append((next(self.change), mid, False))

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base}/v1.0"

    @property
    def dataverse_url(self) -> str:
        return f"{self.base}/crm"

    def ca_file(self, directory: Any) -> str:
        path = f"{directory}/graph-test-ca.pem"
        self.ca.cert_pem.write_to_path(path)
        return path

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="graph-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("graph test server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/v1.0/{tail:.*}", self._graph)
        app.router.add_post("/v1.0/users/{user}/sendMail", self._send_mail)
        app.router.add_get("/crm/api/data/v9.2/{entity}", self._dataverse)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- changes made by tests -------------------------------------------------------------

    def add_message(self, user_id: str, folder: str, item: dict[str, Any]) -> None:
        with self.lock:
            f = self.tenant.folders.setdefault((user_id, folder), Folder())
            f.items[item["id"]] = item
            f.log.append((next(self.change), item["id"], False))

    def remove_message(self, user_id: str, folder: str, item_id: str) -> None:
        with self.lock:
            f = self.tenant.folders[(user_id, folder)]
            del f.items[item_id]
            f.log.append((next(self.change), item_id, True))

    def change_user(self, user_id: str, **changes: Any) -> None:
        """Change a directory user's properties (``userType="Guest"``, ...): a delta change."""
        with self.lock:
            self.tenant.users[user_id].update(changes)
            self.tenant.users_log.append((next(self.change), user_id, False))

    def expire_delta_tokens(self) -> None:
        with self.lock:
            self.token_epoch += 1

    def requests_for(self, fragment: str) -> list[Served]:
        return [s for s in self.served if fragment in s.path]

    # -- login -------------------------------------------------------------------------

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant not in (TENANT, BOT_FRAMEWORK_TENANT):
            return web.json_response(
                {
                    "error": "invalid_tenant",
                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                },
                status=400,
            )
        base = f"{self.base}/{tenant}"
        return web.json_response(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def _send_mail(self, request: web.Request) -> web.Response:
        self.mail_requests += 1
        try:
            return await self._mail_answer(request)
        finally:
            self.mail_answered += 1

    async def _mail_answer(self, request: web.Request) -> web.Response:
        if self.mail_delay:
            await asyncio.sleep(self.mail_delay)
        if not self._authorised(request, self.base):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or wrong.")
        if self.mail_answers:
            status = self.mail_answers.pop(0)
            return _error(status, "Failed", "Not now.", {"Retry-After": "0"})
        self.sent_mail.append({"from": request.match_info["user"], **(await request.json())})
        return web.Response(status=202)

    async def _token(self, request: web.Request) -> web.Response:
        if self.token_delay:
            self.token_held += 1
            try:
                await asyncio.sleep(self.token_delay)
            finally:
                self.token_held -= 1
        form = dict(await request.post())
        values = {k: str(v) for k, v in form.items()}
        self.token_requests.append(values)
        self.token_tenants.append(request.match_info["tenant"])
        refusal = self._refusal(request.match_info["tenant"], values)
        if refusal is not None:
            return refusal
        scope = values.get("scope", "")
        if self.roles is None:
            token = "token-for " + scope
        else:
            now = int(datetime.now(UTC).timestamp())
            claims = {
                "aud": scope.removesuffix("/.default"),
                "tid": TENANT,
                "appid": CLIENT_ID,
                "roles": list(self.roles),
                "iat": now,
                "exp": now + 3600,
            }
            token = jwt.encode(claims, TOKEN_KEY, algorithm="HS256")
        self.issued[token] = scope
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        )

    def _refusal(self, tenant: str, values: dict[str, str]) -> web.Response | None:
        """Entra ID's answers to the mistakes administrators make, with their AADSTS codes."""

        def refuse(status: int, error: str, description: str) -> web.Response:
            return web.json_response(
                {"error": error, "error_description": description}, status=status
            )

        if values.get("grant_type") != "client_credentials":
            return refuse(400, "unsupported_grant_type", "AADSTS70003")
        if tenant not in (TENANT, BOT_FRAMEWORK_TENANT):
            return refuse(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if values.get("client_id") != CLIENT_ID:
            return refuse(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{values.get('client_id')}' was not "
                "found in the directory.",
            )
        if values.get("client_secret") != CLIENT_SECRET:
            return refuse(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if self.secret_expired:
            return refuse(
                401,
                "invalid_client",
                "AADSTS7000222: The provided client secret keys for app are expired.",
            )
        return None

    # -- helpers -----------------------------------------------------------------------

    def _authorised(self, request: web.Request, resource: str) -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return self.issued.get(token) == f"{resource}/.default"

    def _page_size(self, request: web.Request) -> int:
        """``self.page_size``, or less when the request prefers less, and never more
        than Graph serves on that path (:data:`PAGE_LIMITS`)."""
        size = self.page_size
        prefer = request.headers.get("Prefer", "")
        for part in prefer.split(","):
            if part.strip().startswith("odata.maxpagesize="):
                size = min(size, int(part.strip().split("=", 1)[1]))
        for fragment, limit in PAGE_LIMITS:
            if fragment in request.path:
                return min(size, limit)
        return size

    def _snapshot(self, items: list[dict[str, Any]], size: int, make_link: Any) -> dict[str, Any]:
        """First page of ``items``; the rest are kept server-side behind a skiptoken."""
        page, rest = items[:size], items[size:]
        body: dict[str, Any] = {"value": page}
        if rest:
            token = str(next(self._snap_ids))
            self._snapshots[token] = rest
            body["@odata.nextLink"] = make_link({"$skiptoken": token})
        return body

    # -- Graph -------------------------------------------------------------------------

    async def _graph(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        parts = tail.split("/")
        mailbox = parts[1] if parts[0] == "users" and len(parts) > 2 else None
        worker = request.headers.get("User-Agent", "")
        record = Served(tail, dict(request.query), mailbox, worker, 0, next(self.seq))
        self.served.append(record)
        if self.on_request is not None:
            self.on_request(len(self.served))
        key = mailbox or ""
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.max_in_flight[key] = max(self.max_in_flight.get(key, 0), self.in_flight[key])
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            response = self._graph_answer(request, parts)
        finally:
            self.in_flight[key] -= 1
            record.ended = next(self.seq)
        record.status = response.status
        return response

    def _graph_answer(self, request: web.Request, parts: list[str]) -> web.Response:
        if not self._authorised(request, self.base):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or wrong.")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return _error(
                self.throttle_status,
                "TooManyRequests" if self.throttle_status == 429 else "ServiceUnavailable",
                "Please retry later.",
                headers,
            )
        failing = (
            self.failing_mailboxes.get(parts[1]) if parts[0] == "users" and len(parts) > 1 else None
        )
        if failing == "error":
            return _error(500, "InternalServerError", "Something went wrong.")
        if failing == "garbage":
            return web.json_response({"value": [1, 2, 3]})
        q = request.query
        if "$skiptoken" in q and q["$skiptoken"] in self._snapshots:
            rest = self._snapshots[q["$skiptoken"]]
            final = json.loads(q.get("final", "null"))
            body = self._snapshot(
                rest, self._page_size(request), lambda extra: self._link(request, extra, q)
            )
            if "@odata.nextLink" not in body and final is not None:
                body["@odata.deltaLink"] = final
            return web.json_response(body)
        denied = self._without_permission(parts)
        if denied is not None:
            return _error(403, "Authorization_RequestDenied", f"Missing role {denied}.")
        if parts[0] == "users" and len(parts) > 2 and parts[1] in self.denied_mailboxes:
            return _error(403, "ErrorAccessDenied", "Access is denied. Check credentials.")
        with self.lock:
            if parts == ["organization"]:
                return web.json_response(
                    {
                        "value": [
                            {
                                "id": TENANT,
                                "verifiedDomains": [
                                    {"name": d, "isDefault": i == 0}
                                    for i, d in enumerate(self.tenant.domains)
                                ],
                            }
                        ]
                    }
                )
            if len(parts) == 1 and parts[0].startswith("applications(appId="):
                return self._application()
            if parts == ["users"]:
                users = list(self.tenant.users.values())[: int(q.get("$top", "100"))]
                return web.json_response({"value": users})
            if len(parts) == 5 and parts[0] == "users" and parts[4] == "messages":
                return self._messages(parts[1], parts[3])
            if parts == ["users", "delta"]:
                return self._delta(request, self.tenant.users, self.tenant.users_log, None)
            if len(parts) == 6 and parts[0] == "users" and parts[2] == "mailFolders":
                folder = self.tenant.folders.get((parts[1], parts[3]))
                if folder is None:
                    return _error(404, "ErrorItemNotFound", "The mailbox has no such folder.")
                return self._delta(request, folder.items, folder.log, "receivedDateTime")
            if len(parts) == 3 and parts[0] == "users" and parts[2] == "calendarView":
                return self._calendar(request, parts[1])
            if len(parts) == 3 and parts[0] == "groups" and parts[2] == "transitiveMembers":
                return self._transitive_members(request, parts[1])
            if parts == ["communications", "callRecords"]:
                if self.calls_forbidden:
                    return _error(403, "Forbidden", "Missing role CallRecords.Read.All.")
                return self._calls(request)
        return _error(404, "Request_ResourceNotFound", f"no route {request.path}")

    def _without_permission(self, parts: list[str]) -> str | None:
        """With JWT tokens, the permission a request needs and does not have, else None."""
        if self.roles is None:
            return None  # plain tokens: everything is granted
        needed: tuple[str, ...] = ()
        if parts == ["organization"]:
            needed = ("Organization.Read.All",)
        elif parts in (["users"], ["users", "delta"]):
            needed = ("User.Read.All",)
        elif len(parts) >= 3 and parts[0] == "users" and parts[2] == "mailFolders":
            needed = ("Mail.ReadBasic.All", "Mail.Read")
        elif len(parts) == 3 and parts[0] == "users" and parts[2] == "calendarView":
            needed = ("Calendars.ReadBasic.All", "Calendars.Read")
        if not needed:
            return None
        held = {*self.roles, *self.exchange_grants}
        return None if held & set(needed) else needed[0]

    def _application(self) -> web.Response:
        """The app registration: readable with Application.Read.All only."""
        if "Application.Read.All" not in (self.roles or []):
            return _error(403, "Authorization_RequestDenied", "Insufficient privileges.")
        secrets = [{"hint": "old", "endDateTime": "2020-01-01T00:00:00Z"}]
        if self.secret_expires is not None:
            secrets.append({"hint": CLIENT_SECRET[:3], "endDateTime": iso(self.secret_expires)})
        return web.json_response({"passwordCredentials": secrets})

    def _messages(self, user_id: str, folder_name: str) -> web.Response:
        """One folder's newest messages, as far as the app may read that mailbox."""
        if user_id in self.denied_mailboxes:
            return _error(
                403,
                "ErrorAccessDenied",
                "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
                "AccessPolicy settings.",
            )
        folder = self.tenant.folders.get((user_id, folder_name))
        if folder is None:
            return _error(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive.")
        return web.json_response({"value": [{"id": i} for i in list(folder.items)[:1]]})

    def _transitive_members(self, request: web.Request, group_id: str) -> web.Response:
        """Users, nested groups and devices reachable from a group, each once, paged."""
        if self.groups_forbidden:
            return _error(403, "Authorization_RequestDenied", "Insufficient privileges.")
        if group_id not in self.tenant.groups:
            return _error(404, "Request_ResourceNotFound", f"no group {group_id}")
        found: list[dict[str, Any]] = []
        seen = {group_id}
        todo = list(self.tenant.groups[group_id])
        while todo:
            member = todo.pop(0)
            if member in seen:
                continue
            seen.add(member)
            if member in self.tenant.groups:
                found.append({"@odata.type": "#microsoft.graph.group", "id": member})
                todo.extend(self.tenant.groups[member])
            elif member in self.tenant.users:
                found.append({"@odata.type": "#microsoft.graph.user", "id": member})
            else:
                found.append({"@odata.type": "#microsoft.graph.device", "id": member})
        return web.json_response(
            self._snapshot(
                found,
                self._page_size(request),
                lambda extra: self._link(request, extra, request.query),
            )
        )

    def _link(self, request: web.Request, extra: dict[str, str], keep: Any = None) -> str:
        params = {k: v for k, v in (keep or {}).items() if k not in ("$skiptoken",)}
        params.update(extra)
        return f"{self.base}{request.path}?{urlencode(params)}"

    def _delta(
        self,
        request: web.Request,
        items: dict[str, dict[str, Any]],
        log: list[tuple[int, str, bool]],
        time_field: str | None,
    ) -> web.Response:
        q = request.query
        select = [s for s in q.get("$select", "").split(",") if s]
        if not select:
            self.violations.append(f"no $select on {request.path}")
        bad = FORBIDDEN_FIELDS & set(select)
        if bad:
            self.violations.append(f"{sorted(bad)} requested on {request.path}")
        if "$deltatoken" in q:
            epoch, _, since_raw = q["$deltatoken"].partition(".")
            if int(epoch) != self.token_epoch:
                return _error(410, "syncStateNotFound", "The sync state is expired.")
            since = int(since_raw)
            select = json.loads(q.get("sel", "[]"))
            cutoff = q.get("cutoff", "")
            latest: dict[str, bool] = {}
            for seq, item_id, removed in log:
                if seq > since:
                    latest[item_id] = removed
            out: list[dict[str, Any]] = []
            for item_id, removed in latest.items():
                if removed or item_id not in items:
                    out.append({"id": item_id, "@removed": {"reason": "deleted"}})
                else:
                    item = items[item_id]
                    if time_field and cutoff and item.get(time_field, "") < cutoff:
                        continue
                    out.append(_project(item, select))
        else:
            cutoff = ""
            flt = q.get("$filter", "")
            if time_field and flt.startswith(f"{time_field} ge "):
                cutoff = flt.split(" ge ", 1)[1]
            out = [
                _project(item, select)
                for item in items.values()
                if not (time_field and cutoff and item.get(time_field, "") < cutoff)
            ]
        mark = max((seq for seq, _, _ in log), default=0)
        delta = self._link(
            request,
            {
                "$deltatoken": f"{self.token_epoch}.{mark}",
                "sel": json.dumps(select),
                "cutoff": cutoff,
            },
        )
        body = self._snapshot(
            out,
            self._page_size(request),
            lambda extra: self._link(request, {**extra, "final": json.dumps(delta)}),
        )
        if "@odata.nextLink" not in body:
            body["@odata.deltaLink"] = delta
        return web.json_response(body)

    def _calendar(self, request: web.Request, user_id: str) -> web.Response:
        q = request.query
        if "startDateTime" not in q or "endDateTime" not in q:
            return _error(400, "ErrorInvalidParameter", "startDateTime and endDateTime required")
        if "outlook.timezone" not in request.headers.get("Prefer", ""):
            self.violations.append("calendarView without Prefer: outlook.timezone")
        start, end = _parse(q["startDateTime"]), _parse(q["endDateTime"])
        events = [
            e
            for e in self.tenant.events.get(user_id, [])
            if start <= _parse(e["start"]["dateTime"] + "Z") < end
        ]
        skip = int(q.get("$skip", "0"))
        size = self._page_size(request)
        body: dict[str, Any] = {"value": events[skip : skip + size]}
        if skip + size < len(events):
            params = {k: v for k, v in q.items() if k != "$skip"}
            params["$skip"] = str(skip + size)
            body["@odata.nextLink"] = f"{self.base}{request.path}?{urlencode(params)}"
        return web.json_response(body)

    def _calls(self, request: web.Request) -> web.Response:
        flt = request.query.get("$filter", "")
        since = (
            _parse(flt.split(" ge ", 1)[1]) if " ge " in flt else datetime.min.replace(tzinfo=UTC)
        )
        calls = [c for c in self.tenant.calls if _parse(c["startDateTime"]) >= since]
        body = self._snapshot(calls, self._page_size(request), lambda e: self._link(request, e))
        return web.json_response(body)

    # -- Dataverse ---------------------------------------------------------------------

    async def _dataverse(self, request: web.Request) -> web.Response:
        self.served.append(Served(request.path, dict(request.query), None, "", 200, next(self.seq)))
        if not self._authorised(request, self.dataverse_url):
            return _error(401, "0x80072560", "The user is not a member of the organization.")
        entity = request.match_info["entity"]
        q = request.query
        if "$skiptoken" in q and q["$skiptoken"] in self._snapshots:
            rows = self._snapshots[q["$skiptoken"]]
        elif entity == "leads":
            rows = list(self.tenant.leads)
        elif entity == "contacts":
            rows = list(self.tenant.contacts)
        else:
            return _error(404, "0x80060888", f"Resource not found for the segment '{entity}'.")
        if "owninguser" in q.get("$expand", "") and "$skiptoken" not in q:
            rows = [self._with_owner(row) for row in rows]
        body = self._snapshot(rows, self._page_size(request), lambda e: self._link(request, e))
        return web.json_response(body)

    def _with_owner(self, row: dict[str, Any]) -> dict[str, Any]:
        """``$expand=owninguser(...)``: the owning user inline, null for a team-owned record."""
        owner = self.tenant.systemusers.get(str(row.get("_ownerid_value")))
        return {**row, "owninguser": dict(owner) if owner else None}


def _project(item: dict[str, Any], select: list[str]) -> dict[str, Any]:
    if not select:
        return dict(item)
    return {k: v for k, v in item.items() if k in select or k == "id"}


def _parse(raw: str) -> datetime:
    value = raw.replace("Z", "+00:00")
    if "." in value:
        head, _, tail = value.partition(".")
        frac, sign, zone = tail.partition("+")
        value = f"{head}.{frac[:6]}{sign}{zone}"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


@contextmanager
def running(tenant: Tenant) -> Iterator[GraphServer]:
    server = GraphServer(tenant)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


# -- a generated organisation ----------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOMAIN = "contoso.com"


@dataclass(frozen=True)
class Colleague:
    uid: str
    name: str
    email: str
    department: str = "Sales"
    extra: tuple[str, ...] = ()


COLLEAGUES = (
    Colleague("u-tricia", "Tricia Potter", "tricia.potter@contoso.com", extra=("tp@contoso.com",)),
    Colleague("u-bob", "Bob Kelly", "bob.kelly@contoso.com"),
    Colleague("u-alex", "Alex Wilber", "alex.wilber@contoso.com"),
    Colleague("u-olivia", "Olivia Optout", "olivia.optout@contoso.com"),  # opts out
    Colleague("u-finn", "Finn Finance", "finn.finance@contoso.com", department="Finance"),
)
EXTERNALS = (
    ("Yvonne McKay", "yvonne.mckay@fourthcoffee.com"),
    ("Dan Park", "dan.park@fabrikam.com"),
    ("Lee Gu", "lee.gu@northwind.example"),
    ("Fabrikam News", "news@fabrikam.com"),
)


class MailMaker:
    """Places each message where Exchange would: sender's Sent Items, recipients' Inboxes."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.by_email = {c.email: c for c in COLLEAGUES}
        self.n = 0

    def message(
        self,
        sender: tuple[str, str],
        to: list[tuple[str, str]],
        at: datetime,
        *,
        cc: list[tuple[str, str]] = (),  # type: ignore[assignment]
        thread: str,
        reply_to: str | None = None,
        list_id: bool = False,
    ) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
        """Returns the Message-ID and the (user, folder, item) copies, not yet stored."""
        self.n += 1
        mid = f"<m{self.n}.{thread}@mail.example>"

        def addr(p: tuple[str, str]) -> dict[str, Any]:
            return {"emailAddress": {"name": p[0], "address": p[1]}}

        base: dict[str, Any] = {
            "internetMessageId": mid,
            "conversationId": f"conv-{thread}",
            "from": addr(sender),
            "sender": addr(sender),
            "toRecipients": [addr(p) for p in to],
            "ccRecipients": [addr(p) for p in cc],
            "bccRecipients": [],
            "sentDateTime": iso(at),
            "receivedDateTime": iso(at + timedelta(seconds=5)),
            "isDraft": False,
            "meetingMessageType": "none",
            "inferenceClassification": "focused",
            "subject": f"About {thread}",
            "body": {"contentType": "text", "content": "never to be read"},
            "bodyPreview": "never to be read",
        }
        copies: list[tuple[str, str, dict[str, Any]]] = []
        if sender[1] in self.by_email:
            item = dict(base, id=f"AAMk-{self.n}-sent")
            copies.append((self.by_email[sender[1]].uid, "sentitems", item))
        for p in [*to, *cc]:
            if p[1] in self.by_email:
                headers = [{"name": "Message-ID", "value": mid}]
                if reply_to:
                    headers.append({"name": "In-Reply-To", "value": reply_to})
                if list_id:
                    headers.append({"name": "List-Id", "value": "<news.fabrikam.com>"})
                uid = self.by_email[p[1]].uid
                item = dict(base, id=f"AAMk-{self.n}-{uid}", internetMessageHeaders=headers)
                copies.append((uid, "inbox", item))
        return mid, copies

    def store(self, copies: list[tuple[str, str, dict[str, Any]]]) -> None:
        for uid, folder, item in copies:
            f = self.tenant.folders.setdefault((uid, folder), Folder())
            f.items[item["id"]] = item


def _user(c: Colleague) -> dict[str, Any]:
    return {
        "id": c.uid,
        "displayName": c.name,
        "mail": c.email,
        "userPrincipalName": c.email,
        "proxyAddresses": [f"SMTP:{c.email}", *(f"smtp:{e}" for e in c.extra)],
        "jobTitle": "Account Executive",
        "department": c.department,
        "businessPhones": ["+1 425 555 0100"],
        "mobilePhone": None,
        "accountEnabled": True,
        "userType": "Member",
    }


def _event(
    n: int, organizer: tuple[str, str], attendees: list[tuple[str, str, str]], at: datetime
) -> dict[str, Any]:
    return {
        "id": f"AAMkEv-{n}",
        "iCalUId": f"040000008200E000-{n}",
        "subject": f"Meeting {n}",
        "start": {"dateTime": at.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {
            "dateTime": (at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        },
        "isCancelled": False,
        "type": "singleInstance",
        "organizer": {"emailAddress": {"name": organizer[0], "address": organizer[1]}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": resp, "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": name, "address": email},
            }
            for name, email, resp in attendees
        ],
    }


def sample_tenant(seed: int = 7, messages: int = 40) -> Tenant:
    """Five colleagues (one will opt out, one is in Finance), four outsiders, a guest."""
    import random

    rnd = random.Random(seed)
    tenant = Tenant(domains=[DOMAIN, "contoso.onmicrosoft.com"])
    for c in COLLEAGUES:
        tenant.users[c.uid] = _user(c)
    tenant.users["u-guest"] = {
        "id": "u-guest",
        "displayName": "Guest Person",
        "mail": "guest@partner.example",
        "userPrincipalName": "guest_partner.example#EXT#@contoso.onmicrosoft.com",
        "proxyAddresses": [],
        "accountEnabled": True,
        "userType": "Guest",
    }
    maker = MailMaker(tenant)
    people = [(c.name, c.email) for c in COLLEAGUES]
    outsiders = list(EXTERNALS[:3])
    for i in range(messages):
        at = NOW - timedelta(days=300 - i * 7, hours=rnd.randint(0, 8))
        colleague = rnd.choice(people)
        outsider = rnd.choice(outsiders)
        cc = [rnd.choice(people)] if rnd.random() < 0.4 else []
        cc = [p for p in cc if p != colleague]
        thread = f"t{i // 2}"
        if i % 2 == 0:
            mid, copies = maker.message(colleague, [outsider], at, cc=cc, thread=thread)
            last = (mid, colleague, outsider)
        else:
            parent, first_colleague, first_outsider = last
            mid, copies = maker.message(
                first_outsider, [first_colleague], at, cc=cc, thread=thread, reply_to=parent
            )
        maker.store(copies)
    _, copies = maker.message(
        ("Fabrikam News", "news@fabrikam.com"),
        [people[0], people[1]],
        NOW - timedelta(days=20),
        thread="news",
        list_id=True,
    )
    maker.store(copies)
    for c in COLLEAGUES:
        for folder in ("inbox", "sentitems"):
            tenant.folders.setdefault((c.uid, folder), Folder())
    for n in range(6):
        organizer = people[n % 3]
        outsider = outsiders[n % 3]
        other = people[(n + 1) % 5]
        at = NOW - timedelta(days=200 - n * 30)
        attendees = [
            (outsider[0], outsider[1], "accepted"),
            (other[0], other[1], "declined" if n == 2 else "tentativelyAccepted"),
        ]
        ev = _event(n, organizer, attendees, at)
        for email in {organizer[1], other[1]}:
            uid = next(c.uid for c in COLLEAGUES if c.email == email)
            copy = dict(ev, id=f"{ev['id']}-{uid}")
            tenant.events.setdefault(uid, []).append(copy)
    tenant.events.setdefault("u-tricia", []).append(
        _event(
            99, people[0], [(outsiders[0][0], outsiders[0][1], "accepted")], NOW + timedelta(days=3)
        )
    )
    for n in range(3):
        start = NOW - timedelta(days=5 + n)
        tenant.calls.append(
            {
                "id": f"call-{n}",
                "type": "peerToPeer",
                "startDateTime": iso(start),
                "endDateTime": iso(start + timedelta(minutes=12)),
                "organizer": {"user": {"id": "u-tricia", "displayName": "Tricia Potter"}},
                "participants": [
                    {"user": {"id": "u-tricia", "displayName": "Tricia Potter"}},
                    {"user": {"id": "u-bob" if n else "u-olivia", "displayName": "x"}},
                ],
            }
        )
    tenant.leads = [
        {
            "leadid": "lead-1",
            "fullname": "Yvonne McKay",
            "emailaddress1": "yvonne.mckay@fourthcoffee.com",
            "companyname": "Fourth Coffee",
            "subject": "Espresso machines",
            "telephone1": "+1 555 0101",
        },
        {"leadid": "lead-2", "fullname": "Nora New", "emailaddress1": "nora@adatum.example"},
    ]
    tenant.contacts = [
        {
            "contactid": "contact-1",
            "fullname": "Dan Park",
            "emailaddress1": "dan.park@fabrikam.com",
            "_parentcustomerid_value": "acc-1",
            "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "Fabrikam",
        }
    ]
    return tenant
