"""The reference story: who knows Yvonne McKay of Fourth Coffee, and how well.

Blaine Carmack (Sales, sells coffee makers) asks who knows his lead Yvonne
McKay (yvonne.mckay@fourthcoffee.com; also writes from ymckay@outlook.com, both
addresses on her CRM lead, topic "New store opened this year - follow up").
All dates are days before ``today``, so the story stays recent whenever it is built.

Colleagues who know her, strongest first by design:

- Tricia Potter (Sales, Key Account Manager): strong, two-way. Ten threads
  over eight months with replies both ways (some from Yvonne's personal
  address, some with Dana in Cc), three meetings Yvonne accepted, a 22-minute
  call, a Teams chat; the last exchange two days ago.
- Priya Raman (Marketing, Events Manager): moderate. A trade-show exchange
  two and a half months ago (replies both ways), a booth meeting, an
  unanswered follow-up.
- Marcus Webb (Customer Success): moderate to weak. Met her twice, five and
  three months ago, one e-mail each way.
- Hector Ruiz (Operations, Service Technician): weak. In Cc on one thread,
  a 9-minute call and a missed 40-second one, one e-mail answered, five months ago.
  He knows Luis Bravo, Fourth Coffee's purchasing manager, well.
- Dana Whitfield (Finance, Billing Specialist): weak. Only in Cc on three of
  Tricia's threads; never wrote to Yvonne.
- Owen Lindqvist (Engineering, Solutions Engineer): weak. One e-mail to her
  eleven months ago, never answered.
- Ray Tanaka (Sales, Sales Development Representative): the one-way trap.
  Three sales sequences, 30 e-mails in all (more than Tricia's whole history
  with her), never answered: the raw-count baseline ranks him first.
- Grant Holloway (Sales): knew her well but left the company four months ago
  (disabled): a departed colleague must not be proposed.
- Blaine Carmack himself: one cold e-mail ten months ago, unanswered, so the
  "you have written to her yourself" path shows.

Noise around her that must count for nothing: the monthly newsletter from
newsletter@contoso.com and Bonnie Kearney's quarterly customer update (bulk,
list, hundreds of recipients), a webinar with over a hundred attendees, and an
inquiry she sent to the shared mailbox sales@contoso.com, which answered.

Other named leads for the docs:

- Fourth Coffee as a company ("who knows anyone at Fourth Coffee"): Luis Bravo
  (Purchasing Manager; Hector strong, Tricia and Marcus moderate) and Mia Lund
  (Store Manager; Marcus weak), besides Yvonne and generated contacts.
- Wendy Kahale (Wingtip Toys) once mailed 30 colleagues at once: everyone is
  weak, nobody strong.
- Daniel Brooks (Woodgrove Bank) corresponds with the CEO Evelyn Hart, whose
  assistant Sam Ortiz sends on her behalf (Sender vs From).
- Priscilla Dunn (Lamna Healthcare) is a CRM lead nobody has contacted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from signals.models import Kind, Response
from signals.records import Attendee, InteractionRecord, Party

if TYPE_CHECKING:
    from signals.demo.org import Org

LEAD_TOPIC = "New store opened this year - follow up"


@dataclass(frozen=True)
class StoryColleague:
    key: str
    name: str
    department: str
    title: str
    departed_days_ago: int | None = None
    shared: bool = False
    email: str | None = None


@dataclass(frozen=True)
class StoryContact:
    key: str
    name: str
    domain: str
    title: str
    personal_email: str | None = None
    crm_source: str | None = None
    crm_owner: str | None = None
    topic: str | None = None


STORY_COLLEAGUES: tuple[StoryColleague, ...] = (
    StoryColleague("blaine", "Blaine Carmack", "Sales", "Account Executive"),
    StoryColleague("tricia", "Tricia Potter", "Sales", "Key Account Manager"),
    StoryColleague("ray", "Ray Tanaka", "Sales", "Sales Development Representative"),
    StoryColleague("marcus", "Marcus Webb", "Customer Success", "Customer Success Manager"),
    StoryColleague("dana", "Dana Whitfield", "Finance", "Billing Specialist"),
    StoryColleague("owen", "Owen Lindqvist", "Engineering", "Solutions Engineer"),
    StoryColleague("priya", "Priya Raman", "Marketing", "Events Manager"),
    StoryColleague("hector", "Hector Ruiz", "Operations", "Service Technician"),
    StoryColleague("grant", "Grant Holloway", "Sales", "Senior Account Executive", 120),
    StoryColleague("bonnie", "Bonnie Kearney", "Marketing", "Marketing Director"),
    StoryColleague("evelyn", "Evelyn Hart", "Executive", "Chief Executive Officer"),
    StoryColleague("sam", "Sam Ortiz", "Executive", "Executive Assistant"),
    StoryColleague(
        "sales", "Contoso Sales", "Sales", "Shared mailbox", shared=True, email="sales@contoso.com"
    ),
)

STORY_CONTACTS: tuple[StoryContact, ...] = (
    StoryContact(
        "yvonne",
        "Yvonne McKay",
        "fourthcoffee.com",
        "Owner",
        personal_email="ymckay@outlook.com",
        crm_source="lead",
        crm_owner="blaine",
        topic=LEAD_TOPIC,
    ),
    StoryContact(
        "luis", "Luis Bravo", "fourthcoffee.com", "Purchasing Manager", None, "contact", "tricia"
    ),
    StoryContact("mia", "Mia Lund", "fourthcoffee.com", "Store Manager"),
    StoryContact(
        "wendy", "Wendy Kahale", "wingtiptoys.com", "Head of Operations", None, "lead", "blaine",
        "Trade show follow-up",
    ),
    StoryContact(
        "daniel", "Daniel Brooks", "woodgrovebank.com", "CFO", None, "contact", "evelyn"
    ),
    StoryContact(
        "priscilla", "Priscilla Dunn", "lamnahealthcare.com", "Head of Facilities", None, "lead",
        "blaine", "Replace the office coffee makers",
    ),
)  # fmt: skip

NEWSLETTER = Party("newsletter@contoso.com", "Contoso News")


class StoryWriter:
    """Builds the story's interactions, dated in days before ``today``."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.today = org.today
        self.records: list[InteractionRecord] = []
        self.seq = 0

    def who(self, key: str) -> Party:
        if key in self.org.story_colleagues:
            return self.org.story_colleagues[key].party
        return self.org.story_contacts[key].party

    def at(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        """A working-day time ``days_ago`` days before today (weekends move to Friday)."""
        day: date = self.today - timedelta(days=days_ago)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return datetime.combine(day, time(hour, minute), tzinfo=UTC)

    def _key(self, prefix: str, domain: str) -> str:
        self.seq += 1
        return f"<story.{prefix}.{self.seq}@{domain}>"

    def mail(
        self,
        when: datetime,
        author: Party,
        to: list[Party],
        cc: list[Party] | None = None,
        *,
        reply_to: InteractionRecord | None = None,
        subject: str = "",
        sent_by: Party | None = None,
        bcc: list[Party] | None = None,
        bulk: bool = False,
        automated: bool = False,
    ) -> InteractionRecord:
        key = self._key("m", author.email.rsplit("@", 1)[1])
        rec = InteractionRecord(
            kind=Kind.EMAIL,
            source_key=key,
            occurred_at=when,
            author=author,
            sent_by=sent_by,
            to=to,
            cc=cc or [],
            bcc=bcc or [],
            thread_key=reply_to.thread_key if reply_to else key,
            parent_key=reply_to.source_key if reply_to else None,
            subject=("RE: " + (reply_to.subject or "")) if reply_to else subject,
            bulk=bulk,
            is_list=bulk,
            automated=automated,
            origin="demo",
        )
        self.records.append(rec)
        return rec

    def exchange(
        self,
        start: datetime,
        first: Party,
        second: Party,
        replies: int,
        subject: str,
        cc: list[Party] | None = None,
        gap_hours: float = 5.0,
    ) -> list[InteractionRecord]:
        """A thread: ``first`` writes, then the two answer each other ``replies`` times."""
        msgs = [self.mail(start, first, [second], cc, subject=subject)]
        sender, receiver = second, first
        for i in range(replies):
            when = start + timedelta(hours=gap_hours * (i + 1))
            msgs.append(self.mail(when, sender, [receiver], cc, reply_to=msgs[-1]))
            sender, receiver = receiver, sender
        return msgs

    def meeting(
        self,
        when: datetime,
        organiser: Party,
        attendees: list[tuple[Party, Response]],
        subject: str,
        *,
        cancelled: bool = False,
        minutes: int = 45,
    ) -> InteractionRecord:
        self.seq += 1
        rec = InteractionRecord(
            kind=Kind.MEETING,
            source_key=f"story-event-{self.seq}@contoso.com",
            occurred_at=when,
            author=organiser,
            attendees=[Attendee(p.email, p.name, r) for p, r in attendees],
            cancelled=cancelled,
            duration_seconds=minutes * 60,
            subject=subject,
            origin="demo",
        )
        self.records.append(rec)
        return rec

    def call(self, when: datetime, caller: Party, callee: Party, seconds: int) -> None:
        self.seq += 1
        self.records.append(
            InteractionRecord(
                kind=Kind.CALL,
                source_key=f"story-call-{self.seq}",
                occurred_at=when,
                author=caller,
                attendees=[Attendee(callee.email, callee.name, Response.ACCEPTED)],
                duration_seconds=seconds,
                origin="demo",
            )
        )

    def chat(self, when: datetime, starter: Party, other: Party) -> None:
        self.seq += 1
        self.records.append(
            InteractionRecord(
                kind=Kind.CHAT,
                source_key=f"story-chat-{self.seq}",
                occurred_at=when,
                author=starter,
                attendees=[Attendee(other.email, other.name)],
                origin="demo",
            )
        )


def _yvonne(w: StoryWriter, rng: random.Random) -> None:
    yv, tricia, dana = w.who("yvonne"), w.who("tricia"), w.who("dana")
    yv_home = Party("ymckay@outlook.com", "Yvonne McKay")
    ok = Response.ACCEPTED

    # Tricia: strong and two-way, from eight months ago to two days ago.
    w.exchange(w.at(230, 9), yv, tricia, 2, "Coffee makers for our first shop")
    w.exchange(w.at(200, 10), tricia, yv, 2, "Your quote", cc=[dana])
    w.meeting(w.at(195, 14), tricia, [(yv, ok), (dana, Response.NONE)], "Quote walkthrough")
    w.exchange(w.at(150, 8), yv, tricia, 1, "Grinder is making a noise", cc=[w.who("hector")])
    w.exchange(w.at(120, 11), tricia, yv, 1, "Invoice 2291", cc=[dana])
    w.meeting(
        w.at(90, 15),
        tricia,
        [(yv, ok), (w.who("marcus"), ok), (w.who("luis"), ok)],
        "Quarterly review - Fourth Coffee",
    )
    w.exchange(w.at(60, 19), yv_home, tricia, 3, "We're opening a second store!")
    w.call(w.at(45, 16), tricia, yv, 22 * 60)
    w.exchange(w.at(30, 9), tricia, yv, 1, "Equipment list for the new store", cc=[dana])
    w.meeting(w.at(21, 10), tricia, [(yv, ok)], "Site visit: new store", minutes=90)
    w.exchange(w.at(12, 13), yv, tricia, 1, "Opening day photos")
    w.chat(w.at(5, 11), tricia, yv)
    w.exchange(w.at(3, 9), tricia, yv, 1, "Espresso machine delivery date", gap_hours=20)

    # Priya: a trade show, moderate.
    priya = w.who("priya")
    w.exchange(w.at(75, 10), priya, yv, 2, "See you at the Coffee Expo?")
    w.meeting(w.at(70, 13), priya, [(yv, ok)], "Coffee Expo: booth 14", minutes=30)
    w.mail(w.at(40, 15), priya, [yv], subject="Photos from the Expo")

    # Marcus: met her twice months ago, one e-mail each way.
    marcus = w.who("marcus")
    w.meeting(w.at(152, 10), marcus, [(yv, ok)], "Onboarding: Fourth Coffee")
    w.exchange(w.at(150, 16), marcus, yv, 1, "Onboarding notes")

    # Hector: a service visit five months ago.
    hector = w.who("hector")
    w.call(w.at(148, 8), hector, yv, 9 * 60)
    w.exchange(w.at(147, 12), hector, yv, 1, "Visit confirmed for Thursday")
    w.call(w.at(140, 17), yv, hector, 40)  # missed: under a minute

    # Owen: one unanswered e-mail, eleven months ago.
    w.mail(w.at(330, 14), w.who("owen"), [yv], subject="Water line specs for the machine")

    # Blaine, the requester: one cold e-mail ten months ago.
    w.mail(w.at(300, 9), w.who("blaine"), [yv], subject="Coffee makers for Fourth Coffee")

    # Ray: three one-way sales sequences, ten steps each, never answered.
    ray = w.who("ray")
    for start, subject in ((245, "Upgrade your espresso bar"), (160, "Cold brew, made simple"),
                           (52, "Equip your new store")):  # fmt: skip
        prev: InteractionRecord | None = None
        for step in range(10):
            when = w.at(start - step * 5, 8, 30 + rng.randrange(20))
            prev = w.mail(when, ray, [yv], reply_to=prev, subject=subject)

    # Grant: strong until he left (120 days ago).
    grant = w.who("grant")
    for days in (340, 300, 260, 220, 180, 135):
        w.exchange(w.at(days, 10), grant, yv, 2, "Checking in")
    w.meeting(w.at(280, 11), grant, [(yv, ok)], "Lunch")
    w.meeting(w.at(190, 11), grant, [(yv, ok)], "Coffee tasting")

    # The shared mailbox answered her first inquiry.
    first = w.mail(w.at(262, 8), yv, [w.who("sales")], subject="Looking for a supplier")
    w.mail(w.at(262, 12), w.who("sales"), [yv], reply_to=first)

    # Fourth Coffee's other people.
    luis, mia = w.who("luis"), w.who("mia")
    for days in (280, 210, 160, 110, 70, 25, 8):
        w.exchange(w.at(days, 9), luis, hector, 2, "Spare parts order")
    for days in (200, 95, 14):
        w.call(w.at(days, 14), hector, luis, rng.randrange(300, 1200))
    w.exchange(w.at(100, 10), tricia, luis, 1, "Volume pricing")
    w.exchange(w.at(55, 10), luis, tricia, 1, "PO for the new store")
    w.exchange(w.at(85, 9), marcus, luis, 1, "Renewal dates")
    w.mail(w.at(65, 9), marcus, [mia], subject="Training session for your baristas")


def _others(w: StoryWriter) -> None:
    org = w.org
    # Wendy once mailed 30 colleagues at once.
    active = [c for c in org.colleagues if c.active and c.departed_at is None]
    team = [c.party for c in active[:: max(1, len(active) // 30)]][:30]
    w.mail(w.at(40, 9), w.who("wendy"), team, subject="Thank you for a great workshop")
    # The CEO's assistant sends on her behalf.
    evelyn, sam, daniel = w.who("evelyn"), w.who("sam"), w.who("daniel")
    for days in (200, 120, 33):
        first = w.mail(w.at(days, 8), evelyn, [daniel], sent_by=sam, subject="Board dinner")
        w.mail(w.at(days, 15), daniel, [evelyn], reply_to=first)
    w.meeting(w.at(110, 12), evelyn, [(daniel, Response.ACCEPTED), (sam, Response.NONE)], "Lunch")


def _bulk_around_yvonne(w: StoryWriter, rng: random.Random) -> None:
    """A webinar she attended among many; bulk mail is made by the background generator."""
    org = w.org
    yv = w.who("yvonne")
    story = {c.index for c in org.story_contacts.values()}
    pool = [c for c in org.contacts if c.index not in story]
    crowd = rng.sample(pool, min(len(pool), 120))
    attendees = [(yv, Response.ACCEPTED)] + [
        (c.party, rng.choice((Response.ACCEPTED, Response.NONE, Response.DECLINED))) for c in crowd
    ]
    w.meeting(w.at(100, 16), w.who("priya"), attendees, "Webinar: running a coffee shop")


def story_records(org: Org, rng: random.Random) -> list[InteractionRecord]:
    """Every interaction of the story, in no particular order."""
    w = StoryWriter(org)
    _yvonne(w, rng)
    _others(w)
    _bulk_around_yvonne(w, rng)
    return w.records
