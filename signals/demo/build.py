"""Fill a store with the demo organisation: directory, companies, CRM, a year of signals."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, select

from signals import db, privacy
from signals.crm import upsert_crm_entries
from signals.demo.org import DOMAIN, SIZES, DemoSize, Org, build_org
from signals.demo.signals import background
from signals.demo.story import story_records
from signals.directory import name_company, upsert_people
from signals.ingest import IngestStats, Writer, chunks
from signals.meta import facts_from_settings, write_facts
from signals.models import Base, Company, CrmRecord, Interaction, PairStrength, Person
from signals.records import InteractionRecord
from signals.store import detect_lists

# A fixed date near the time of writing: tests and benchmarks build the same store
# every time; the CLI passes date.today() so that the story always looks recent.
DEFAULT_TODAY = date(2026, 11, 20)
BATCH = 5000


@dataclass
class DemoSummary:
    size: str
    seed: int
    today: date
    colleagues: int
    mailboxes_analysed: int
    opted_out: int
    departed: int
    companies: int
    contacts: int
    crm_records: int
    interactions: int
    pairs: int
    lists_flagged: int
    seconds: float


def resolve_size(size: str | DemoSize) -> DemoSize:
    if isinstance(size, DemoSize):
        return size
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"unknown demo size {size!r}: choose one of {', '.join(SIZES)}") from None


def generate(
    size: str | DemoSize = "small", seed: int = 7, today: date = DEFAULT_TODAY
) -> tuple[Org, Iterator[InteractionRecord]]:
    """The organisation and its interactions as a lazy, time-ordered stream (no store needed)."""
    rng = random.Random(seed)
    org = build_org(rng, resolve_size(size), today)
    story = story_records(org, random.Random(seed + 1))
    return org, background(org, rng, story)


def store_is_empty(engine: Engine) -> bool:
    """No people and no interactions yet (a freshly created or migrated store)."""
    with engine.connect() as conn:
        people = conn.scalar(select(func.count()).select_from(Person))
        interactions = conn.scalar(select(func.count()).select_from(Interaction))
    return not people and not interactions


def clear_store(engine: Engine) -> None:
    """Delete every row (schema and migration state stay): ``whoknows init --demo --force``."""
    with db.transaction(engine) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        write_facts(session, facts_from_settings())


def _opt_out(engine: Engine, org: Org) -> None:
    """The colleagues who opted out did so through the product (a month before the
    demo's today), before any of the year is written: the privacy gate keeps them out."""
    opted = [c.email for c in org.colleagues if c.opted_out]
    with engine.begin() as conn:
        for email in opted:
            person = privacy.person_for_email(conn, email)
            if person is not None:
                privacy.opt_out(conn, person, now=org.end - timedelta(days=30))


def _read_from(
    stream: Iterator[InteractionRecord], mailboxes: set[str]
) -> Iterator[InteractionRecord]:
    """The records, noting the mailboxes they were read from (the imagined sync's)."""
    for rec in stream:
        if rec.mailbox:
            mailboxes.add(rec.mailbox)
        yield rec


def build_demo(
    engine: Engine,
    size: str | DemoSize = "small",
    seed: int = 7,
    today: date = DEFAULT_TODAY,
    *,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Fill an empty, migrated store with the demo organisation; the same arguments give
    the same data. ``progress`` is called with the number of interactions of each batch."""
    started = time.perf_counter()
    org, stream = generate(size, seed, today)
    upsert_people(engine, org.directory())
    with db.transaction(engine) as session:
        for company in org.companies:
            name_company(session, company.domain, company.name)
    upsert_crm_entries(engine, org.crm)
    _opt_out(engine, org)
    writer = Writer(engine, internal_domains=[DOMAIN], store_subjects=False)
    stats = IngestStats()
    mailboxes: set[str] = set()
    for batch in chunks(_read_from(stream, mailboxes), BATCH):
        stats.add(writer.write(batch))
        if progress is not None:
            progress(len(batch))
    with engine.begin() as conn:  # as a sync does for each mailbox it read to the end
        privacy.mark_mailboxes_read(conn, emails=mailboxes, at=org.end)
    lists = detect_lists(engine)
    with engine.connect() as conn:

        def count(stmt: object) -> int:
            return int(conn.scalar(stmt) or 0)  # type: ignore[call-overload]

        internal = Person.internal.is_(True)
        summary = DemoSummary(
            size=org.size.name,
            seed=seed,
            today=today,
            colleagues=len(org.colleagues),
            mailboxes_analysed=count(
                select(func.count()).where(internal, Person.mailbox_analysed_at.is_not(None))
            ),
            opted_out=count(select(func.count()).where(internal, Person.opted_out.is_(True))),
            departed=count(select(func.count()).where(internal, Person.enabled.is_(False))),
            companies=count(select(func.count()).select_from(Company)),
            contacts=count(select(func.count()).where(Person.internal.is_(False))),
            crm_records=count(select(func.count()).select_from(CrmRecord)),
            interactions=count(select(func.count()).select_from(Interaction)),
            pairs=count(select(func.count()).select_from(PairStrength)),
            lists_flagged=lists,
            seconds=time.perf_counter() - started,
        )
    return summary
