"""Ranking the colleagues who know a lead, from the per-pair aggregates only.

One statement: an indexed read of ``pair_strength`` by ``lead_id`` (one row per
candidate colleague) joined to each colleague's row and first address. The cost
depends on how many people know the lead, never on how many interactions are stored.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Float, Select, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from scoring.strength import SUMS, Strength, Tier, Weights, strength_of, two_way_at, weighted
from signals import settings as store_settings
from signals.aggregate import DecayClock
from signals.meta import StoreFacts, read_facts
from signals.models import Address, Introduction, PairStrength, Person

CLOSED_FOR_LEAD = ("declined", "not_known")


@dataclass(frozen=True)
class Evidence:
    emails_to: int
    emails_from: int
    replies_to: int
    replies_from: int
    cc_to: int
    cc_from: int
    meetings: int
    calls: int
    chats: int
    ignored: int
    bulk: int
    crowd: int
    heard: bool
    first_contact: datetime | None
    last_contact: datetime | None
    last_two_way: datetime | None

    @classmethod
    def of(cls, row: Any) -> Evidence:
        """From a ranking row (see :data:`RANKING_COLUMNS`)."""
        return cls(
            emails_to=row.emails_to,
            emails_from=row.emails_from,
            replies_to=row.n_out_reply,
            replies_from=row.n_in_reply,
            cc_to=row.n_out_cc,
            cc_from=row.n_in_cc,
            meetings=row.n_meeting,
            calls=row.n_call,
            chats=row.n_chat,
            ignored=row.n_ignored,
            bulk=row.n_bulk,
            crowd=row.n_crowd,
            heard=heard_from(row),
            first_contact=row.first_at,
            last_contact=row.last_at,
            last_two_way=row.last_two_way,
        )


def heard_from(row: Any) -> bool:
    """Whether the lead ever wrote to, met, called or chatted with the colleague:
    mail from the lead, or any two-way contact (a reply, a meeting or call)."""
    return row.last_in_at is not None or row.last_two_way is not None


class Connection:
    """One colleague's tie to one lead. The evidence is read off the stored row when
    first asked for: a ranking scores every candidate but shows few of them."""

    __slots__ = ("_evidence", "_row", "strength")

    def __init__(self, row: Any, strength: Strength) -> None:
        self._row = row
        self.strength = strength
        self._evidence: Evidence | None = None

    @property
    def introducer_id(self) -> int:
        return int(self._row.introducer_id)

    @property
    def lead_id(self) -> int:
        return int(self._row.lead_id)

    @property
    def raw_count(self) -> int:
        return int(self._row.n_total)

    @property
    def last_contact(self) -> datetime | None:
        last: datetime | None = self._row.last_at
        return last

    @property
    def evidence(self) -> Evidence:
        if self._evidence is None:
            self._evidence = Evidence.of(self._row)
        return self._evidence

    @property
    def score(self) -> float:
        return self.strength.score


class ColleagueInfo(Protocol):
    """What a ranking says about a colleague (a result row; a Person fits too)."""

    id: int
    display_name: str
    title: str | None
    department: str | None
    phone: str | None
    upn: str | None
    entra_id: str | None


@dataclass
class RankedColleague:
    """A colleague, their best connection, and (for a company) everyone they know there."""

    person: ColleagueInfo
    email: str | None
    best: Connection
    connections: list[Connection] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.best.score

    @property
    def tier(self) -> Tier:
        return self.best.strength.tier


def _excluded(person: ColleagueInfo, emails: set[str], rules: Sequence[str]) -> bool:
    for rule in rules:
        rule = rule.strip().lower()
        if rule.startswith("dept:"):
            if (person.department or "").lower() == rule[5:].strip():
                return True
        elif rule in emails:
            return True
    return False


_PRIMARY_EMAIL = (
    select(Address.email)
    .where(Address.person_id == Person.id)
    .order_by(Address.id)
    .limit(1)
    .correlate(Person)
    .scalar_subquery()
)
# What a ranking shows of a colleague (see ColleagueInfo).
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

_PAIRS = PairStrength.__table__.c
# Evidence counts that add several stored ones, as (label, columns).
EVIDENCE_SUMS = {
    "emails_to": ("n_out_to", "n_out_cc", "n_out_reply", "n_out_thread"),
    "emails_from": ("n_in_to", "n_in_cc", "n_in_reply", "n_in_thread"),
}
EVIDENCE_COLUMNS = (
    "n_out_reply",
    "n_in_reply",
    "n_out_cc",
    "n_in_cc",
    "n_meeting",
    "n_call",
    "n_chat",
    "n_ignored",
    "n_bulk",
    "n_crowd",
    "n_total",
    "first_at",
    "last_at",
    "last_in_at",
)


def _sql_sum(columns: Sequence[Any]) -> Any:
    total = columns[0]
    for column in columns[1:]:
        total = total + column
    return total


def _two_way_sql() -> Any:
    """:func:`scoring.strength.two_way_at` in SQL. On SQLite times are text in one
    fixed format (``signals.ingest.sqlite_time``), which sorts as the times do."""
    out, in_, mutual = _PAIRS.last_out_at, _PAIRS.last_in_at, _PAIRS.last_mutual_at
    both = case((out < in_, out), else_=in_)
    return case(
        (or_(out.is_(None), in_.is_(None)), mutual),
        (mutual.is_(None), both),
        (both > mutual, both),
        else_=mutual,
    )


# What the ranking reads of a pair. The database adds the formula's weighted sums
# (weights bound per call, see weight_values) and the evidence's, and works out the
# last two-way contact: a third fewer values cross into Python than the stored row
# has, and scoring is left a few multiplications per pair.
RANKING_COLUMNS = (
    _PAIRS.introducer_id,
    _PAIRS.lead_id,
    *(
        _sql_sum(
            [bindparam(f"w_{weight}", type_=Float()) * _PAIRS[c] for c, weight in terms]
        ).label(name)
        for name, terms in SUMS.items()
    ),
    _PAIRS.feedback_factor,
    *(
        _sql_sum([_PAIRS[c] for c in columns]).label(name)
        for name, columns in EVIDENCE_SUMS.items()
    ),
    *(_PAIRS[c] for c in EVIDENCE_COLUMNS),
    _two_way_sql().label("last_two_way"),
)
WEIGHT_NAMES = sorted({weight for terms in SUMS.values() for _, weight in terms})


def weight_values(w: Weights) -> dict[str, float]:
    """The bound parameters of :data:`RANKING_COLUMNS`' sums."""
    return {f"w_{name}": getattr(w, name) for name in WEIGHT_NAMES}


