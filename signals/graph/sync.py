"""One sync run: directory, every mailbox in scope, call records, Dynamics 365.

Every source is read the same way, in plain steps (:meth:`SyncRunner._follow`): fetch a
page, map it to rows, write the rows and the link that follows the page (nextLink, or the
deltaLink after the last one) in one transaction, together with the renewal of the
worker's lease. Mail pages that wait for the database at the same time (other folders,
other mailboxes) share the transaction and one bulk write, each with its own link
(:meth:`SyncRunner._commit`). A crash resumes from the last committed page; items seen
twice are recognised by their ``source_key``.

Removed items (``@removed`` in a mail delta) delete the interaction they became, unless
another mailbox still holds the same message. The per-pair aggregates are additive and
cannot take one interaction back out exactly (thread and reply credit depend on what
came before), so a deletion, or a message stored after a later one of its thread, marks
what it touched stale (``signals.stale``) and the run ends by recomputing just that.
The tenant's first back-fill, whose mailboxes arrive in no particular time order, ends
with a full rebuild instead. Marks are committed with the page, so a crash before the
refresh is caught by the next run.

A failure of one source or mailbox is recorded on its lease row (without data, see
:func:`signals.graph.errors.describe`) and retried after a backoff; the run goes on. A
database outage is not a source's failure: it ends the run, and the worker
(:mod:`signals.graph.worker`) waits for the database and starts again.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update
from sqlalchemy.exc import DBAPIError

from signals import privacy, retention, settings, stale
from signals import sync_settings as ss
from signals.addresses import normalise_email
from signals.db import dialect_insert
from signals.graph import dataverse, groups, leases, mapping, rows
from signals.graph.auth import Credentials, TokenProvider, resource_scope
from signals.graph.client import ClientStats, GraphClient, Page, Sleep
from signals.graph.errors import (
    DeltaExpired,
    NotPermitted,
    StopRequested,
    describe,
    is_db_outage,
    is_lock_conflict,
)
from signals.graph.rows import (
    CrmRows,
    DirectoryRows,
    MessageRows,
    Privacy,
    Rows,
    crm_rows,
    directory_rows,
    map_items,
    remove_items,
    write_crm,
    write_directory,
)
from signals.ingest import Writer
from signals.models import Address, Person, StoreMeta, SyncState
from signals.rebuild import rebuild_in
from signals.records import Party

MAILBOX = rows.MAILBOX  # the lease rows of mailboxes
FOLDERS = ("inbox", "sentitems")
DOMAINS_KEY = "graph_verified_domains"
REBUILD_KEY = "graph_rebuild_pending"
DIRECTORY = "directory"
CALLS = "calls"
CALL_OVERLAP = timedelta(hours=1)
WRITE_ATTEMPTS = 5
# Mail pages written in one transaction stop growing past this many records (about the
# import path's batch; measured in bench/sync.py).
GROUP_RECORDS = 2000

T = TypeVar("T")
Clock = Callable[[], datetime]
PageHook = Callable[[str, str, int], None]  # (source, scope, pages committed so far)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    held_elsewhere: int = 0  # mailboxes left because another worker holds their lease
    backing_off: int = 0  # mailboxes left because they failed lately (retried later)
    stopped: bool = False  # SIGTERM: the run ended after its current pages
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
            + (
                f", {self.held_elsewhere} mailboxes left to other workers"
                if self.held_elsewhere
                else ""
            )
            + (f", {self.backing_off} mailboxes waiting to retry" if self.backing_off else "")
            + (", stopped on request" if self.stopped else "")
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
    failure_backoff: float = 60.0  # first retry delay of a failed mailbox or source
    request_timeout: float = 60.0
    poll_seconds: float = 2.0  # how often a worker looks whether another one is done
    wait_for_others: bool = False  # at the end of a run, wait for mailboxes others hold

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
            failure_backoff=float(ss.SYNC_FAILURE_BACKOFF.get()),
            request_timeout=float(ss.SYNC_REQUEST_TIMEOUT.get()),
        )

    def mailbox_filter(self, blocked_ids: Iterable[str] = ()) -> leases.MailboxFilter:
        return leases.MailboxFilter(
            skip_scopes=frozenset(blocked_ids),
            excluded_emails=frozenset(e for e in (normalise_email(x) for x in self.excluded) if e),
            excluded_departments=frozenset(
                x[5:].strip().lower() for x in self.excluded if x.lower().startswith("dept:")
            ),
        )


@dataclass(frozen=True)
class ScopedToken:
    """The token source of one client: app-only tokens for one resource."""

    tokens: TokenProvider
    scope: str

    async def __call__(self) -> str:
        return await self.tokens.token(self.scope)


def make_clients(
    creds: Credentials, config: SyncConfig, *, sleep: Sleep = asyncio.sleep
) -> tuple[GraphClient, GraphClient | None]:
    """The Graph client and, when an organisation URL is set, the Dataverse client."""
    tokens = TokenProvider(creds, timeout=config.request_timeout)
    graph = _client(config.graph_url, ScopedToken(tokens, resource_scope(config.graph_url)))
    graph.ca_file = creds.ca_file
    graph.sleep = sleep
    graph.request_timeout = config.request_timeout
    graph.on_close = tokens.close
    crm = None
    if config.dataverse_url:
        crm = _client(config.dataverse_url, ScopedToken(tokens, config.dataverse_url + "/.default"))
        crm.ca_file = creds.ca_file
        crm.sleep = sleep
        crm.request_timeout = config.request_timeout
    return graph, crm


def _client(base: str, token: ScopedToken) -> GraphClient:
    return GraphClient(
        base_url=base,
        token=token,
        per_mailbox=ss.SYNC_MAILBOX_CONCURRENCY.get(),
        retry_budget=ss.SYNC_RETRY_BUDGET.get(),
        max_backoff=ss.SYNC_MAX_BACKOFF.get(),
    )


# -- what is read: collections and the rows their pages become -----------------------------


@dataclass(frozen=True)
class Collection:
    """One paged Graph (or Dataverse) collection and the state row that keeps its place.

    ``delta``: a delta query, resumed from its deltaLink. Otherwise a window read again
    each run, whose state row's ``delta_link`` holds the time it covers up to
    (``covered_until``, stored after the last page)."""

    source: str
    scope: str
    start: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    mailbox: str | None = None  # the mailbox every request reads (Exchange's limit)
    delta: bool = True
    covered_until: str = ""
    first_read_rebuilds: bool = False  # a first read during the tenant's first back-fill
    crm: bool = False  # read from Dataverse, not Graph


@dataclass(frozen=True)
class SavedPlace:
    row_id: int
    delta_link: str | None
    next_link: str | None

    def resume(self, collection: Collection) -> str | None:
        if collection.delta:
            return self.next_link or self.delta_link
        return self.next_link


@dataclass(frozen=True)
class PageWrite:
    """Where a page's rows go and which link is saved with them."""

    place: SavedPlace
    lease_row: int
    links: dict[str, Any]
    items: int
    mark_rebuild: bool


