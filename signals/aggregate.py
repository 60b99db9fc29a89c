"""Per-pair aggregates, kept incrementally and exactly.

Each interaction adds, for every (introducer, lead) pair it links, a weight
``a(n) * response * 2 ** ((t - epoch) / H)`` to one feature of the pair (for
example ``out_to``: the introducer wrote to the lead, who was in To). The
ranking multiplies the sums by its channel weights and by ``2 ** (-(now -
epoch) / H)``, which gives the exponentially decayed score of scoring.md
without reading a single raw interaction. Channel weights are applied at query
time, so they can change without a rebuild; the half-life and the audience
discount are baked in (``whoknows db rebuild`` recomputes).

This module is pure: events in, pair deltas out. ``signals.ingest`` feeds it
new interactions; ``rebuild`` feeds it the stored ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from signals.models import FEATURES, Kind, Response

FEATURE_INDEX = {name: i for i, name in enumerate(FEATURES)}
DEFAULT_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)

# How much of a meeting a participant's response says they took part in.
RESPONSE_FACTOR = {
    Response.ORGANIZER: 1.0,
    Response.ACCEPTED: 1.0,
    Response.TENTATIVE: 0.5,
    Response.NONE: 0.5,
    Response.DECLINED: 0.0,
}
MIN_CALL_SECONDS = 60


@dataclass(frozen=True, slots=True)
class DecayClock:
    """Converts times to growth factors against a fixed epoch."""

    epoch: datetime = DEFAULT_EPOCH
    half_life_days: float = 90.0

    def growth(self, at: datetime) -> float:
        days = (at - self.epoch).total_seconds() / 86400.0
        return float(2.0 ** (days / self.half_life_days))

    def decay(self, now: datetime) -> float:
        """Multiply a stored sum by this to get its value at ``now``."""
        days = (now - self.epoch).total_seconds() / 86400.0
        return float(2.0 ** (-days / self.half_life_days))


def audience_factor(n: int, max_audience: int) -> float:
    """1/sqrt(n) for n other human participants; nothing beyond ``max_audience``."""
    if n <= 0:
        return 1.0
    if n > max_audience:
        return 0.0
    return 1.0 / math.sqrt(n)


def author_automated(
    kind: Kind, author: int | None, members: Iterable[int], is_automated: Callable[[int], bool]
) -> bool:
    """Whether an interaction is ignored because an automated account wrote it.

    The one rule for the import and the rebuild alike: an interaction is the
    author's. A chat has no stored starter (its members are all members), so a
    chat counts as automated when any member is. ``members`` is read for chats only
    (a generator spares mass mail a list of its hundreds of recipients).
    """
    if kind == Kind.CHAT:
        return (author is not None and is_automated(author)) or any(map(is_automated, members))
    return author is not None and is_automated(author)


@dataclass(slots=True)
class Event:
    """An interaction reduced to person ids: what the aggregate needs, nothing more."""

    kind: Kind
    at: datetime
    author: int | None
    to: tuple[int, ...] = ()
    cc: tuple[int, ...] = ()
    attendees: tuple[tuple[int, Response], ...] = ()
    parent_author: int | None = None
    thread_key: str | None = None
    ignored: bool = False  # automated, bulk or list mail: counted, weighed as weak evidence only
    cancelled: bool = False
    duration_seconds: int | None = None


@dataclass(slots=True)
class PairDelta:
    d: list[float] = field(default_factory=lambda: [0.0] * len(FEATURES))
    n: list[int] = field(default_factory=lambda: [0] * len(FEATURES))
    n_total: int = 0
    n_ignored: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_out_at: datetime | None = None
    last_in_at: datetime | None = None
    last_mutual_at: datetime | None = None
    # Ignored mail as weak evidence: audience-weighted and decayed like the rest, kept
    # apart so that the ranking gives it a small weight of its own (scoring.strength).
    d_ignored: float = 0.0
    n_bulk: int = 0  # automated, bulk or list mail
    n_crowd: int = 0  # mail or meetings with more people than the audience cap

    def touch(self, at: datetime) -> None:
        self.n_total += 1
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at

    def row(self, introducer_id: int, lead_id: int) -> dict[str, object]:
        row: dict[str, object] = {"introducer_id": introducer_id, "lead_id": lead_id}
        for i, name in enumerate(FEATURES):
            row["d_" + name] = self.d[i]
            row["n_" + name] = self.n[i]
        row.update(
            n_total=self.n_total,
            n_ignored=self.n_ignored,
            d_ignored=self.d_ignored,
            n_bulk=self.n_bulk,
            n_crowd=self.n_crowd,
            first_at=self.first_at,
            last_at=self.last_at,
            last_out_at=self.last_out_at,
            last_in_at=self.last_in_at,
            last_mutual_at=self.last_mutual_at,
        )
        return row

    def values(self, introducer_id: int, lead_id: int) -> tuple[object, ...]:
        """The row as a tuple in ``PAIR_COLUMNS`` order (no dict per pair for big upserts)."""
        return (
            introducer_id,
            lead_id,
            *self.d,
            *self.n,
            self.n_total,
            self.n_ignored,
            self.d_ignored,
            self.n_bulk,
            self.n_crowd,
            self.first_at,
            self.last_at,
            self.last_out_at,
            self.last_in_at,
            self.last_mutual_at,
        )


# The columns of ``PairDelta.values``, in order.
PAIR_COLUMNS: tuple[str, ...] = (
    "introducer_id",
    "lead_id",
    *("d_" + name for name in FEATURES),
    *("n_" + name for name in FEATURES),
    "n_total",
    "n_ignored",
    "d_ignored",
    "n_bulk",
    "n_crowd",
    "first_at",
    "last_at",
    "last_out_at",
    "last_in_at",
    "last_mutual_at",
)
PAIR_TIME_COLUMNS = ("first_at", "last_at", "last_out_at", "last_in_at", "last_mutual_at")

Eligible = Callable[[int], bool]

# Feature indexes by channel, so that the hot loop does no string work.
_TO, _CC, _REPLY = 0, 1, 2
_OUT = tuple(FEATURE_INDEX["out_" + c] for c in ("to", "cc", "reply"))
_IN = tuple(FEATURE_INDEX["in_" + c] for c in ("to", "cc", "reply"))
_OUT_THREAD = FEATURE_INDEX["out_thread"]
_IN_THREAD = FEATURE_INDEX["in_thread"]
_DIR_OUT, _DIR_IN, _DIR_BOTH = 1, 2, 3
_ZEROS_D = [0.0] * len(FEATURES)
_ZEROS_N = [0] * len(FEATURES)
# Why an interaction was left out, for the "not counted" line of the evidence.
_COUNTED, _BULK, _CROWD, _OTHER = 0, 1, 2, 3
# A meeting larger than this is not even counted as left out (it would be quadratic).
CROWD_COUNT_LIMIT = 300
_GROWTH_CACHE = 65_536


class Aggregator:
    """Accumulates pair deltas for a stream of events in time order.

    ``is_introducer`` and ``is_lead`` say which people may stand on each side of
    a pair: colleagues and external contacts normally, anyone in evaluation
    mode. Thread membership (who has written in a thread) is tracked so that a
    later message in the thread counts as "same thread" for earlier writers.

    The loops below run once per (event, participant pair): they avoid per-call
    string building, enum hashing and repeated growth computations, since they
    dominate an import's pure-Python time.
    """

    def __init__(
        self,
        clock: DecayClock,
        *,
        max_audience: int,
        is_introducer: Eligible,
        is_lead: Eligible,
        thread_members: dict[str, set[int]] | None = None,
    ) -> None:
        self.clock = clock
        self.max_audience = max_audience
        self.is_introducer = is_introducer
        self.is_lead = is_lead
        self.threads: dict[str, set[int]] = thread_members if thread_members is not None else {}
        # Memberships added to those given; without any given (a rebuild), every
        # membership is new and ``threads`` alone holds them (see memberships).
        self._seeded = thread_members is not None
        self.new_thread_members: set[tuple[str, int]] = set()
        self.pairs: dict[tuple[int, int], PairDelta] = {}
        self._growth: dict[datetime, float] = {}

    def growth(self, at: datetime) -> float:
        """The clock's growth factor, computed once per distinct time (the cache is
        emptied now and then: a rebuild sees millions of distinct times)."""
        g = self._growth.get(at)
        if g is None:
            if len(self._growth) >= _GROWTH_CACHE:
                self._growth.clear()
            g = self._growth[at] = self.clock.growth(at)
        return g

    def add_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def add(self, event: Event) -> None:
        if event.kind == Kind.EMAIL:
            self._email(event)
        else:
            self._gathering(event)

    def _email(self, e: Event) -> None:
        author = e.author
        if author is None:
            return
        recipients: dict[int, int] = {}
        for pid in e.to:
            if pid != author and pid not in recipients:
                recipients[pid] = _TO
        for pid in e.cc:
            if pid != author and pid not in recipients:
                recipients[pid] = _CC
        audience = audience_factor(len(recipients), self.max_audience)
        ignored = e.ignored or audience == 0.0
        at = e.at
        if ignored:  # weak evidence: the audience discount without the cap
            weight = audience_factor(len(recipients), len(recipients)) * self.growth(at)
            reason = _BULK if e.ignored else _CROWD
        else:
            weight = audience * self.growth(at)
            reason = _COUNTED
        is_introducer, is_lead, bump = self.is_introducer, self.is_lead, self._bump
        sends_out = is_introducer(author)
        sends_in = is_lead(author)
        parent = e.parent_author
        for pid, channel in recipients.items():
            if parent == pid:
                channel = _REPLY
            mutual = channel == _REPLY and not ignored and weight > 0
            if sends_out and is_lead(pid):
                bump(author, pid, _OUT[channel], weight, at, reason, _DIR_OUT, mutual)
            if sends_in and is_introducer(pid):
                bump(pid, author, _IN[channel], weight, at, reason, _DIR_IN, mutual)
        if e.thread_key is not None and not ignored:
            members = self.threads.get(e.thread_key)
            if members is None:
                members = self.threads[e.thread_key] = set()
            for pid in members:
                if pid != author and pid not in recipients:
                    if sends_out and is_lead(pid):
                        bump(author, pid, _OUT_THREAD, weight, at, _COUNTED, _DIR_OUT, False)
                    if sends_in and is_introducer(pid):
                        bump(pid, author, _IN_THREAD, weight, at, _COUNTED, _DIR_IN, False)
            if author not in members:
                members.add(author)
                if self._seeded:
                    self.new_thread_members.add((e.thread_key, author))

    def memberships(self) -> Iterator[tuple[str, int]]:
        """The (thread, writer) memberships this aggregator added, in order."""
        if self._seeded:
            yield from sorted(self.new_thread_members)
            return
        for thread in sorted(self.threads):
            for person in sorted(self.threads[thread]):
                yield thread, person

    def _bump(
        self,
        introducer: int,
        lead: int,
        feature: int,
        weight: float,
        at: datetime,
        reason: int,
        direction: int,
        mutual: bool,
    ) -> None:
        """Add one interaction to a pair: ``weight`` to ``feature`` when it counts
        (``reason`` is ``_COUNTED``), else to the ignored mail's weak evidence."""
        key = (introducer, lead)
        delta = self.pairs.get(key)
        if delta is None:
            delta = self.pairs[key] = PairDelta(_ZEROS_D.copy(), _ZEROS_N.copy(), 1, 0, at, at)
        else:
            delta.n_total += 1
            first = delta.first_at
            if first is None or at < first:
                delta.first_at = at
            last = delta.last_at
            if last is None or at > last:
                delta.last_at = at
        if reason:
            delta.n_ignored += 1
            if reason == _BULK:
                delta.n_bulk += 1
            elif reason == _CROWD:
                delta.n_crowd += 1
            delta.d_ignored += weight
            return
        delta.d[feature] += weight
        delta.n[feature] += 1
        if direction & _DIR_OUT:
            last = delta.last_out_at
            if last is None or at > last:
                delta.last_out_at = at
        if direction & _DIR_IN:
            last = delta.last_in_at
            if last is None or at > last:
                delta.last_in_at = at
        if mutual:
            last = delta.last_mutual_at
            if last is None or at > last:
                delta.last_mutual_at = at

    def _gathering(self, e: Event) -> None:
        """Meetings, calls and chats: every pair of participants, both ways."""
        parties: dict[int, Response] = {}
        if e.author is not None:
            parties[e.author] = Response.ORGANIZER
        # A chat has no invitation to answer: every member took part. (The store keeps
        # no starter for a chat either, so a replay must not depend on who it was.)
        chat = e.kind == Kind.CHAT
        for pid, response in e.attendees:
            if pid not in parties:
                parties[pid] = Response.ACCEPTED if chat else response
        others = len(parties) - 1
        if others < 1:
            return
        kind = e.kind
        crowd = kind == Kind.MEETING and others > self.max_audience
        if crowd and others > CROWD_COUNT_LIMIT:
            return  # an all-hands: says nothing about any pair, and would be quadratic
        feature = FEATURE_INDEX[kind.value]
        ignored = e.ignored or e.cancelled or crowd
        if kind == Kind.CALL and (e.duration_seconds or 0) < MIN_CALL_SECONDS:
            ignored = True
        left_out = _CROWD if crowd else _BULK if e.ignored else _OTHER
        base = 0.0 if ignored else audience_factor(others, self.max_audience)
        growth = self.growth(e.at) if base else 0.0
        at = e.at
        mutual_kind = kind != Kind.CHAT
        is_lead, bump = self.is_lead, self._bump
        # Per party once: what its response is worth as introducer, and whether it declined.
        leads = [(c, r != Response.DECLINED) for c, r in parties.items() if is_lead(c)]
        for u, u_response in parties.items():
            if not self.is_introducer(u):
                continue
            u_factor = RESPONSE_FACTOR[u_response]
            for c, c_came in leads:
                if c == u:
                    continue
                weight = base * (u_factor * c_came) * growth
                took_place = weight > 0
                bump(
                    u,
                    c,
                    feature,
                    weight,
                    at,
                    _COUNTED if took_place else left_out,
                    _DIR_BOTH,
                    took_place and mutual_kind,
                )