def ranking_values(pair: Any, w: Weights) -> dict[str, Any]:
    """A stored pair's :data:`RANKING_COLUMNS`, computed in Python from an object with
    the stored columns as attributes (pairs aggregated elsewhere: bench/raw_ranking.py)."""
    values: dict[str, Any] = {"introducer_id": pair.introducer_id, "lead_id": pair.lead_id}
    values.update((name, weighted(pair, terms, w)) for name, terms in SUMS.items())
    values["feedback_factor"] = pair.feedback_factor
    values.update(
        (name, sum(getattr(pair, c) for c in columns)) for name, columns in EVIDENCE_SUMS.items()
    )
    values.update((c, getattr(pair, c)) for c in EVIDENCE_COLUMNS)
    values["last_two_way"] = two_way_at(pair)
    return values


def _connections_query(*, internal_only: bool, single: bool) -> Select[Any]:
    """The ranking's one statement: a lead's pairs (one indexed read of
    ``pair_strength``) joined to the colleagues who may be proposed, less those who
    declined or said they don't know the lead. SQLAlchemy compiles it once per
    variant and caches it. One lead (the usual question) binds a plain ``= :lead``;
    a company's leads an expanding ``IN``. Where introducers are colleagues (every
    deployed store), only internal people are proposed."""
    lead_cond = (
        (PairStrength.lead_id == bindparam("lead"))
        if single
        else PairStrength.lead_id.in_(bindparam("leads", expanding=True))
    )
    closed_cond = (
        (Introduction.lead_id == bindparam("lead"))
        if single
        else Introduction.lead_id.in_(bindparam("leads", expanding=True))
    )
    closed = select(Introduction.introducer_id).where(
        closed_cond, or_(*(Introduction.state == state for state in CLOSED_FOR_LEAD))
    )
    query = (
        select(*RANKING_COLUMNS, *COLLEAGUE_COLUMNS)
        .join(Person, Person.id == PairStrength.introducer_id)
        .where(lead_cond, PairStrength.introducer_id.not_in(closed), *PROPOSABLE)
    )
    return query.where(Person.internal) if internal_only else query


_QUERIES = {
    (internal, single): _connections_query(internal_only=internal, single=single)
    for internal in (True, False)
    for single in (True, False)
}
# A ranking row's fields, for rows put together elsewhere (bench/raw_ranking.py).
ConnectionRow: Any = cast(Any, namedtuple)(
    "ConnectionRow", list(_QUERIES[False, True].selected_columns.keys())
)


