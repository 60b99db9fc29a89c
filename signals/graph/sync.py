"""One sync run: directory, every mailbox in scope, call records, Dynamics 365.

Progress is saved with the data: each page's interactions and the link that follows
it (nextLink, or the deltaLink after the last page) are committed in one transaction,
together with the renewal of the worker's lease. A crash resumes from the last
committed page; items seen twice are recognised by their ``source_key``.

Removed items (``@removed`` in a mail delta) delete the interaction they became, unless
another mailbox still holds the same message. The per-pair aggregates are additive and
cannot take one interaction back out exactly (thread and reply credit depend on what
came before), so a deletion, or a message stored after a later one of its thread, marks
what it touched stale (``signals.stale``) and the run ends by recomputing just that.
The tenant's first back-fill, whose mailboxes arrive in no particular time order, ends
with a full rebuild instead. Marks are committed with the page, so a crash before the
refresh is caught by the next run.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import DBAPIError

from signals import privacy, retention, settings, stale
from signals import sync_settings as ss
from signals.addresses import normalise_email
from signals.crm import upsert_crm
from signals.db import dialect_insert, error_text
from signals.directory import DirectoryPerson, upsert_person
from signals.graph import dataverse, groups, leases, mapping
from signals.graph.auth import Credentials, TokenProvider, resource_scope
from signals.graph.client import ClientStats, GraphClient, Page, Sleep
from signals.graph.errors import DeltaExpired, NotPermitted, SyncError
from signals.ingest import IngestStats, Writer
from signals.models import (
    Address,
    GraphItem,
    Interaction,
    Person,
    StoreMeta,
    SyncState,
)
from signals.rebuild import rebuild_in
from signals.records import InteractionRecord, Party

FOLDERS = ("inbox", "sentitems")
DOMAINS_KEY = "graph_verified_domains"
REBUILD_KEY = "graph_rebuild_pending"
MAILBOX = "mailbox"
DIRECTORY = "directory"
CALLS = "calls"
CALL_OVERLAP = timedelta(hours=1)
WRITE_ATTEMPTS = 5

Clock = Callable[[], datetime]
PageHook = Callable[[str, str, int], None]  # (source, scope, pages committed so far)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class RunSummary:
    """What one run did; printed by `whoknows sync`."""

    mailboxes: int = 0
    new_interactions: int = 0
    duplicates: int = 0
    removed: int = 0
    people: int = 0
    crm_records: int = 0
    throttled: int = 0
    requests: int = 0
    rebuilt: bool = False  # every aggregate recomputed
    refreshed: int = 0  # pairs recomputed because messages were removed or came late
    purged: int = 0  # interactions past the retention window, deleted
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"mailboxes {self.mailboxes}, new interactions {self.new_interactions}, "
            f"removed {self.removed}, directory {self.people}, CRM {self.crm_records}, "
            f"requests {self.requests}, throttled {self.throttled}, errors {len(self.errors)}"
            + (", aggregates rebuilt" if self.rebuilt else "")
            + (f", {self.refreshed} pairs refreshed" if self.refreshed and not self.rebuilt else "")
            + (f", {self.purged} past retention deleted" if self.purged else "")
        )


@dataclass
class SyncConfig:
    graph_url: str
    dataverse_url: str = ""
    backfill_days: int = 365
    page_size: int = 100
    lease_seconds: float = 600.0
    parallel_mailboxes: int = 8
    call_records: bool = True
    store_subjects: bool = False
    excluded: tuple[str, ...] = ()
    internal_domains: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    excluded_groups: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, *, backfill_days: int | None = None) -> SyncConfig:
        return cls(
            graph_url=ss.GRAPH_URL.get().rstrip("/"),
            dataverse_url=ss.DATAVERSE_URL.get().rstrip("/"),
            backfill_days=ss.SYNC_BACKFILL_DAYS.get() if backfill_days is None else backfill_days,
            page_size=ss.SYNC_PAGE_SIZE.get(),
            lease_seconds=float(ss.SYNC_LEASE_SECONDS.get()),
            parallel_mailboxes=ss.SYNC_PARALLEL_MAILBOXES.get(),
            call_records=ss.SYNC_CALL_RECORDS.get(),
            store_subjects=settings.STORE_SUBJECTS.get(),
            excluded=settings.EXCLUDED_PEOPLE.get(),
            internal_domains=settings.INTERNAL_DOMAINS.get(),
            allowed_groups=settings.ALLOWED_GROUPS.get(),
            excluded_groups=settings.EXCLUDED_GROUPS.get(),
        )


def make_clients(
    creds: Credentials, config: SyncConfig, *, sleep: Sleep = asyncio.sleep
) -> tuple[GraphClient, GraphClient | None]:
    """The Graph client and, when an organisation URL is set, the Dataverse client."""
    tokens = TokenProvider(creds)
    graph_scope = resource_scope(config.graph_url)

    def client(base: str, scope: str) -> GraphClient:
        async def token() -> str:
            return await tokens.token(scope)

        return GraphClient(
            base_url=base,
            token=token,
            ca_file=creds.ca_file,
            per_mailbox=ss.SYNC_MAILBOX_CONCURRENCY.get(),
            retry_budget=ss.SYNC_RETRY_BUDGET.get(),
            max_backoff=ss.SYNC_MAX_BACKOFF.get(),
            sleep=sleep,
        )

    graph = client(config.graph_url, graph_scope)
    graph.on_close = tokens.close
    crm = None
    if config.dataverse_url:
        crm = client(config.dataverse_url, config.dataverse_url + "/.default")
    return graph, crm


def _retryable_db_error(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in ("40P01", "40001") or "database is locked" in str(exc.orig)


def _meta_get(conn: Connection, key: str) -> str | None:
    value: str | None = conn.execute(select(StoreMeta.value).where(StoreMeta.key == key)).scalar()
    return value


def _meta_set(conn: Connection, key: str, value: str) -> None:
    stmt = dialect_insert(conn, StoreMeta).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def _link_values(page: Page) -> dict[str, Any]:
    if page.next_link:
        return {"next_link": page.next_link}
    return {"next_link": None, "delta_link": page.delta_link}


def rebuild_under_lock(engine: Engine) -> int:
    """Recompute the aggregates while no other worker can add to them.

    The aggregate tables are locked on PostgreSQL (see
    :func:`signals.rebuild.rebuild_in`); the stale marker goes in the same transaction.
    """
    with engine.begin() as conn:
        pairs = rebuild_in(conn)
        conn.execute(delete(StoreMeta).where(StoreMeta.key == REBUILD_KEY))
        return pairs


class SyncRunner:
    """One worker. Several may run against one database; leases keep them apart."""

    def __init__(
        self,
        engine: Engine,
        graph: GraphClient,
        config: SyncConfig,
        *,
        crm: GraphClient | None = None,
        owner: str | None = None,
        clock: Clock | None = None,
        on_page: PageHook | None = None,
        on_mailbox: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.graph = graph
        self.crm = crm
        self.config = config
        self.owner = owner or default_owner()
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.on_page = on_page
        self.on_mailbox = on_mailbox
        self.summary = RunSummary()
        for client in (graph, crm):
            if client is not None:
                client.user_agent = f"whoknows-sync ({self.owner})"
        self._write_lock = asyncio.Lock()
        self._writer: Writer | None = None
        self._first_read = True  # set at the start of each run (see _no_mail_yet)
        self._blocked: set[str] = set()
        self._blocked_ids: set[str] = set()
        self._excluded_emails = {e for e in (normalise_email(x) for x in config.excluded) if e}
        self._excluded_departments = {
            x[5:].strip().lower() for x in config.excluded if x.lower().startswith("dept:")
        }
        self._people: dict[str, Party] = {}
        self._pages: dict[tuple[str, str], int] = {}

    # -- database helpers --------------------------------------------------------------

    async def _db(self, fn: Callable[[], Any]) -> Any:
        """Run blocking store work off the event loop, one write at a time per worker."""
        async with self._write_lock:
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    return await asyncio.to_thread(fn)
                except DBAPIError as exc:
                    if attempt + 1 == WRITE_ATTEMPTS or not _retryable_db_error(exc):
                        raise
        raise AssertionError("unreachable")

    def _state(self, source: str, scope: str) -> tuple[int, str | None, str | None]:
        with self.engine.begin() as conn:
            row_id = leases.state_id(conn, source, scope)
            row = conn.execute(
                select(SyncState.delta_link, SyncState.next_link).where(SyncState.id == row_id)
            ).one()
        return row_id, row[0], row[1]

    def _save_link(
        self, conn: Connection, row_id: int, values: dict[str, Any], lease_row: int, items: int
    ) -> None:
        conn.execute(
            update(SyncState)
            .where(SyncState.id == row_id)
            .values(items_total=SyncState.items_total + items, **values)
        )
        leases.renew(
            conn,
            lease_row,
            owner=self.owner,
            now=self.clock(),
            lease_seconds=self.config.lease_seconds,
        )

    def _page_done(self, source: str, scope: str) -> None:
        key = (source, scope)
        self._pages[key] = self._pages.get(key, 0) + 1
        if self.on_page is not None:
            self.on_page(source, scope, self._pages[key])

    # -- the run -----------------------------------------------------------------------

    async def run_once(self) -> RunSummary:
        """Directory, mailboxes, calls, CRM; then a rebuild when aggregates went stale."""
        self.summary = RunSummary()
        started = self.clock()
        before = ClientStats()
        before.add(self.graph.stats)
        try:
            self._first_read = await self._db(self._no_mail_yet)
            await self._guarded(DIRECTORY, self._directory(started))
            await self._groups()
            await self._prepare()
            await self._mailboxes(started)
            if self.config.call_records:
                await self._guarded(CALLS, self._calls(started))
            if self.crm is not None:
                for source in dataverse.ENTITIES:
                    await self._guarded(source, self._dataverse(source, started))
            if await self._db(self._rebuild_pending):
                await self._db(lambda: rebuild_under_lock(self.engine))
                self.summary.rebuilt = True
            else:
                done = await self._db(lambda: stale.refresh_stale(self.engine))
                self.summary.refreshed = done.pairs
                self.summary.rebuilt = done.full
            purged = await self._db(self._purge)
            self.summary.purged = purged.interactions
        finally:
            stats = self.graph.stats
            self.summary.requests = stats.requests - before.requests
            self.summary.throttled = stats.throttled - before.throttled
            if self.crm is not None:
                self.summary.requests += self.crm.stats.requests
                self.summary.throttled += self.crm.stats.throttled
        return self.summary

    async def _guarded(self, name: str, work: Awaitable[None]) -> None:
        try:
            await work
        except NotPermitted as exc:
            self.summary.skipped.append(f"{name}: not permitted ({exc.code or exc.status})")
        except SyncError as exc:
            self.summary.errors.append(f"{name}: {exc}")

    def _purge(self) -> retention.Purged:
        """Once per run: what is older than the look-back window goes (signals.retention)."""
        return retention.purge(self.engine, now=self.clock())

    def _directory_known(self) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(SyncState.last_success_at).where(
                        SyncState.source == DIRECTORY, SyncState.scope == ""
                    )
                ).scalar()
                is not None
            )

    def _no_mail_yet(self) -> bool:
        """Whether no mail folder has been read to its end yet: the tenant's first
        back-fill, whose mailboxes arrive in no time order and which ends with a full
        rebuild (later first reads, of a new mailbox or after an expired delta token,
        mark what their late messages change instead)."""
        with self.engine.connect() as conn:
            done = conn.execute(
                select(SyncState.id)
                .where(SyncState.source.like("mail:%"), SyncState.delta_link.is_not(None))
                .limit(1)
            ).first()
            return done is None

    def _rebuild_pending(self) -> bool:
        with self.engine.connect() as conn:
            return _meta_get(conn, REBUILD_KEY) is not None

    async def _leased(
        self, source: str, started: datetime, work: Callable[[int], Awaitable[int | None]]
    ) -> bool:
        """Run ``work(lease_row)`` under the lease of a tenant-wide source."""
        claimed = await self._db(
            lambda: leases.claim(
                self.engine,
                source,
                owner=self.owner,
                now=self.clock(),
                lease_seconds=self.config.lease_seconds,
                not_synced_since=started,
            )
        )
        if claimed is None:
            return False
        row_id, _ = claimed
        error: str | None = None
        items: int | None = 0
        try:
            items = await work(row_id)
        except BaseException as exc:
            error = error_text(exc)
            raise
        finally:
            await self._release(row_id, error=error, items=items or 0, done=items is not None)
        return True

    # -- directory ---------------------------------------------------------------------

    async def _directory(self, started: datetime) -> None:
        await self._tenant_wide(DIRECTORY)

        async def work(lease_row: int) -> int:
            body = await self.graph.get_json("organization", params={"$select": "verifiedDomains"})
            domains = sorted(
                {
                    str(d.get("name", "")).lower()
                    for org in body.get("value", [])
                    for d in org.get("verifiedDomains", [])
                    if d.get("name")
                }
            )
            if domains:

                def save_domains() -> None:
                    with self.engine.begin() as conn:
                        _meta_set(conn, DOMAINS_KEY, ",".join(domains))

                await self._db(save_domains)
            return await self._delta(
                DIRECTORY,
                "",
                lease_row,
                start="users/delta",
                params={"$select": ",".join((*mapping.USER_FIELDS, "userType"))},
                headers={},
                page_to_work=self._directory_page,
            )

        await self._leased(DIRECTORY, started, work)

    def _directory_page(self, page: Page) -> Callable[[Connection], int]:
        def apply(conn: Connection) -> int:
            from sqlalchemy.orm import Session

            count = 0
            session = Session(bind=conn)
            for user in page.items:
                if not user.get("id"):
                    continue
                person = session.scalar(select(Person).where(Person.entra_id == str(user["id"])))
                guest = mapping.is_guest(user, person is not None and person.guest)
                if mapping.is_removed(user) or guest:
                    if person is not None:
                        person.enabled = False
                        person.departed_at = person.departed_at or self.clock()
                        person.guest = guest
                    continue
                entry = mapping.directory_person(user)
                if person is not None:
                    _keep_unsent(entry, user, person, session)
                upsert_person(session, entry)
                count += 1
            session.flush()
            scopes = [
                str(u["id"])
                for u in page.items
                if u.get("id")
                and not mapping.is_removed(u)
                and u.get("userType") != "Guest"
                and mapping.user_emails(u)
            ]
            leases.ensure_rows(conn, MAILBOX, scopes)
            self.summary.people += count
            return count

        return apply

    async def _groups(self) -> None:
        """Allowed and excluded groups (signals.graph.groups), before mailboxes are claimed."""
        done = await groups.sync_groups(
            self.graph,
            self.engine,
            self._db,
            allowed=self.config.allowed_groups,
            excluded=self.config.excluded_groups,
            page_size=self.config.page_size,
            now=self.clock(),
        )
        self.summary.skipped.extend(done.problems)

    # -- the shared delta/paging loop --------------------------------------------------

    async def _delta(
        self,
        source: str,
        scope: str,
        lease_row: int,
        *,
        start: str,
        params: dict[str, str],
        headers: dict[str, str],
        page_to_work: Callable[[Page], Callable[[Connection], int]],
        mailbox: str | None = None,
        full_sync_marks_stale: bool = False,
        link_values: Callable[[Page], dict[str, Any]] = _link_values,
    ) -> int:
        """Follow a delta (or plain paged) collection from the saved link; 410 restarts it."""
        total = 0
        for _attempt in range(2):
            row_id, delta_link, next_link = await self._db(lambda: self._state(source, scope))
            resume = next_link or delta_link
            fresh = resume is None
            try:
                async for written in self._stored_pages(
                    resume or start,
                    source,
                    scope,
                    params=None if resume else params,
                    headers=headers,
                    mailbox=mailbox,
                    page_to_work=page_to_work,
                    link_values=link_values,
                    stale=fresh and full_sync_marks_stale,
                    row_id=row_id,
                    lease_row=lease_row,
                ):
                    total += written
                return total
            except DeltaExpired:
                if fresh:
                    raise

                def reset(row_id: int = row_id) -> None:
                    with self.engine.begin() as conn:
                        conn.execute(
                            update(SyncState)
                            .where(SyncState.id == row_id)
                            .values(delta_link=None, next_link=None)
                        )

                await self._db(reset)
        return total

    def _commit(self, fn: Callable[[Connection], int]) -> int:
        with self.engine.begin() as conn:
            return fn(conn)

    # -- mailboxes ---------------------------------------------------------------------

    async def _refresh_privacy(self) -> None:
        """Opt-outs and the directory may have changed since the run began."""
        await self._prepare(keep_writer=True)

    async def _prepare(self, *, keep_writer: bool = False) -> None:
        """The Writer (with the tenant's verified domains) and who must never be read."""

        def load() -> tuple[tuple[str, ...], set[str], set[str], dict[str, Party]]:
            with self.engine.connect() as conn:
                stored = _meta_get(conn, DOMAINS_KEY)
                emails = {e for e in (normalise_email(x) for x in self.config.excluded) if e}
                depts = {
                    x[5:].strip().lower()
                    for x in self.config.excluded
                    if x.lower().startswith("dept:")
                }
                blocked_people = set(
                    conn.execute(
                        select(Person.id).where(
                            Person.opted_out.is_(True)
                            | Person.excluded.is_(True)
                            | Person.id.in_(
                                select(Address.person_id).where(Address.email.in_(sorted(emails)))
                            )
                            | func.lower(func.coalesce(Person.department, "")).in_(sorted(depts))
                        )
                    ).scalars()
                )
                blocked = set(
                    conn.execute(
                        select(Address.email).where(Address.person_id.in_(sorted(blocked_people)))
                    ).scalars()
                )
                blocked_ids = set(
                    conn.execute(
                        select(Person.entra_id).where(
                            Person.id.in_(sorted(blocked_people)), Person.entra_id.is_not(None)
                        )
                    ).scalars()
                )
                people = {
                    str(eid): Party(str(email), str(name))
                    for eid, email, name in conn.execute(
                        select(Person.entra_id, func.min(Address.email), Person.display_name)
                        .join(Address, Address.person_id == Person.id)
                        .where(Person.entra_id.is_not(None))
                        .group_by(Person.entra_id, Person.display_name)
                    )
                }
            domains = tuple(stored.split(",")) if stored else self.config.internal_domains
            return domains, blocked, {str(x) for x in blocked_ids}, people

        domains, self._blocked, self._blocked_ids, self._people = await self._db(load)
        if keep_writer and self._writer is not None:
            return
        self._writer = Writer(
            self.engine, internal_domains=domains, store_subjects=self.config.store_subjects
        )

    def _page_commit(
        self,
        work: Callable[[Connection], int],
        values: dict[str, Any],
        *,
        stale: bool,
        row_id: int,
        lease_row: int,
        count: int,
    ) -> Callable[[Connection], int]:
        """One page's transaction: its rows, the rebuild mark if needed, then its link."""

        def commit(conn: Connection) -> int:
            n = work(conn)
            if stale:
                _meta_set(conn, REBUILD_KEY, "1")
            self._save_link(conn, row_id, values, lease_row, count)
            return n

        return commit

    async def _tenant_wide(self, source: str) -> None:
        """Make sure the one lease row of a tenant-wide source (scope "") exists."""

        def ensure() -> None:
            with self.engine.begin() as conn:
                leases.ensure_rows(conn, source, [""])

        await self._db(ensure)

    async def _release(
        self, row_id: int, *, error: str | None, items: int, done: bool = True
    ) -> None:
        """Give a lease back, even while the task is being cancelled."""
        await asyncio.shield(
            self._db(
                lambda: leases.release(
                    self.engine,
                    row_id,
                    owner=self.owner,
                    now=self.clock(),
                    error=error,
                    items=items,
                    done=done,
                )
            )
        )

    def _writing(self, mapped: Iterable[InteractionRecord | None]) -> Callable[[Connection], int]:
        """The store work for one page of events or calls: keep what may be kept, write it."""
        records = [r for r in (self._private(r) for r in mapped if r is not None) if r is not None]

        def apply(conn: Connection) -> int:
            assert self._writer is not None
            stats = _write_on(self._writer, conn, records, lambda _c, _stats: None)
            self.summary.new_interactions += stats.new_interactions
            self.summary.duplicates += stats.duplicates
            return stats.new_interactions

        return apply

    def _private(self, rec: InteractionRecord) -> InteractionRecord | None:
        """Drop opted-out and excluded colleagues from a record (or the whole record)."""
        if not self._blocked:
            return rec
        if rec.author is not None and rec.author.email in self._blocked:
            return None
        if rec.sent_by is not None and rec.sent_by.email in self._blocked:
            return None
        rec.to = [p for p in rec.to if p.email not in self._blocked]
        rec.cc = [p for p in rec.cc if p.email not in self._blocked]
        rec.bcc = [p for p in rec.bcc if p.email not in self._blocked]
        rec.attendees = [a for a in rec.attendees if a.email not in self._blocked]
        return rec

    async def _mailboxes(self, started: datetime) -> None:
        """Claim mailboxes one by one and sync up to N of them at a time."""
        running: set[asyncio.Task[None]] = set()
        limit = max(1, self.config.parallel_mailboxes)
        try:
            while True:
                claimed = await self._db(
                    lambda: leases.claim(
                        self.engine,
                        MAILBOX,
                        owner=self.owner,
                        now=self.clock(),
                        lease_seconds=self.config.lease_seconds,
                        not_synced_since=started,
                        mailboxes_only=True,
                        skip_scopes=self._blocked_ids,
                        excluded_emails=self._excluded_emails,
                        excluded_departments=self._excluded_departments,
                    )
                )
                if claimed is None:
                    break
                running.add(asyncio.create_task(self._mailbox(*claimed)))
                if len(running) >= limit:
                    done, running = await asyncio.wait(running, return_when="FIRST_COMPLETED")
                    for task in done:
                        task.result()
            if running:
                outcomes = await asyncio.gather(*running, return_exceptions=True)
                running = set()
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def _mailbox(self, lease_row: int, user_id: str) -> None:
        await self._refresh_privacy()
        party = self._people.get(user_id)
        email = party.email if party else user_id
        error: str | None = None
        items = 0
        try:
            results = await asyncio.gather(
                *(self._folder(lease_row, user_id, email, f) for f in FOLDERS),
                self._calendar(lease_row, user_id, email),
                return_exceptions=True,
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            for r in failures:
                if not isinstance(r, Exception):
                    raise r  # cancellation, interrupts
            items = sum(r for r in results if isinstance(r, int))
            await self._db(lambda: self._drop_if_refused(user_id))
            if failures:
                error = "; ".join(error_text(r) for r in failures)
                self.summary.errors.append(f"mailbox {email}: {error}")
            else:
                await self._db(lambda: self._mailbox_read(user_id))
            self.summary.mailboxes += 1
        except BaseException as exc:
            error = error_text(exc)
            raise
        finally:
            await self._release(lease_row, error=error, items=items)
            if self.on_mailbox is not None:
                self.on_mailbox(email)

    def _drop_if_refused(self, user_id: str) -> None:
        """An opt-out while this mailbox synced: what the run left of it goes too."""
        with self.engine.begin() as conn:
            privacy.drop_mailbox_state(conn, user_id)

    def _mailbox_read(self, user_id: str) -> None:
        """Its folders and calendar were read to the end: it counts as analysed."""
        with self.engine.begin() as conn:
            privacy.mark_mailboxes_read(conn, entra_ids=[user_id], at=self.clock())

    def _mail_page(self, user_id: str, email: str, page: Page) -> Callable[[Connection], int]:
        writer = self._writer
        assert writer is not None
        records: list[InteractionRecord] = []
        keys: dict[str, str] = {}  # graph item key -> source_key
        removed: list[str] = []
        for item in page.items:
            item_key = f"{user_id}/{item.get('id')}"
            if mapping.is_removed(item):
                removed.append(item_key)
                continue
            rec = mapping.message_record(item, mailbox=email)
            rec = self._private(rec) if rec is not None else None
            if rec is not None:
                records.append(rec)
                keys[item_key] = rec.source_key

        def apply(conn: Connection) -> int:
            def then(c: Connection, written: IngestStats) -> None:
                stale.mark_keys(c, written.late)
                _map_items(c, {i: k for i, k in keys.items() if k not in written.refused})
                self.summary.removed += _remove_items(c, removed)

            # The page's records are written on this connection's transaction. Late
            # messages are not looked for while a full rebuild is due anyway.
            find_late = _meta_get(conn, REBUILD_KEY) is None
            stats = _write_on(writer, conn, records, then, find_late=find_late)
            self.summary.new_interactions += stats.new_interactions
            self.summary.duplicates += stats.duplicates
            return stats.new_interactions

        return apply

    async def _folder(self, lease_row: int, user_id: str, email: str, folder: str) -> int:
        since = self.clock() - timedelta(days=self.config.backfill_days)
        select_ = mapping.message_select(
            inbox=folder == "inbox", subjects=self.config.store_subjects
        )
        return await self._delta(
            f"mail:{folder}",
            user_id,
            lease_row,
            start=f"users/{user_id}/mailFolders/{folder}/messages/delta",
            params={
                "$select": select_,
                "$filter": f"receivedDateTime ge {_iso(since)}",
            },
            headers={"Prefer": f"odata.maxpagesize={self.config.page_size}"},
            page_to_work=lambda page: self._mail_page(user_id, email, page),
            mailbox=user_id,
            full_sync_marks_stale=self._first_read,
        )

    async def _calendar(self, lease_row: int, user_id: str, email: str) -> int:
        """calendarView from where the last run stopped (or the back-fill start) to now."""
        now = self.clock()
        _, covered, _ = await self._db(lambda: self._state("calendar", user_id))
        begin = (
            datetime.fromisoformat(covered) - timedelta(days=1)
            if covered
            else now - timedelta(days=self.config.backfill_days)
        )

        def to_work(page: Page) -> Callable[[Connection], int]:
            return self._writing(
                mapping.event_record(e, mailbox=email, now=now) for e in page.items
            )

        def links(page: Page) -> dict[str, Any]:
            if page.next_link:
                return {"next_link": page.next_link}
            end = _query_value(page.url, "endDateTime") or _iso(now)
            return {"next_link": None, "delta_link": end}

        return await self._paged(
            "calendar",
            user_id,
            lease_row,
            start=f"users/{user_id}/calendarView",
            params={
                "startDateTime": _iso(begin),
                "endDateTime": _iso(now),
                "$select": ",".join(mapping.EVENT_FIELDS),
            },
            headers={
                "Prefer": f'outlook.timezone="UTC", odata.maxpagesize={self.config.page_size}'
            },
            page_to_work=to_work,
            link_values=links,
            mailbox=user_id,
            full_sync_marks_stale=covered is None and self._first_read,
        )

    async def _paged(
        self,
        source: str,
        scope: str,
        lease_row: int,
        *,
        start: str,
        params: dict[str, str],
        headers: dict[str, str],
        page_to_work: Callable[[Page], Callable[[Connection], int]],
        link_values: Callable[[Page], dict[str, Any]],
        mailbox: str | None = None,
        full_sync_marks_stale: bool = False,
    ) -> int:
        """A windowed (non-delta) collection: resume from a saved nextLink, else start."""
        row_id, _, next_link = await self._db(lambda: self._state(source, scope))
        total = 0
        async for written in self._stored_pages(
            next_link or start,
            source,
            scope,
            params=None if next_link else params,
            headers=headers,
            mailbox=mailbox,
            page_to_work=page_to_work,
            link_values=link_values,
            stale=full_sync_marks_stale,
            row_id=row_id,
            lease_row=lease_row,
        ):
            total += written
        return total

    async def _stored_pages(
        self,
        link: str,
        source: str,
        scope: str,
        *,
        params: dict[str, str] | None,
        headers: dict[str, str],
        mailbox: str | None,
        page_to_work: Callable[[Page], Callable[[Connection], int]],
        link_values: Callable[[Page], dict[str, Any]],
        stale: bool,
        row_id: int,
        lease_row: int,
    ) -> AsyncIterator[int]:
        """Follow a collection from ``link``, storing each page's rows and its link in one
        transaction; yields the rows written per page (so an error later in the walk
        still leaves the pages before it counted)."""
        async for page in self.graph.pages(link, mailbox=mailbox, params=params, headers=headers):
            commit = self._page_commit(
                page_to_work(page),
                link_values(page),
                stale=stale,
                row_id=row_id,
                lease_row=lease_row,
                count=len(page.items),
            )
            written: int = await self._db(functools.partial(self._commit, commit))
            self._page_done(source, scope)
            yield written

    # -- tenant-wide sources -----------------------------------------------------------

    async def _calls(self, started: datetime) -> None:
        await self._tenant_wide(CALLS)

        async def work(lease_row: int) -> int | None:
            if not await self._db(self._directory_known):
                return None  # participants are Entra ids: wait for the directory
            await self._prepare(keep_writer=True)
            now = self.clock()
            _, covered, _ = await self._db(lambda: self._state(CALLS, ""))
            since = (
                datetime.fromisoformat(covered) - CALL_OVERLAP
                if covered
                else now - timedelta(days=min(self.config.backfill_days, 30))
            )

            def to_work(page: Page) -> Callable[[Connection], int]:
                return self._writing(mapping.call_record(c, self._people) for c in page.items)

            def links(page: Page) -> dict[str, Any]:
                if page.next_link:
                    return {"next_link": page.next_link}
                return {"next_link": None, "delta_link": _iso(now)}

            return await self._paged(
                CALLS,
                "",
                lease_row,
                start="communications/callRecords",
                params={"$filter": f"startDateTime ge {_iso(since)}"},
                headers={},
                page_to_work=to_work,
                link_values=links,
            )

        await self._leased(CALLS, started, work)

    async def _dataverse(self, source: str, started: datetime) -> None:
        crm = self.crm
        assert crm is not None
        name = f"dataverse:{source}"

        await self._tenant_wide(name)

        async def work(lease_row: int) -> int:
            row_id, completed, next_link = await self._db(lambda: self._state(name, ""))
            announce = completed is not None  # a first pass only learns the owners
            total = 0
            headers = {**dataverse.HEADERS}
            headers["Prefer"] += f", odata.maxpagesize={self.config.page_size}"
            async for page in crm.pages(
                next_link or dataverse.entity_path(source),
                params=None if next_link else dataverse.entity_params(source),
                headers=headers,
            ):
                entries = [e for e in (dataverse.crm_entry(source, row) for row in page.items) if e]

                def commit(
                    conn: Connection, entries: list[Any] = entries, page: Page = page
                ) -> int:
                    from sqlalchemy.orm import Session

                    session = Session(bind=conn)
                    for entry in entries:
                        upsert_crm(session, entry, announce=announce)
                    session.flush()
                    values = (
                        {"next_link": page.next_link}
                        if page.next_link
                        else {"next_link": None, "delta_link": _iso(self.clock())}
                    )
                    self._save_link(conn, row_id, values, lease_row, len(page.items))
                    return len(entries)

                n = await self._db(functools.partial(self._commit, commit))
                self.summary.crm_records += n
                total += n
                self._page_done(name, "")
            return total

        await self._leased(name, started, work)


def _keep_unsent(entry: DirectoryPerson, user: dict[str, Any], person: Person, _s: Any) -> None:
    """A delta update may carry only the changed properties: keep the stored ones."""
    if "displayName" not in user:
        entry.display_name = person.display_name
    if "jobTitle" not in user:
        entry.title = person.title
    if "department" not in user:
        entry.department = person.department
    if "businessPhones" not in user and "mobilePhone" not in user:
        entry.phone = person.phone
    if "accountEnabled" not in user:
        entry.enabled = person.enabled
    if "userPrincipalName" not in user:
        entry.upn = person.upn


def _write_on(
    writer: Writer,
    conn: Connection,
    records: list[InteractionRecord],
    then: Callable[[Connection, IngestStats], None],
    *,
    find_late: bool = False,
) -> IngestStats:
    """Write records on the caller's transaction (the page's), then its bookkeeping."""
    stats = writer.write_on(conn, records, find_late=find_late)
    try:
        then(conn, stats)
    except BaseException:
        writer.forget()
        raise
    return stats


def _map_items(conn: Connection, keys: dict[str, str]) -> None:
    """Remember which interaction each Graph item became (for @removed)."""
    if not keys:
        return
    ids = dict(
        conn.execute(
            select(Interaction.source_key, Interaction.id).where(
                Interaction.source_key.in_(sorted(set(keys.values())))
            )
        ).all()
    )
    rows = [
        {"item_id": item, "interaction_id": ids[key]} for item, key in keys.items() if key in ids
    ]
    if rows:
        stmt = dialect_insert(conn, GraphItem)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["item_id"], set_={"interaction_id": stmt.excluded.interaction_id}
            ),
            rows,
        )


def _remove_items(conn: Connection, item_keys: Iterable[str]) -> int:
    """Forget removed items; delete their interaction when no mailbox holds it any more."""
    keys = sorted(set(item_keys))
    if not keys:
        return 0
    targets: set[int] = {
        int(i)
        for i in conn.execute(
            select(GraphItem.interaction_id).where(
                GraphItem.item_id.in_(keys), GraphItem.interaction_id.is_not(None)
            )
        ).scalars()
        if i is not None
    }
    conn.execute(delete(GraphItem).where(GraphItem.item_id.in_(keys)))
    if not targets:
        return 0
    still_held = set(
        conn.execute(
            select(GraphItem.interaction_id).where(GraphItem.interaction_id.in_(sorted(targets)))
        ).scalars()
    )
    gone = sorted(targets - still_held)
    if gone:
        stale.mark(conn, gone)  # while their participants are still stored
        conn.execute(delete(Interaction).where(Interaction.id.in_(gone)))
    return len(gone)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None
