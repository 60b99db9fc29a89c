"""Import files into the store: read items, write them in batches, flag lists.

Each batch is one transaction (``signals.ingest.Writer``), so an import that
dies half-way leaves whole batches only, and running it again adds just what
is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import Engine

from signals import settings, stale
from signals.crm import CrmEntry, upsert_crm_entries
from signals.importers.calls_csv import read_calls
from signals.importers.crm_csv import read_crm
from signals.importers.detect import CALLS, CRM, ICS, MBOX, MESSAGE, Source, plan
from signals.importers.ics import read_ics
from signals.importers.items import Item, Progress, Skipped, no_progress
from signals.importers.mbox import read_mbox
from signals.importers.owners import OwnerGuess
from signals.importers.report import ImportProblem, ImportReport
from signals.importers.tree import read_message_file
from signals.ingest import Writer
from signals.records import InteractionRecord
from signals.store import detect_lists, mark_mailbox_owners


def read_source(source: Source, progress: Progress = no_progress) -> Iterator[Item]:
    """The items of one file; an unexpected failure ends the file with one listed error."""
    reported = False
    try:
        if source.kind == MBOX:
            reported = True
            yield from read_mbox(source.path, progress)
        elif source.kind == MESSAGE:
            yield from read_message_file(source.path)
        elif source.kind == ICS:
            yield from read_ics(source.path)
        elif source.kind == CALLS:
            yield from read_calls(source.path)
        elif source.kind == CRM:
            yield from read_crm(source.path)
        else:
            yield Skipped(
                ImportProblem(
                    str(source.path),
                    "CSV header is neither a call log nor a CRM list (see docs/import-formats.md)",
                )
            )
    except (OSError, UnicodeError) as exc:
        yield Skipped(ImportProblem(str(source.path), f"cannot read: {exc}"))
    except Exception as exc:  # a reader bug or a library choking: skip the rest of the file
        yield Skipped(ImportProblem(str(source.path), f"unreadable: {exc!r}"))
    if not reported:
        progress(source.size)


class Importer:
    """Feeds items to the store in batches; collects the report."""

    def __init__(
        self,
        engine: Engine,
        *,
        internal_domains: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.engine = engine
        self.writer = Writer(engine, internal_domains=internal_domains)
        self.batch_size = batch_size or settings.BATCH_SIZE.get()
        self.report = ImportReport()
        self._records: list[InteractionRecord] = []
        self._mailboxes: list[str] = []  # the mailbox of each of _records
        self._crm: list[CrmEntry] = []
        self.owners = OwnerGuess()

    def add(self, item: Item, mailbox: str = "") -> None:
        self.report.messages += 1
        if isinstance(item, Skipped):
            if item.problem is None:
                self.report.skipped += 1
            else:
                self.report.problem(item.problem)
        elif isinstance(item, CrmEntry):
            self._crm.append(item)
            if len(self._crm) >= self.batch_size:
                self._flush_crm()
        else:
            self.owners.add(mailbox, item)
            self._records.append(item)
            self._mailboxes.append(mailbox)
            if len(self._records) >= self.batch_size:
                self._flush_records()

    def _flush_records(self) -> None:
        """One batch, one transaction. Messages that land before a stored later message
        of their thread (another mailbox, another file) mark what they change stale;
        :meth:`finish` recomputes it."""
        batch, self._records = self._records, []
        mailboxes, self._mailboxes = self._mailboxes, []
        self._note_owners(batch, mailboxes)
        if batch:
            with self.engine.begin() as conn:
                stats = self.writer.write_on(conn, batch, find_late=True)
                stale.mark_keys(conn, stats.late)
                self.report.add_stats(stats)

    def _note_owners(self, batch: list[InteractionRecord], mailboxes: list[str]) -> None:
        """Tell each record whose mailbox it was read from, where the owner is known by
        now: the privacy gate refuses what was read from a refused person's mailbox."""
        owners = {mailbox: self.owners.owner_of(mailbox) for mailbox in set(mailboxes)}
        for rec, mailbox in zip(batch, mailboxes, strict=True):
            if rec.mailbox is None:
                rec.mailbox = owners[mailbox]

    def _flush_crm(self) -> None:
        batch, self._crm = self._crm, []
        if batch:
            self.report.crm_records += upsert_crm_entries(self.engine, batch)

    def finish(self) -> ImportReport:
        self._flush_records()
        self._flush_crm()
        done = stale.refresh_stale(self.engine)
        self.report.refreshed_pairs, self.report.rebuilt = done.pairs, done.full
        mark_mailbox_owners(self.engine, self.owners.owners())
        if self.owners.sent_items_missing():
            # Without sent items everybody "never sends": the list rule would flag people.
            self.report.lists_skipped = True
        else:
            self.report.lists_flagged = detect_lists(self.engine)
        return self.report


def import_sources(
    engine: Engine,
    sources: Sequence[Source],
    *,
    internal_domains: Sequence[str] | None = None,
    batch_size: int | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    importer = Importer(engine, internal_domains=internal_domains, batch_size=batch_size)
    for source in sources:
        importer.report.files += 1
        for item in read_source(source, progress):
            importer.add(item, source.mailbox)
    return importer.finish()


def import_paths(
    engine: Engine,
    paths: Sequence[Path | str],
    *,
    internal_domains: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> ImportReport:
    """Import files and folders (raises MissingPath before reading anything)."""
    sources = plan([Path(p) for p in paths])
    return import_sources(engine, sources, internal_domains=internal_domains, batch_size=batch_size)
