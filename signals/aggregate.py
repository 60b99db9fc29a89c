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
from collections.abc import Callable, Iterable
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
    ignored: bool = False  # automated, bulk or list mail: counted, never weighted
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
            first_at=self.first_at,
            last_at=self.last_at,
            last_out_at=self.last_out_at,
            last_in_at=self.last_in_at,
            last_mutual_at=self.last_mutual_at,
        )
        return row


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


Eligible = Callable[[int], bool]


class Aggregator:
    """Accumulates pair deltas for a stream of events in time order.

    ``is_introducer`` and ``is_lead`` say which people may stand on each side of
    a pair: colleagues and external contacts normally, anyone in evaluation
    mode. Thread membership (who has written in a thread) is tracked so that a
    later message in the thread counts as "same thread" for earlier writers.
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
        self.new_thread_members: set[tuple[str, int]] = set()
        self.pairs: dict[tuple[int, int], PairDelta] = {}

    def _pair(self, introducer: int, lead: int) -> PairDelta:
        key = (introducer, lead)
        delta = self.pairs.get(key)
        if delta is None:
            delta = self.pairs[key] = PairDelta()
        return delta

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
        recipients: dict[int, str] = {}
        for pid in e.to:
            if pid != author:
                recipients.setdefault(pid, "to")
        for pid in e.cc:
            if pid != author:
                recipients.setdefault(pid, "cc")
        audience = audience_factor(len(recipients), self.max_audience)
        ignored = e.ignored or audience == 0.0
        weight = 0.0 if ignored else audience * self.clock.growth(e.at)
        for pid, channel in recipients.items():
            if e.parent_author == pid:
                channel = "reply"
            self._directed(author, pid, channel, weight, e.at, ignored)
        if e.thread_key is not None and not ignored:
            members = self.threads.setdefault(e.thread_key, set())
            for pid in members:
                if pid != author and pid not in recipients:
                    self._directed(author, pid, "thread", weight, e.at, False)
            if author not in members:
                members.add(author)
                self.new_thread_members.add((e.thread_key, author))

    def _directed(
        self, sender: int, receiver: int, channel: str, weight: float, at: datetime, ignored: bool
    ) -> None:
        mutual = channel == "reply" and weight > 0
        if self.is_introducer(sender) and self.is_lead(receiver):
            self._bump(sender, receiver, "out_" + channel, weight, at, ignored, "out", mutual)
        if self.is_lead(sender) and self.is_introducer(receiver):
            self._bump(receiver, sender, "in_" + channel, weight, at, ignored, "in", mutual)

    def _bump(
        self,
        introducer: int,
        lead: int,
        feature: str,
        weight: float,
        at: datetime,
        ignored: bool,
        direction: str,
        mutual: bool,
    ) -> None:
        delta = self._pair(introducer, lead)
        delta.touch(at)
        if ignored:
            delta.n_ignored += 1
            return
        i = FEATURE_INDEX[feature]
        delta.d[i] += weight
        delta.n[i] += 1
        if direction in ("out", "both"):
            delta.last_out_at = _later(delta.last_out_at, at)
        if direction in ("in", "both"):
            delta.last_in_at = _later(delta.last_in_at, at)
        if mutual:
            delta.last_mutual_at = _later(delta.last_mutual_at, at)

    def _gathering(self, e: Event) -> None:
        """Meetings, calls and chats: every pair of participants, both ways."""
        parties: dict[int, Response] = {}
        if e.author is not None:
            parties[e.author] = Response.ORGANIZER
        for pid, response in e.attendees:
            if pid not in parties:
                parties[pid] = response
        others = len(parties) - 1
        if others < 1:
            return
        if e.kind == Kind.MEETING and others > self.max_audience:
            return  # a webinar: says nothing about any pair, and would be quadratic
        feature = e.kind.value
        ignored = e.ignored or e.cancelled
        if e.kind == Kind.CALL and (e.duration_seconds or 0) < MIN_CALL_SECONDS:
            ignored = True
        base = 0.0 if ignored else audience_factor(others, self.max_audience)
        growth = self.clock.growth(e.at) if base else 0.0
        for u, u_response in parties.items():
            if not self.is_introducer(u):
                continue
            for c, c_response in parties.items():
                if c == u or not self.is_lead(c):
                    continue
                factor = RESPONSE_FACTOR[u_response] * (c_response != Response.DECLINED)
                weight = base * factor * growth
                took_place = weight > 0
                self._bump(
                    u,
                    c,
                    feature,
                    weight,
                    e.at,
                    ignored or not took_place,
                    "both",
                    took_place and e.kind != Kind.CHAT,
                )