@dataclass
class QueuedPage:
    """A mail page waiting for its transaction, and what its reader awaits."""

    rows: MessageRows
    step: PageWrite
    done: asyncio.Future[int]


@dataclass
class Tally:
    """What a transaction stored, added to the run's summary once it has committed."""

    new_interactions: int = 0
    duplicates: int = 0
    removed: int = 0
    people: int = 0
    crm_records: int = 0

    def add_to(self, summary: RunSummary) -> None:
        summary.new_interactions += self.new_interactions
        summary.duplicates += self.duplicates
        summary.removed += self.removed
        summary.people += self.people
        summary.crm_records += self.crm_records


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
    """One worker's run. Several may run against one database; leases keep them apart."""

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
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.graph = graph
        self.crm = crm
        self.config = config
        self.owner = owner or default_owner()
        self.clock: Clock = clock or utc_now
        self.on_page = on_page
        self.on_mailbox = on_mailbox
        self.sleep = sleep
        self.summary = RunSummary()
        self.stopping = False
        self.backoff = leases.Backoff(base=config.failure_backoff)
        for client in (graph, crm):
            if client is not None:
                client.user_agent = f"whoknows-sync ({self.owner})"
        self._write_lock = asyncio.Lock()
        self._writer: Writer | None = None
        self._first_read = True  # set at the start of each run (see _no_mail_yet)
        self._privacy = Privacy()
        self._pages: dict[tuple[str, str], int] = {}
        self._queue: list[QueuedPage] = []  # mail pages waiting for the group commit
        self._flusher: asyncio.Task[None] | None = None

    def request_stop(self) -> None:
        """Finish the pages being written, release the leases, end the run (SIGTERM)."""
        self.stopping = True

    # -- the run -----------------------------------------------------------------------

    async def run_once(self) -> RunSummary:
        """Directory, mailboxes, calls, CRM; then a rebuild when aggregates went stale."""
        self.summary = RunSummary()
        started = self.clock()
        before = ClientStats()
        before.add(self.graph.stats)
        try:
            self._first_read = await self._db(self._no_mail_yet)
            await self._directory_first(started)
            await self._groups()
            await self._load_privacy(new_writer=True)
            await self._mailboxes(started)
            if self.config.call_records:
                await self._guarded(CALLS, self._leased(CALLS, started, self._calls_pass))
            if self.crm is not None:
                for entity in dataverse.ENTITIES:
                    work = functools.partial(self._crm_pass, entity)
                    name = f"dataverse:{entity}"
                    await self._guarded(name, self._leased(name, started, work))
            await self._refresh_aggregates()
            purged = await self._db(self._purge)
            self.summary.purged = purged.interactions
        except StopRequested:
            self.summary.stopped = True
        finally:
            stats = self.graph.stats
            self.summary.requests = stats.requests - before.requests
            self.summary.throttled = stats.throttled - before.throttled
            if self.crm is not None:
                self.summary.requests += self.crm.stats.requests
                self.summary.throttled += self.crm.stats.throttled
        return self.summary

    async def _refresh_aggregates(self) -> None:
        if await self._db(self._rebuild_pending):
            await self._db(rebuild_under_lock, self.engine)
            self.summary.rebuilt = True
        else:
            done = await self._db(stale.refresh_stale, self.engine)
            self.summary.refreshed = done.pairs
            self.summary.rebuilt = done.full

    async def _guarded(self, name: str, work: Awaitable[T]) -> T | None:
        """Run one source; its failure is noted (None) and the run goes on. A database
        outage is not a source's failure: it ends the run."""
        try:
            return await work
        except NotPermitted as exc:
            self.summary.skipped.append(f"{name}: not permitted ({exc.code or exc.status})")
        except Exception as exc:
            if is_db_outage(exc):
                raise
            self.summary.errors.append(f"{name}: {describe(exc)}")
        return None

    def _stop_if_asked(self) -> None:
        if self.stopping:
            raise StopRequested

    # -- database helpers --------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking store work off the event loop, one write at a time per worker."""
        async with self._write_lock:
            return await self._in_thread(fn, *args)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` in a thread, again after a lock conflict (the caller holds the lock)."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return await asyncio.to_thread(fn, *args)
            except DBAPIError as exc:
                if attempt + 1 == WRITE_ATTEMPTS or not is_lock_conflict(exc):
                    raise
        raise AssertionError("unreachable")

    def _place(self, source: str, scope: str) -> SavedPlace:
        """Where a collection's last committed page left it (its row created if new).

        Read first: creating the row is a write, whose commit costs a flush to disk,
        and the row exists for all but a collection's first read."""
        query = select(SyncState.id, SyncState.delta_link, SyncState.next_link).where(
            SyncState.source == source, SyncState.scope == scope
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        if found is None:
            with self.engine.begin() as conn:
                leases.ensure_rows(conn, source, [scope])
                found = conn.execute(query).one()
        row_id, delta_link, next_link = found
        return SavedPlace(int(row_id), delta_link, next_link)

    def _completed_before(self, source: str, scope: str) -> bool:
        with self.engine.connect() as conn:
            done = conn.scalar(
                select(SyncState.last_success_at).where(
                    SyncState.source == source, SyncState.scope == scope
                )
            )
        return done is not None

    def _mailbox_places(self, user_id: str) -> None:
        """The state rows of a mailbox's folders and calendar, the missing ones created
        in one transaction (a mailbox's first read)."""
        sources = [f"mail:{folder}" for folder in FOLDERS] + ["calendar"]
        with self.engine.connect() as conn:
            found = set(
                conn.execute(
                    select(SyncState.source).where(
                        SyncState.scope == user_id, SyncState.source.in_(sources)
                    )
                ).scalars()
            )
        if found.issuperset(sources):
            return
        with self.engine.begin() as conn:
            for source in sources:
                if source not in found:
                    leases.ensure_rows(conn, source, [user_id])

    def _forget_place(self, row_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(SyncState)
                .where(SyncState.id == row_id)
                .values(delta_link=None, next_link=None)
            )

    def _purge(self) -> retention.Purged:
        """Once per run: what is older than the look-back window goes (signals.retention)."""
        return retention.purge(self.engine, now=self.clock())

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

    def _save_domains(self, domains: list[str]) -> None:
        with self.engine.begin() as conn:
            _meta_set(conn, DOMAINS_KEY, ",".join(domains))

    def _ensure_tenant_row(self, source: str) -> None:
        with self.engine.begin() as conn:
            leases.ensure_rows(conn, source, [""])

    # -- leases ------------------------------------------------------------------------

    def _claim(self, source: str, started: datetime, mailboxes: bool) -> tuple[int, str] | None:
        return leases.claim(
            self.engine,
            source,
            owner=self.owner,
            now=self.clock(),
            lease_seconds=self.config.lease_seconds,
            not_synced_since=started,
            mailboxes=self.config.mailbox_filter(self._privacy.blocked_ids) if mailboxes else None,
        )

    def _waiting(self, source: str, started: datetime, mailboxes: bool) -> leases.Waiting:
        return leases.waiting(
            self.engine,
            source,
            owner=self.owner,
            now=self.clock(),
            not_synced_since=started,
            mailboxes=self.config.mailbox_filter(self._privacy.blocked_ids) if mailboxes else None,
        )

    async def _release(self, row_id: int, outcome: leases.Outcome) -> None:
        """Give a lease back, even while the task is being cancelled."""
        release = functools.partial(
            leases.release,
            self.engine,
            row_id,
            owner=self.owner,
            now=self.clock(),
            outcome=outcome,
            backoff=self.backoff,
        )
        await asyncio.shield(self._db(release))

    async def _leased(
        self, source: str, started: datetime, work: Callable[[int], Awaitable[int | None]]
    ) -> bool:
        """Run ``work(lease_row)`` under the lease of a tenant-wide source; False when
        another worker holds it (or it ran since ``started``, or it is backing off)."""
        await self._db(self._ensure_tenant_row, source)
        claimed = await self._db(self._claim, source, started, False)
        if claimed is None:
            return False
        row_id, _ = claimed
        outcome = leases.Outcome(done=False)
        try:
            items = await work(row_id)
            outcome = leases.Outcome(items=items or 0, done=items is not None)
        except Exception as exc:
            outcome = leases.Outcome(error=describe(exc))
            raise
        finally:
            await self._release(row_id, outcome)
        return True

    # -- directory ---------------------------------------------------------------------

    async def _directory_first(self, started: datetime) -> None:
        """The directory pass, or wait while another worker does the tenant's first one:
        the mailboxes to read come from it."""
        while True:
            ran = await self._guarded(
                DIRECTORY, self._leased(DIRECTORY, started, self._directory_pass)
            )
            if ran is not False or await self._db(self._directory_known):  # ran, or failed
                return
            waiting = await self._db(self._waiting, DIRECTORY, started, False)
            if waiting.backing_off and not waiting.held:
                return  # it failed lately: no mailbox to read before its retry
            self._stop_if_asked()
            await self.sleep(self.config.poll_seconds)

    async def _directory_pass(self, lease_row: int) -> int:
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
            await self._db(self._save_domains, domains)
        users = Collection(
            DIRECTORY,
            "",
            start="users/delta",
            params={"$select": ",".join((*mapping.USER_FIELDS, "userType"))},
        )
        return await self._read(users, lease_row, directory_rows)

    # -- mailboxes ---------------------------------------------------------------------

    async def _load_privacy(self, *, new_writer: bool = False, mailbox: str = "") -> None:
        """Opt-outs, exclusions and the directory as stored now; the Writer when asked.
        For a ``mailbox``, the directory's parties read at the run's start are kept, with
        the mailbox owner's read again."""
        if mailbox:
            load = functools.partial(_load_privacy, also=[mailbox])
            self._privacy = await self._db(load, self.engine, self.config, self._privacy.people)
        else:
            self._privacy = await self._db(_load_privacy, self.engine, self.config)
        if new_writer or self._writer is None:
            self._writer = Writer(
                self.engine,
                internal_domains=self._privacy.domains,
                store_subjects=self.config.store_subjects,
            )

    async def _mailboxes(self, started: datetime) -> None:
        """Claim mailboxes one by one and sync up to N of them at a time; then say (or
        wait for) what other workers hold."""
        running: set[asyncio.Task[None]] = set()
        limit = max(1, self.config.parallel_mailboxes)
        try:
            while not self.stopping:
                claimed = await self._db(self._claim, MAILBOX, started, True)
                if claimed is None:
                    await _settle(running)
                    running = set()
                    waiting = await self._db(self._waiting, MAILBOX, started, True)
                    self.summary.held_elsewhere = waiting.held
                    self.summary.backing_off = waiting.backing_off
                    if not (waiting.held and self.config.wait_for_others):
                        break
                    await self.sleep(self.config.poll_seconds)
                    continue
                running.add(asyncio.create_task(self._mailbox(*claimed)))
                if len(running) >= limit:
                    done, running = await asyncio.wait(running, return_when="FIRST_COMPLETED")
                    for task in done:
                        task.result()
            await _settle(running)
            running = set()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        self._stop_if_asked()

    def _drop_if_refused(self, user_id: str) -> None:
        """An opt-out while this mailbox synced: what the run left of it goes too."""
        with self.engine.begin() as conn:
            privacy.drop_mailbox_state(conn, user_id)

    def _mailbox_read(self, user_id: str) -> None:
        """Its folders and calendar were read to the end: it counts as analysed."""
        with self.engine.begin() as conn:
            privacy.mark_mailboxes_read(conn, entra_ids=[user_id], at=self.clock())

    async def _mailbox(self, lease_row: int, user_id: str) -> None:
        """Both mail folders and the calendar of one mailbox, concurrently."""
        await self._load_privacy(mailbox=user_id)
        party = self._privacy.people.get(user_id)
        email = party.email if party else user_id
        outcome = leases.Outcome(done=False)
        try:
            await self._db(self._mailbox_places, user_id)
            results = await asyncio.gather(
                *(self._mail_folder(lease_row, user_id, email, f) for f in FOLDERS),
                self._calendar(lease_row, user_id, email),
                return_exceptions=True,
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            for r in failures:
                if not isinstance(r, Exception) or is_db_outage(r):
                    raise r  # stop, cancellation, an outage
            items = sum(r for r in results if isinstance(r, int))
            await self._db(self._drop_if_refused, user_id)
            error = "; ".join(describe(r) for r in failures) or None
            if error:
                self.summary.errors.append(f"mailbox {user_id}: {error}")
            else:
                await self._db(self._mailbox_read, user_id)
            self.summary.mailboxes += 1
            outcome = leases.Outcome(error=error, items=items)
        except Exception as exc:
            if is_db_outage(exc):
                raise  # the lease stays ours until the worker resumes
            outcome = leases.Outcome(error=describe(exc))
            self.summary.errors.append(f"mailbox {user_id}: {outcome.error}")
        finally:
            await self._release(lease_row, outcome)
            if self.on_mailbox is not None:
                self.on_mailbox(email)

    async def _mail_folder(self, lease_row: int, user_id: str, email: str, folder: str) -> int:
        since = self.clock() - timedelta(days=self.config.backfill_days)
        messages = Collection(
            f"mail:{folder}",
            user_id,
            start=f"users/{user_id}/mailFolders/{folder}/messages/delta",
            params={
                "$select": mapping.message_select(
                    inbox=folder == "inbox", subjects=self.config.store_subjects
                ),
                "$filter": f"receivedDateTime ge {_iso(since)}",
            },
            headers={"Prefer": f"odata.maxpagesize={self.config.page_size}"},
            mailbox=user_id,
            first_read_rebuilds=self._first_read,
        )
        to_rows = functools.partial(self._mail_rows, user_id, email)
        return await self._read(messages, lease_row, to_rows)

    def _mail_rows(self, user_id: str, email: str, page: Page) -> MessageRows:
        """Messages to store (as records), and the Graph items each became or lost."""
        rows = MessageRows([])
        for item in page.items:
            item_key = f"{user_id}/{item.get('id')}"
            if mapping.is_removed(item):
                rows.removed.append(item_key)
                continue
            rec = self._privacy.keep(mapping.message_record(item, mailbox=email))
            if rec is not None:
                rows.records.append(rec)
                rows.item_keys[item_key] = rec.source_key
        return rows

    async def _calendar(self, lease_row: int, user_id: str, email: str) -> int:
        """calendarView from where the last run stopped (or the back-fill start) to now."""
        now = self.clock()
        place = await self._db(self._place, "calendar", user_id)
        covered = place.delta_link
        begin = (
            datetime.fromisoformat(covered) - timedelta(days=1)
            if covered
            else now - timedelta(days=self.config.backfill_days)
        )
        events = Collection(
            "calendar",
            user_id,
            start=f"users/{user_id}/calendarView",
            params={
                "startDateTime": _iso(begin),
                "endDateTime": _iso(now),
                "$select": ",".join(mapping.EVENT_FIELDS),
            },
            headers={
                "Prefer": f'outlook.timezone="UTC", odata.maxpagesize={self.config.page_size}'
            },
            mailbox=user_id,
            delta=False,
            covered_until=_iso(now),
            first_read_rebuilds=covered is None and self._first_read,
        )
        to_rows = functools.partial(self._event_rows, email, now)
        return await self._read(events, lease_row, to_rows)

    def _event_rows(self, email: str, now: datetime, page: Page) -> MessageRows:
        return MessageRows(
            [
                r
                for r in (
                    self._privacy.keep(mapping.event_record(e, mailbox=email, now=now))
                    for e in page.items
                )
                if r is not None
            ]
        )

    # -- tenant-wide sources -----------------------------------------------------------

    async def _calls_pass(self, lease_row: int) -> int | None:
        if not await self._db(self._directory_known):
            return None  # participants are Entra ids: wait for the directory
        await self._load_privacy()
        now = self.clock()
        covered = (await self._db(self._place, CALLS, "")).delta_link
        since = (
            datetime.fromisoformat(covered) - CALL_OVERLAP
            if covered
            else now - timedelta(days=min(self.config.backfill_days, 30))
        )
        calls = Collection(
            CALLS,
            "",
            start="communications/callRecords",
            params={"$filter": f"startDateTime ge {_iso(since)}"},
            delta=False,
            covered_until=_iso(now),
        )
        return await self._read(calls, lease_row, self._call_rows)

    def _call_rows(self, page: Page) -> MessageRows:
        people = self._privacy.people
        return MessageRows(
            [
                r
                for r in (self._privacy.keep(mapping.call_record(c, people)) for c in page.items)
                if r is not None
            ]
        )

    async def _crm_pass(self, entity: str, lease_row: int) -> int:
        headers = {**dataverse.HEADERS}
        headers["Prefer"] += f", odata.maxpagesize={self.config.page_size}"
        records = Collection(
            f"dataverse:{entity}",
            "",
            start=dataverse.entity_path(entity),
            params=dataverse.entity_params(entity),
            headers=headers,
            delta=False,
            covered_until=_iso(self.clock()),
            crm=True,
        )
        # A first complete pass only learns who owns what: no heads-up for the existing book.
        announce = await self._db(self._completed_before, records.source, records.scope)
        return await self._read(records, lease_row, functools.partial(crm_rows, entity, announce))

    # -- the steps every collection goes through --------------------------------------------

    async def _read(
        self, collection: Collection, lease_row: int, to_rows: Callable[[Page], Rows]
    ) -> int:
        """Read a collection from its saved place; an expired delta link starts it over."""
        place = await self._db(self._place, collection.source, collection.scope)
        try:
            return await self._follow(collection, place, lease_row, to_rows)
        except DeltaExpired:
            if place.resume(collection) is None:
                raise
        await self._db(self._forget_place, place.row_id)
        place = SavedPlace(place.row_id, None, None)
        return await self._follow(collection, place, lease_row, to_rows)

    async def _follow(
        self,
        collection: Collection,
        place: SavedPlace,
        lease_row: int,
        to_rows: Callable[[Page], Rows],
    ) -> int:
        """Fetch a page, map it, write it with its link in one transaction; repeat."""
        resume = place.resume(collection)
        client = self.crm if collection.crm else self.graph
        assert client is not None
        written = 0
        async for page in client.pages(
            resume or collection.start,
            mailbox=collection.mailbox,
            params=None if resume else collection.params,
            headers=collection.headers,
        ):
            rows = to_rows(page)
            step = PageWrite(
                place=place,
                lease_row=lease_row,
                links=_links_after(collection, page),
                items=len(page.items),
                mark_rebuild=resume is None and collection.first_read_rebuilds,
            )
            written += await self._commit(rows, step)
            self._page_done(collection.source, collection.scope)
            self._stop_if_asked()
        return written

    async def _commit(self, rows: Rows, step: PageWrite) -> int:
        """Write a page with its link; returns the interactions it stored.

        Mail pages that wait for the database together (other folders and mailboxes
        read concurrently) share one transaction and one bulk write (:meth:`_flush`):
        each page still commits with its own link, only with others beside it."""
        if not isinstance(rows, MessageRows):
            return (await self._db(self._write_pages, [(rows, step)]))[0]
        queued = QueuedPage(rows, step, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await queued.done

    async def _flush(self) -> None:
        """Write the queued pages, all that wait (up to GROUP_RECORDS) per transaction."""
        try:
            while self._queue:
                async with self._write_lock:
                    group = self._take_group()
                    if group:
                        await self._write_group(group)
        finally:
            self._flusher = None

    def _take_group(self) -> list[QueuedPage]:
        group: list[QueuedPage] = []
        records = 0
        while self._queue:
            size = len(self._queue[0].rows.records)
            if group and records + size > GROUP_RECORDS:
                break
            queued = self._queue.pop(0)
            if not queued.done.done():  # else its reader was cancelled: nobody waits
                group.append(queued)
                records += size
        return group

    async def _write_group(self, group: list[QueuedPage]) -> None:
        """One transaction for the group; if it fails, each page alone, so that one
        page's failure (its lease lost, say) is that page's reader's only."""
        outcomes: list[int | Exception]
        try:
            try:
                pages: list[tuple[Rows, PageWrite]] = [(q.rows, q.step) for q in group]
                outcomes = list(await self._in_thread(self._write_pages, pages))
            except Exception as exc:
                if len(group) == 1 or is_db_outage(exc):
                    outcomes = [exc] * len(group)
                else:
                    outcomes = [await self._write_alone(q) for q in group]
        except BaseException:
            for queued in group:
                queued.done.cancel()
            raise
        for queued, outcome in zip(group, outcomes, strict=True):
            if queued.done.done():
                continue
            if isinstance(outcome, Exception):
                queued.done.set_exception(outcome)
            else:
                queued.done.set_result(outcome)

    async def _write_alone(self, queued: QueuedPage) -> int | Exception:
        try:
            return (await self._in_thread(self._write_pages, [(queued.rows, queued.step)]))[0]
        except Exception as exc:
            return exc

    def _write_pages(self, pages: list[tuple[Rows, PageWrite]]) -> list[int]:
        """One transaction: the pages' rows, the rebuild mark if needed, each page's link
        and its lease's renewal. A page's rows never commit without its link."""
        steps = [step for _, step in pages]
        mark_rebuild = any(step.mark_rebuild for step in steps)
        try:
            with self.engine.begin() as conn:
                counts, tally = self._write_rows(conn, [rows for rows, _ in pages], mark_rebuild)
                if mark_rebuild:
                    _meta_set(conn, REBUILD_KEY, "1")
                _save_links(conn, steps)
                leases.renew(
                    conn,
                    *sorted({step.lease_row for step in steps}),
                    owner=self.owner,
                    now=self.clock(),
                    lease_seconds=self.config.lease_seconds,
                )
        except BaseException:
            if self._writer is not None:
                self._writer.forget()  # its caches learnt what rolled back
            raise
        tally.add_to(self.summary)  # once committed
        return counts

    def _write_rows(
        self, conn: Connection, pages: list[Rows], mark_rebuild: bool
    ) -> tuple[list[int], Tally]:
        """Write the pages' rows (mail pages together, others alone): what each stored."""
        first = pages[0]
        if isinstance(first, DirectoryRows):
            count = write_directory(conn, first, self.clock())
            return [count], Tally(people=count)
        if isinstance(first, CrmRows):
            count = write_crm(conn, first)
            return [count], Tally(crm_records=count)
        mail = [page for page in pages if isinstance(page, MessageRows)]
        assert len(mail) == len(pages)
        return self._write_messages(conn, mail, mark_rebuild)

    def _write_messages(
        self, conn: Connection, pages: list[MessageRows], mark_rebuild: bool
    ) -> tuple[list[int], Tally]:
        writer = self._writer
        assert writer is not None
        # Late messages are not looked for while a full rebuild is due anyway.
        find_late = not mark_rebuild and _meta_get(conn, REBUILD_KEY) is None
        records = [rec for page in pages for rec in page.records]
        stats = writer.write_on(conn, records, find_late=find_late)
        stale.mark_keys(conn, stats.late)
        refused = set(stats.refused)
        map_items(
            conn,
            {i: k for page in pages for i, k in page.item_keys.items() if k not in refused},
            stats.stored,
        )
        removed = remove_items(conn, [key for page in pages for key in page.removed])
        stored = set(stats.stored)
        counts = []
        for page in pages:  # a message two pages carry counts for the first
            mine = stored.intersection(rec.source_key for rec in page.records)
            stored -= mine
            counts.append(len(mine))
        tally = Tally(
            new_interactions=stats.new_interactions, duplicates=stats.duplicates, removed=removed
        )
        return counts, tally

    def _page_done(self, source: str, scope: str) -> None:
        key = (source, scope)
        self._pages[key] = self._pages.get(key, 0) + 1
        if self.on_page is not None:
            self.on_page(source, scope, self._pages[key])


# -- the steps' plain functions ----------------------------------------------------------------


def _meta_get(conn: Connection, key: str) -> str | None:
    value: str | None = conn.execute(select(StoreMeta.value).where(StoreMeta.key == key)).scalar()
    return value


def _meta_set(conn: Connection, key: str, value: str) -> None:
    stmt = dialect_insert(conn, StoreMeta).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def _save_links(conn: Connection, steps: list[PageWrite]) -> None:
    """Each page's link (and its item count) on its state row: one statement per kind
    of link, for all the pages."""
    kinds: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for step in steps:
        names = tuple(sorted(step.links))
        row = {f"new_{k}": v for k, v in step.links.items()}
        kinds.setdefault(names, []).append({"row_id": step.place.row_id, "n": step.items, **row})
    for names, params in kinds.items():
        stmt = (
            update(SyncState)
            .where(SyncState.id == bindparam("row_id"))
            .values(
                items_total=SyncState.items_total + bindparam("n"),
                **{k: bindparam(f"new_{k}") for k in names},
            )
        )
        conn.execute(stmt, params)


def _links_after(collection: Collection, page: Page) -> dict[str, Any]:
    """What the state row keeps after ``page``: the next page, else where to start next run."""
    if page.next_link:
        return {"next_link": page.next_link}
    if collection.delta:
        return {"next_link": None, "delta_link": page.delta_link}
    end = _query_value(page.url, "endDateTime") or collection.covered_until
    return {"next_link": None, "delta_link": end}


async def _settle(running: set[asyncio.Task[None]]) -> None:
    """Wait for every task; the first exception (e.g. a stop, an outage) is raised."""
    if not running:
        return
    outcomes = await asyncio.gather(*running, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _load_privacy(
    engine: Engine,
    config: SyncConfig,
    people: dict[str, Party] | None = None,
    *,
    also: Iterable[str] = (),
) -> Privacy:
    """Who may not be read or stored, the tenant's domains and the directory's parties.

    ``people``: the parties as read before, kept (reading them is a query over the whole
    directory: 0.3-0.7 s at 50,000 colleagues), with those of the Entra ids in ``also``
    read again; who may not be stored is read every time."""
    mailboxes = config.mailbox_filter()
    with engine.connect() as conn:
        stored = _meta_get(conn, DOMAINS_KEY)
        blocked_people = set(
            conn.execute(
                select(Person.id).where(
                    Person.opted_out.is_(True)
                    | Person.excluded.is_(True)
                    | Person.id.in_(
                        select(Address.person_id).where(
                            Address.email.in_(sorted(mailboxes.excluded_emails))
                        )
                    )
                    | func.lower(func.coalesce(Person.department, "")).in_(
                        sorted(mailboxes.excluded_departments)
                    )
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
        parties = (
            select(Person.entra_id, func.min(Address.email), Person.display_name)
            .join(Address, Address.person_id == Person.id)
            .where(Person.entra_id.is_not(None))
            .group_by(Person.entra_id, Person.display_name)
        )
        if people is None:
            people = {}
        else:  # a copy: the run's tasks may be reading the one they have
            people = dict(people)
            parties = parties.where(Person.entra_id.in_(sorted(set(also))))
        people.update(
            (str(eid), Party(str(email), str(name))) for eid, email, name in conn.execute(parties)
        )
    domains = tuple(stored.split(",")) if stored else config.internal_domains
    return Privacy(
        blocked_emails={str(e) for e in blocked},
        blocked_ids={str(x) for x in blocked_ids},
        people=people,
        domains=domains,
    )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None