def connections_for(
    session: Session, lead_ids: Sequence[int], *, facts: StoreFacts, weights: Weights
) -> Sequence[Any]:
    """The stored pairs for these leads joined with the colleagues who may be proposed:
    rows with :data:`RANKING_COLUMNS`, the colleague's columns, and their primary ``email``."""
    single = len(lead_ids) == 1
    values: dict[str, Any] = weight_values(weights)
    if single:
        values["lead"] = lead_ids[0]
    else:
        values["leads"] = list(lead_ids)
    query = _QUERIES[facts.pair_mode == "internal", single]
    return session.connection().execute(query, values).all()


def rank(
    session: Session,
    lead_ids: Sequence[int],
    *,
    now: datetime,
    requester_id: int | None = None,
    weights: Weights | None = None,
    facts: StoreFacts | None = None,
    include_zero: bool = False,
) -> tuple[list[RankedColleague], RankedColleague | None]:
    """Colleagues who know any of ``lead_ids``, strongest first, and the requester's own tie.

    Sorted by score, then by last contact. With ``include_zero`` (evaluation),
    pairs whose score rounds to nothing are kept too.
    """
    facts = facts or read_facts(session)
    weights = weights or Weights.from_settings()
    rows = connections_for(session, lead_ids, facts=facts, weights=weights)
    return rank_rows(
        session,
        rows,
        now=now,
        requester_id=requester_id,
        weights=weights,
        clock=facts.clock,
        include_zero=include_zero,
    )


def rank_rows(
    session: Session,
    rows: Sequence[Any],
    *,
    now: datetime,
    clock: DecayClock,
    requester_id: int | None = None,
    weights: Weights | None = None,
    include_zero: bool = False,
) -> tuple[list[RankedColleague], RankedColleague | None]:
    """The scoring and ordering half of :func:`rank`, for rows shaped like
    :func:`connections_for`'s however they were obtained (bench/query.py feeds it
    pairs it aggregated from raw interactions, to check both give one answer)."""
    weights = weights or Weights.from_settings()
    decay = clock.decay(now)
    floor = -math.inf if include_zero else weights.min_score
    by_person: dict[int, RankedColleague] = {}
    several = False
    for row in rows:
        s = strength_of(
            row.out_mail,
            row.in_mail,
            row.shared,
            row.feedback_factor,
            row.last_two_way,
            decay,
            now,
            weights,
            left_out=row.left_out,
            heard=heard_from(row),
        )
        if s.counted < floor:  # left-out mail orders colleagues, never lists one
            continue
        tie = Connection(row, s)
        found = by_person.get(row.id)
        if found is None:
            by_person[row.id] = RankedColleague(row, row.email, tie, [tie])
        else:  # a company: everyone they know there
            found.connections.append(tie)
            several = True
    if several:
        for colleague in by_person.values():
            colleague.connections.sort(key=_by_score)  # strongest first
            colleague.best = colleague.connections[0]
    rules = store_settings.EXCLUDED_PEOPLE.get()
    if rules:
        emails = _emails(session, list(by_person))
        for pid in [
            p for p, c in by_person.items() if _excluded(c.person, set(emails.get(p, [])), rules)
        ]:
            del by_person[pid]
    requester = by_person.pop(requester_id, None) if requester_id is not None else None
    return sorted(by_person.values(), key=_in_order), requester


def _by_score(c: Connection) -> float:
    return -c.strength.rank_value


def _in_order(c: RankedColleague) -> tuple[float, float, str]:
    """Strongest first (colleagues the lead never answered after those it did), then
    the most recent contact, then by name."""
    last = c.best.last_contact
    return (-c.best.strength.rank_value, -last.timestamp() if last else 0.0, c.person.display_name)


def _emails(session: Session, person_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not person_ids:
        return out
    rows = session.execute(
        select(Address.person_id, Address.email)
        .where(Address.person_id.in_(person_ids))
        .order_by(Address.person_id, Address.id)
    )
    for pid, email in rows:
        out.setdefault(pid, []).append(email)
    return out


@dataclass(frozen=True)
class Coverage:
    mailboxes_analysed: int
    mailboxes_total: int
    opted_out: int


def coverage(session: Session) -> Coverage:
    """How complete an answer can be: mailboxes analysed of all, colleagues opted out."""
    people = select(
        func.count().label("total"),
        func.count(Person.mailbox_analysed_at).label("analysed"),
    ).where(
        Person.internal,
        Person.enabled,
        ~Person.is_list,
        ~Person.is_automated,
        ~Person.is_shared,
        ~Person.opted_out,
    )
    total, analysed = session.execute(people).one()
    opted = session.scalar(select(func.count()).where(Person.internal, Person.opted_out))
    return Coverage(int(analysed or 0), int(total or 0) + int(opted or 0), int(opted or 0))


def requester_id_for(session: Session, email: str | None) -> int | None:
    if not email:
        return None
    return session.scalar(select(Address.person_id).where(Address.email == email.strip().lower()))
