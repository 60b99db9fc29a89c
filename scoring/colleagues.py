"""The colleagues a ranking may propose, kept in memory between rankings.

Joining a lead's pairs to their colleagues' rows, and each colleague to their first
address, was about 40 % of the ranking statement's server time on PostgreSQL
(docs/performance.md, sixth session). The
colleague directory is small (one row per employee) and changes rarely, so each
process keeps it. The store has a stamp, a token that triggers replace in any
transaction that changes what a ranking shows or filters of an internal person
(migration 0005), whichever code path writes it. The ranking reads the token in the
same statement as its pairs; a token other than the cache's reloads the cache
first. A rename, an opt-out or a departure committed on any replica therefore
shows in the very next ranking on every other.

Only stores that pair leads with internal colleagues (``pair_mode`` "internal",
every deployed store) use the cache: where anyone may be an introducer (evaluation
on a mailbox with no internal domain) every person would be a colleague.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, NamedTuple

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from signals.models import Address, DirectoryStamp, Person

_PRIMARY_EMAIL = (
    select(Address.email)
    .where(Address.person_id == Person.id)
    .order_by(Address.id)
    .limit(1)
    .correlate(Person)
    .scalar_subquery()
)

# What a ranking shows of a colleague (see scoring.ranking.ColleagueInfo). Migration
# 0005's triggers watch these columns, and PROPOSABLE's (0006 adds `guest` and `excluded`): keep
# them in step.
COLLEAGUE_COLUMNS = (
    Person.id,
    Person.display_name,
    Person.title,
    Person.department,
    Person.phone,
    Person.upn,
    Person.entra_id,
    _PRIMARY_EMAIL.label("email"),
)
# Who may be proposed as an introducer (the lead side has no such filter).
PROPOSABLE = (
    ~Person.opted_out,
    ~Person.excluded,
    ~Person.guest,
    Person.enabled,
    Person.departed_at.is_(None),
    ~Person.is_list,
    ~Person.is_shared,
    ~Person.is_automated,
)

_TOKEN = select(DirectoryStamp.token).where(DirectoryStamp.id == 1)
# The token as a column of the ranking's own statement (one primary-key read).
STAMP = _TOKEN.scalar_subquery()


class Directory(NamedTuple):
    token: int | None
    # Colleague id -> their COLLEAGUE_COLUMNS values, for internal proposable people.
    by_id: dict[int, tuple[Any, ...]]


def load(engine: Engine) -> Directory:
    """Committed colleagues only, read on a connection of its own: a ranking inside a
    transaction that changed a colleague and then rolls back must not leave its
    change in the cache (on PostgreSQL such a change has not renewed the token yet,
    as the triggers run at commit).

    The token first, then the rows: a change committed in between leaves newer rows
    under an older token, which only costs one needless reload later. (Read the
    other way round, older rows could sit under a newer token for good.)"""
    with engine.connect() as conn:
        token = conn.scalar(_TOKEN)
        rows = conn.execute(select(*COLLEAGUE_COLUMNS).where(*PROPOSABLE, Person.internal))
        return Directory(token, {row[0]: tuple(row) for row in rows})


_CACHES: weakref.WeakKeyDictionary[Engine, Directory] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()  # guards the mapping, not the loads: two threads may both reload


def directory(session: Session, token: int | None) -> dict[int, tuple[Any, ...]]:
    """The colleagues as of ``token`` (read in the caller's ranking statement), from
    this process's cache of the session's store when it is still that token."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _LOCK:
        cached = _CACHES.get(engine)
    if cached is None or cached.token != token:
        cached = load(engine)
        with _LOCK:
            _CACHES[engine] = cached
    return cached.by_id
