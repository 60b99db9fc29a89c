"""A year of background signals for the demo organisation, as a time-ordered stream.

A discrete-event simulation: every relationship, sales sequence, newsletter
and meeting series is a source that fires at random times (a Poisson process
on working hours); a firing produces one or more interactions (a thread and
its replies, a meeting, a call), which wait in a heap until nothing earlier
can come. Memory holds the sources and the interactions in flight, never the
whole year, so the large size (millions of interactions) streams into
:func:`signals.ingest.write_all`.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from signals.demo.org import DEPARTMENTS, Colleague, Contact, Org
from signals.demo.story import NEWSLETTER
from signals.models import Kind, Response
from signals.records import Attendee, InteractionRecord, Party

DAY_START = 7 * 3600  # working hours 07:00-18:00 UTC, Monday to Friday
WORKDAY = 11 * 3600
WORKDAYS_PER_YEAR = 250.0

AUTOMATED_SENDERS = (
    Party("noreply@relecloud.com", "Relecloud"),
    Party("notifications@blueyonderairlines.com", "Blue Yonder Airlines"),
    Party("alerts@litwareinc.com", "Litware Alerts"),
)
ALIAS = Party("partners@contoso.com", "Contoso Partners")  # an alias: receives, never sends

RESPONSES = (Response.ACCEPTED, Response.TENTATIVE, Response.NONE, Response.DECLINED)
RESPONSE_WEIGHTS = (0.68, 0.1, 0.14, 0.08)


@dataclass(frozen=True)
class Tier:
    """How intense a relationship is, per year at volume 1."""

    threads: float
    meetings: float
    calls: float
    chats: float
    p_reply: float


TIERS = {
    "strong": Tier(threads=10, meetings=3, calls=2, chats=1.5, p_reply=0.75),
    "moderate": Tier(threads=3.5, meetings=0.8, calls=0.5, chats=0.2, p_reply=0.55),
    "weak": Tier(threads=1.0, meetings=0.1, calls=0.1, chats=0.0, p_reply=0.35),
}
TIER_NAMES = tuple(TIERS)
TIER_WEIGHTS = (0.12, 0.33, 0.55)


class WorkClock:
    """Maps working seconds since a Monday 07:00 to real times, skipping nights and weekends."""

    def __init__(self, start: datetime, end: datetime) -> None:
        monday = start - timedelta(days=start.weekday())
        self.origin = monday.replace(hour=0, minute=0, second=0, microsecond=0)
        days = (end - self.origin).days
        weeks, rest = divmod(days, 7)
        self.total = float((weeks * 5 + min(rest, 5)) * WORKDAY)
        self.start = self.of(start)

    def real(self, w: float) -> datetime:
        day, sec = divmod(w, WORKDAY)
        week, weekday = divmod(int(day), 5)
        return self.origin + timedelta(days=week * 7 + weekday, seconds=DAY_START + int(sec))

    def of(self, at: datetime) -> float:
        """Working seconds at ``at`` (times outside working hours snap to the next start)."""
        days = (at - self.origin).days
        week, weekday = divmod(days, 7)
        if weekday >= 5:
            return float((week * 5 + 5) * WORKDAY)
        sec = (at - self.origin - timedelta(days=days)).total_seconds() - DAY_START
        return float((week * 5 + weekday) * WORKDAY + min(max(sec, 0.0), WORKDAY - 1))


class Stream:
    """Interactions waiting for their time; released in time order."""

    def __init__(self, clock: WorkClock, end: datetime, analysed: set[str]) -> None:
        self.clock = clock
        self.end = end
        self.analysed = analysed
        self.heap: list[tuple[datetime, int, InteractionRecord]] = []
        self.seq = 0

    def key(self, prefix: str, domain: str) -> str:
        self.seq += 1
        return f"<{prefix}.{self.seq}@{domain}>"

    def push(self, rec: InteractionRecord) -> None:
        if rec.occurred_at >= self.end:
            return  # a reply that would come after today
        if rec.mailbox is None:
            rec.mailbox = self._mailbox(rec)
        heapq.heappush(self.heap, (rec.occurred_at, self.seq, rec))
        self.seq += 1

    def _mailbox(self, rec: InteractionRecord) -> str | None:
        if rec.author is not None and rec.author.email in self.analysed:
            return rec.author.email
        for email in [p.email for p in rec.to] + [p.email for p in rec.cc]:
            if email in self.analysed:
                return email
        for a in rec.attendees:
            if a.email in self.analysed:
                return a.email
        return None

    def release(self, before: datetime) -> Iterator[InteractionRecord]:
        heap = self.heap
        while heap and heap[0][0] < before:
            yield heapq.heappop(heap)[2]


Fire = Callable[[float], None]


@dataclass(slots=True)
class Source:
    """Fires ``fire`` at Poisson times with ``rate`` per working day within [start, stop),
    or every ``every`` working days when that is set (newsletters keep a schedule)."""

    rate: float
    start: float
    stop: float
    fire: Fire
    every: float = 0.0

    def gap(self, rng: random.Random) -> float:
        """Working seconds to the next firing."""
        if self.every:
            return self.every * WORKDAY
        return rng.expovariate(self.rate) * WORKDAY


class Background:
    """Builds the sources of one organisation and runs them."""

    def __init__(self, org: Org, rng: random.Random) -> None:
        self.org = org
        self.rng = rng
        self.clock = WorkClock(org.start, org.end)
        self.volume = org.size.volume
        analysed = {c.email for c in org.colleagues if c.active}
        self.stream = Stream(self.clock, org.end, analysed)
        self.sources: list[Source] = []
        story = {c.index for c in org.story_contacts.values()}
        self.story_contacts = story
        self.prospects = [c for c in org.contacts if c.index not in story]
        self.yvonne = org.story_contacts["yvonne"]
        self.people = [c for c in org.colleagues if not c.opted_out and not c.shared]

    # -- helpers -----------------------------------------------------------------------

    def present(self, c: Colleague, at: datetime) -> bool:
        return not c.opted_out and not c.shared and (c.departed_at is None or at < c.departed_at)

    def teammates(self, c: Colleague, at: datetime, k: int) -> list[Party]:
        cols = self.org.colleagues
        mates = [cols[i] for i in c.team if self.present(cols[i], at)]
        return [m.party for m in mates[:k]]

    def coworkers(self, x: Contact, k: int) -> list[Party]:
        company = self.org.companies[x.company]
        others = [i for i in company.contacts if i != x.index and i not in self.story_contacts]
        contacts = self.org.contacts
        return [contacts[i].party for i in self.rng.sample(others, min(k, len(others)))]

    def delay(self, median_hours: float) -> float:
        """A working-time delay (seconds), log-normal around ``median_hours``."""
        return min(self.rng.lognormvariate(math.log(median_hours * 3600), 1.0), 12 * WORKDAY)

    def response(self) -> Response:
        return self.rng.choices(RESPONSES, RESPONSE_WEIGHTS)[0]

    def on_half_hour(self, w: float) -> datetime:
        """The next full or half hour (never earlier than ``w``: the stream stays ordered)."""
        at = self.clock.real(w)
        if at.minute == at.second == 0 or (at.minute == 30 and at.second == 0):
            return at
        return at.replace(minute=0, second=0) + timedelta(minutes=30 if at.minute < 30 else 60)

    # -- interaction makers ------------------------------------------------------------

    def thread(
        self,
        w: float,
        first: Party,
        second: Party,
        cc: list[Party],
        p_reply: float,
        domain: str,
        subject: str,
        max_replies: int = 6,
    ) -> None:
        rng, stream = self.rng, self.stream
        key = stream.key("m", domain)
        root = InteractionRecord(
            Kind.EMAIL,
            key,
            self.clock.real(w),
            first,
            to=[second],
            cc=cc,
            thread_key=key,
            subject=subject,
            origin="demo",
        )
        stream.push(root)
        prev, sender, receiver = root, second, first
        for _ in range(max_replies):
            if rng.random() >= p_reply:
                break
            w += self.delay(3.0)
            author = sender
            if cc and rng.random() < 0.1:
                author = rng.choice(cc)  # someone in Cc joins in
            to = [receiver] if author is sender else [prev.author or receiver]
            others = [
                p for p in [*cc, sender, receiver] if p.email not in {author.email, to[0].email}
            ]
            rec = InteractionRecord(
                Kind.EMAIL,
                stream.key("m", author.email.rsplit("@", 1)[1]),
                self.clock.real(w),
                author,
                to=to,
                cc=others if cc else [],
                thread_key=key,
                parent_key=prev.source_key,
                subject="RE: " + subject,
                origin="demo",
            )
            stream.push(rec)
            prev = rec
            if author is sender:
                sender, receiver = receiver, sender

    def meeting(
        self, w: float, organiser: Party, others: list[Party], subject: str, minutes: int = 45
    ) -> None:
        stream = self.stream
        stream.seq += 1
        stream.push(
            InteractionRecord(
                Kind.MEETING,
                f"demo-event-{stream.seq}@contoso.com",
                self.on_half_hour(w),
                organiser,
                attendees=[Attendee(p.email, p.name, self.response()) for p in others],
                cancelled=self.rng.random() < 0.04,
                duration_seconds=minutes * 60,
                subject=subject,
                origin="demo",
            )
        )

    def call(self, w: float, caller: Party, callee: Party) -> None:
        rng, stream = self.rng, self.stream
        seconds = (
            rng.randrange(5, 58)
            if rng.random() < 0.15
            else int(min(rng.lognormvariate(math.log(360), 0.8), 7200)) + 60
        )
        stream.seq += 1
        stream.push(
            InteractionRecord(
                Kind.CALL,
                f"demo-call-{stream.seq}",
                self.clock.real(w),
                caller,
                attendees=[Attendee(callee.email, callee.name, Response.ACCEPTED)],
                duration_seconds=seconds,
                origin="demo",
            )
        )

    def chat(self, w: float, starter: Party, other: Party) -> None:
        stream = self.stream
        stream.seq += 1
        stream.push(
            InteractionRecord(
                Kind.CHAT,
                f"demo-chat-{stream.seq}",
                self.clock.real(w),
                starter,
                attendees=[Attendee(other.email, other.name)],
                origin="demo",
            )
        )

    # -- sources -----------------------------------------------------------------------

    def add(
        self,
        rate_per_year: float,
        fire: Fire,
        start: float = 0.0,
        stop: float = -1.0,
        *,
        scheduled: bool = False,
    ) -> None:
        rate = rate_per_year / WORKDAYS_PER_YEAR
        if rate > 0:
            end = self.clock.total if stop < 0 else stop
            every = 1.0 / rate if scheduled else 0.0
            self.sources.append(Source(rate, start, end, fire, every))

    def relationships(self) -> None:
        """Each colleague who deals with customers keeps a portfolio of contacts, mostly
        at the accounts they look after; each tie is strong, moderate or weak."""
        rng, org, clock = self.rng, self.org, self.clock
        scale = math.sqrt(self.volume)
        company_weights = [len(c.contacts) for c in org.companies]
        owned: dict[int, list[int]] = {}
        for company in org.companies:
            for owner in company.owners:
                owned.setdefault(owner, []).append(company.index)
        story = {c.index for c in org.story_contacts.values()}
        for col in org.colleagues:
            if not col.active or col.story_key in ("grant", "sales"):
                continue
            mean = DEPARTMENTS[col.department][2] * scale
            n = int(rng.lognormvariate(math.log(mean + 0.5), 0.5))
            chosen: set[int] = set()
            accounts = owned.get(col.index, [])
            for _ in range(n * 2):
                if len(chosen) >= n:
                    break
                if accounts and rng.random() < 0.7:
                    company = org.companies[rng.choice(accounts)]
                else:
                    company = rng.choices(org.companies, company_weights)[0]
                if company.contacts:
                    x = rng.choice(company.contacts)
                    if x not in story:
                        chosen.add(x)
            stop = clock.total if col.departed_at is None else clock.of(col.departed_at)
            for x in sorted(chosen):
                tier = rng.choices(TIER_NAMES, TIER_WEIGHTS)[0]
                self.relationship(col, org.contacts[x], TIERS[tier], tier, stop)

    def relationship(self, col: Colleague, x: Contact, tier: Tier, name: str, stop: float) -> None:
        rng, total = self.rng, self.clock.total
        if name == "strong":
            start = rng.uniform(0, 0.4) * total
        else:
            span = rng.uniform(0.1, 0.5 if name == "weak" else 0.8) * total
            start = rng.uniform(0, total - span)
            stop = min(stop, start + span)
        if stop <= start:
            return
        # Short relationships are a little more intense while they last.
        factor = math.sqrt(self.volume) * math.sqrt(total / (stop - start))
        domain = self.org.companies[x.company].domain
        kinds = ("thread", "meeting", "call", "chat")
        weights = (tier.threads, tier.meetings, tier.calls, tier.chats)

        def fire(w: float) -> None:
            kind = rng.choices(kinds, weights)[0]
            at = self.clock.real(w)
            me, them = col.party, x.party
            if kind == "thread":
                cc: list[Party] = []
                if rng.random() < 0.25:
                    cc += self.teammates(col, at, rng.randrange(1, 3))
                if rng.random() < 0.15:
                    cc += self.coworkers(x, 1)
                first, second = (me, them) if rng.random() < 0.55 else (them, me)
                dom = "contoso.com" if first is me else domain
                self.thread(w, first, second, cc, tier.p_reply, dom, "Follow-up")
            elif kind == "meeting":
                others = [them]
                if rng.random() < 0.3:
                    others += self.teammates(col, at, rng.randrange(1, 3))
                if rng.random() < 0.3:
                    others += self.coworkers(x, rng.randrange(1, 4))
                if rng.random() < 0.85:
                    self.meeting(w, me, others, "Catch-up")
                else:
                    self.meeting(w, them, [me, *others[1:]], "Catch-up")
            elif kind == "call":
                if rng.random() < 0.7:
                    self.call(w, me, them)
                else:
                    self.call(w, them, me)
            else:
                self.chat(w, *((me, them) if rng.random() < 0.6 else (them, me)))

        self.add(sum(weights) * factor, fire, start, stop)

    def sequences(self) -> None:
        """Sales sequences: five to nine one-way e-mails to a prospect; few answer."""
        rng = self.rng
        for col in self.org.colleagues:
            if col.department != "Sales" or not col.active or col.story_key:
                continue
            per_year = (60 if "Development" in col.title else 15) * self.volume

            def fire(w: float, col: Colleague = col) -> None:
                x = rng.choice(self.prospects)
                domain = "contoso.com"
                prev: InteractionRecord | None = None
                key = ""
                for _ in range(rng.randrange(5, 10)):
                    at = self.clock.real(w)
                    if col.departed_at is not None and at >= col.departed_at:
                        return
                    rec = InteractionRecord(
                        Kind.EMAIL,
                        self.stream.key("seq", domain),
                        at,
                        col.party,
                        to=[x.party],
                        thread_key=key or None,
                        parent_key=prev.source_key if prev else None,
                        subject="Quick question",
                        origin="demo",
                    )
                    if not key:
                        key = rec.thread_key = rec.source_key
                    self.stream.push(rec)
                    if rng.random() < 0.02:  # an answer at last
                        reply = InteractionRecord(
                            Kind.EMAIL,
                            self.stream.key("m", self.org.companies[x.company].domain),
                            self.clock.real(w + self.delay(5.0)),
                            x.party,
                            to=[col.party],
                            thread_key=key,
                            parent_key=rec.source_key,
                            subject="RE: Quick question",
                            origin="demo",
                        )
                        self.stream.push(reply)
                        return
                    prev = rec
                    w += rng.uniform(2, 6) * WORKDAY

            self.add(per_year, fire)

    def bulk(self) -> None:
        """Newsletters, customer updates, webinars, all-hands, notifications, an alias."""
        rng, org = self.rng, self.org
        prospects = self.prospects
        marketing = [c for c in org.colleagues if c.department == "Marketing" and c.active]
        bonnie = org.story_colleagues["bonnie"]
        evelyn = org.story_colleagues["evelyn"]

        def mass_mail(author: Party, low: int, high: int, automated: bool, subject: str) -> Fire:
            def fire(w: float) -> None:
                n = min(len(prospects), rng.randrange(low, high))
                crowd = [self.yvonne.party] + [c.party for c in rng.sample(prospects, n)]
                self.stream.push(
                    InteractionRecord(
                        Kind.EMAIL,
                        self.stream.key("bulk", "contoso.com"),
                        self.clock.real(w),
                        author,
                        bcc=crowd,
                        automated=automated,
                        bulk=True,
                        is_list=True,
                        subject=subject,
                        origin="demo",
                    )
                )

            return fire

        scale = max(1.0, self.volume)
        self.add(12, mass_mail(NEWSLETTER, 300, 700, True, "Contoso News"), scheduled=True)
        self.add(4, mass_mail(bonnie.party, 250, 500, False, "Customer update"), scheduled=True)

        def webinar(w: float) -> None:
            host = rng.choice(marketing).party if marketing else bonnie.party
            n = min(len(prospects), rng.randrange(60, 150))
            crowd = [c.party for c in rng.sample(prospects, n)]
            self.meeting(w, host, crowd, "Webinar", minutes=60)

        self.add(12 * scale, webinar)

        def all_hands(w: float) -> None:
            at = self.clock.real(w)
            crowd = [c.party for c in self.people if self.present(c, at) and c is not evelyn]
            self.meeting(w, evelyn.party, crowd, "All hands", minutes=60)

        self.add(12, all_hands, scheduled=True)

        def notification(w: float) -> None:
            at = self.clock.real(w)
            to = rng.choice(self.people)
            if not self.present(to, at):
                return
            sender = rng.choice(AUTOMATED_SENDERS)
            self.stream.push(
                InteractionRecord(
                    Kind.EMAIL,
                    self.stream.key("n", sender.email.rsplit("@", 1)[1]),
                    at,
                    sender,
                    to=[to.party],
                    automated=True,
                    subject="Your notification",
                    origin="demo",
                )
            )

        self.add(3.0 * len(self.people) * self.volume, notification)

        def to_alias(w: float) -> None:
            x = rng.choice(prospects)
            self.thread(w, x.party, ALIAS, [], 0.0, org.companies[x.company].domain, "Partnership")

        self.add(80 * scale, to_alias)

    def internal(self) -> None:
        """Mail and meetings among colleagues: volume, and never a pair with a contact."""
        rng = self.rng
        # Unanalysed colleagues write too: their mail shows in the recipients' mailboxes.
        people = self.people

        def mail(w: float) -> None:
            at = self.clock.real(w)
            author = rng.choice(people)
            if not self.present(author, at):
                return
            mates = self.teammates(author, at, 3)
            if not mates:
                return
            to, cc = mates[:1], mates[1 : rng.randrange(1, 4)]
            self.thread(w, author.party, to[0], cc, 0.5, "contoso.com", "Internal", max_replies=3)

        def team_meeting(w: float) -> None:
            at = self.clock.real(w)
            organiser = rng.choice(people)
            if self.present(organiser, at):
                mates = self.teammates(organiser, at, 5)
                if mates:
                    self.meeting(w, organiser.party, mates, "Team sync", minutes=30)

        self.add(25 * len(people) * self.volume, mail)
        self.add(6 * len(people) * self.volume, team_meeting)

    # -- running -----------------------------------------------------------------------

    def run(self, extra: list[InteractionRecord]) -> Iterator[InteractionRecord]:
        """Every interaction up to ``org.end``, in time order; ``extra`` (the story) mixed in."""
        rng, stream, clock = self.rng, self.stream, self.clock
        start_w = clock.start
        for rec in extra:
            stream.push(rec)
        heap: list[tuple[float, int]] = []
        for i, src in enumerate(self.sources):
            t = max(src.start, start_w) + rng.uniform(0.0, src.gap(rng))
            if t < src.stop:
                heap.append((t, i))
        heapq.heapify(heap)
        while heap:
            t, i = heapq.heappop(heap)
            yield from stream.release(clock.real(t))
            src = self.sources[i]
            src.fire(t)
            t += src.gap(rng)
            if t < src.stop:
                heapq.heappush(heap, (t, i))
        yield from stream.release(datetime.max.replace(tzinfo=UTC))


def background(
    org: Org, rng: random.Random, story: list[InteractionRecord]
) -> Iterator[InteractionRecord]:
    """The whole year as one time-ordered stream of interactions."""
    bg = Background(org, rng)
    bg.relationships()
    bg.sequences()
    bg.bulk()
    bg.internal()
    return bg.run(story)
