"""Each failure mode of scoring.md, built by hand, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from scoring.answer import Answer, ask
from signals.crm import CrmEntry, upsert_crm_entries
from signals.ingest import Writer, write_all
from signals.models import Kind, Person, Response
from signals.records import Attendee, InteractionRecord, Party
from signals.store import detect_lists

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEAD = Party("yvonne.mckay@fourthcoffee.com", "Yvonne McKay")


def colleague(name: str) -> Party:
    return Party(name.lower().replace(" ", ".") + "@contoso.com", name)


class Mail:
    """Builds interaction records with unique keys, days before NOW."""

    def __init__(self) -> None:
        self.n = 0
        self.records: list[InteractionRecord] = []

    def key(self) -> str:
        self.n += 1
        return f"<k{self.n}@test>"

    def email(
        self,
        days_ago: float,
        author: Party,
        to: list[Party],
        cc: list[Party] | None = None,
        *,
        reply_to: str | None = None,
        sent_by: Party | None = None,
        bulk: bool = False,
    ) -> str:
        key = self.key()
        self.records.append(
            InteractionRecord(
                Kind.EMAIL,
                key,
                NOW - timedelta(days=days_ago),
                author,
                sent_by=sent_by,
                to=to,
                cc=cc or [],
                parent_key=reply_to,
                thread_key=reply_to or key,
                bulk=bulk,
            )
        )
        return key

    def exchange(self, days_ago: float, us: Party, them: Party = LEAD) -> None:
        """A message and its reply."""
        first = self.email(days_ago, us, [them])
        self.email(days_ago - 0.1, them, [us], reply_to=first)

    def meeting(
        self,
        days_ago: float,
        organiser: Party,
        attendees: list[Party],
        response: Response = Response.ACCEPTED,
    ) -> None:
        self.records.append(
            InteractionRecord(
                Kind.MEETING,
                self.key(),
                NOW - timedelta(days=days_ago),
                organiser,
                attendees=[Attendee(a.email, a.name, response) for a in attendees],
            )
        )

    def write(self, engine: Engine) -> None:
        write_all(Writer(engine), self.records)
        detect_lists(engine)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


def who(session: Session, text: str = "who knows Yvonne McKay", **kw: object) -> Answer:
    session.expire_all()
    return ask(session, text, now=NOW, **kw)  # type: ignore[arg-type]


def names(answer: Answer) -> list[str]:
    return [c.person.display_name for c in answer.colleagues]


def tiers(answer: Answer) -> dict[str, str]:
    return {c.person.display_name: c.tier.value for c in answer.colleagues}


def test_two_way_beats_one_way_sales_sequence(engine: Engine, session: Session) -> None:
    m = Mail()
    tricia, ray = colleague("Tricia Potter"), colleague("Ray Tanaka")
    for i in range(4):
        m.exchange(10 + i * 20, tricia)
    for i in range(30):
        m.email(5 + i * 3, ray, [LEAD])
    m.write(engine)
    answer = who(session)
    assert names(answer) == ["Tricia Potter", "Ray Tanaka"]
    assert tiers(answer) == {"Tricia Potter": "Strong", "Ray Tanaka": "Weak"}
    ray_row = answer.colleagues[1]
    assert ray_row.best.evidence.emails_to == 30 and ray_row.best.evidence.emails_from == 0
    assert not ray_row.best.evidence.heard and answer.colleagues[0].best.evidence.heard


def test_never_answered_ranks_below_any_two_way_contact(engine: Engine, session: Session) -> None:
    """Thirty unanswered e-mails outscore one old meeting, yet rank below it and stay Weak."""
    m = Mail()
    ray, marcus, hector = (
        colleague("Ray Tanaka"),
        colleague("Marcus Webb"),
        colleague("Hector Ruiz"),
    )
    for i in range(30):
        m.email(2 + i, ray, [LEAD])
    m.meeting(300, marcus, [LEAD])
    m.email(400, LEAD, [hector])  # she wrote to him once, long ago
    m.write(engine)
    answer = who(session)
    assert names(answer) == ["Marcus Webb", "Hector Ruiz", "Ray Tanaka"]
    by_name = {c.person.display_name: c for c in answer.colleagues}
    assert by_name["Ray Tanaka"].score > by_name["Marcus Webb"].score
    assert tiers(answer)["Ray Tanaka"] == "Weak"


@pytest.mark.parametrize(("rule", "order", "ray_tier"), [
    ("factor", ["Ray Tanaka", "Marcus Webb"], "Moderate"),
    ("cap", ["Ray Tanaka", "Marcus Webb"], "Weak"),
    ("gate", ["Marcus Webb", "Ray Tanaka"], "Weak"),
])  # fmt: skip
def test_one_way_rules(
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    rule: str,
    order: list[str],
    ray_tier: str,
) -> None:
    """The ablation of docs/evaluation.md: today's factor, a cap at Weak, the gate."""
    monkeypatch.setenv("WHOKNOWS_ONE_WAY", rule)
    m = Mail()
    ray, marcus = colleague("Ray Tanaka"), colleague("Marcus Webb")
    for i in range(30):
        m.email(2 + i, ray, [LEAD])
    m.meeting(300, marcus, [LEAD])
    m.write(engine)
    answer = who(session)
    assert names(answer) == order
    assert tiers(answer)["Ray Tanaka"] == ray_tier


@pytest.mark.parametrize(("beta", "order"), [
    ("1", ["Dana Frost", "Eli Moss"]),
    ("0.25", ["Eli Moss", "Dana Frost"]),
])  # fmt: skip
def test_a_lopsided_tie_the_lead_answers_is_not_held_down(
    engine: Engine,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    beta: str,
    order: list[str],
) -> None:
    """Reciprocity acts through the one-way gate, not as a factor (docs/scoring.md): a
    colleague who writes to the lead every other day and has heard back ranks above one
    with three balanced exchanges; the old factor (beta 0.25) put her below."""
    monkeypatch.setenv("WHOKNOWS_RECIPROCITY_BETA", beta)
    m = Mail()
    dana, eli = colleague("Dana Frost"), colleague("Eli Moss")
    for i in range(12):
        m.email(1 + 2 * i, dana, [LEAD])
    m.email(9, LEAD, [dana])
    for i in range(3):
        m.exchange(5 + 7 * i, eli)
    m.write(engine)
    answer = who(session)
    assert names(answer) == order
    assert tiers(answer)["Dana Frost"] != "Strong"  # Strong still needs reciprocity


def test_a_mistyped_one_way_rule_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from scoring.strength import Weights

    monkeypatch.setenv("WHOKNOWS_ONE_WAY", "gaet")
    with pytest.raises(ValueError, match="WHOKNOWS_ONE_WAY must be one of gate, cap, factor"):
        Weights.from_settings()


def test_list_mail_orders_but_never_lists(engine: Engine, session: Session) -> None:
    """Bulk mail is weak evidence: it ranks a pair above a stranger in the evaluation,
    but a colleague with nothing else is not shown."""
    m = Mail()
    bonnie, tricia = colleague("Bonnie Kearney"), colleague("Tricia Potter")
    for i in range(4):
        m.email(10 + i * 30, bonnie, [LEAD], bulk=True)
    m.exchange(20, tricia)
    m.write(engine)
    answer = who(session)
    assert names(answer) == ["Tricia Potter"]
    lead_id = answer.colleagues[0].best.lead_id
    from scoring.ranking import rank

    everyone, _ = rank(session, [lead_id], now=NOW, include_zero=True)
    bonnie_row = next(c for c in everyone if c.person.display_name == "Bonnie Kearney")
    assert bonnie_row.score > 0 and bonnie_row.best.strength.counted == 0
    assert bonnie_row.best.evidence.bulk == 4


def test_lead_mailing_the_whole_team_once_makes_no_strong_tie(
    engine: Engine, session: Session
) -> None:
    m = Mail()
    team = [colleague(f"Member {chr(65 + i)}") for i in range(20)]
    m.email(3, LEAD, team)
    m.write(engine)
    answer = who(session)
    assert len(answer.colleagues) == 20
    assert set(tiers(answer).values()) == {"Weak"}


def test_list_or_alias_address_is_never_an_introducer(engine: Engine, session: Session) -> None:
    m = Mail()
    alias = colleague("All Partners")
    senders = [Party(f"p{i}@vendor{i}.com", f"P {i}") for i in range(11)]
    for s in [*senders, LEAD]:
        m.email(20, s, [alias])
    m.exchange(4, colleague("Tricia Potter"))
    m.write(engine)
    assert names(who(session)) == ["Tricia Potter"]


def test_automated_sender_counts_for_nothing(engine: Engine, session: Session) -> None:
    m = Mail()
    bot = Party("notifications@contoso.com", "Contoso Notifications")
    for i in range(40):
        m.email(i + 1, bot, [LEAD])
    m.email(3, colleague("Bob Kelly"), [LEAD], bulk=True)
    m.exchange(4, colleague("Tricia Potter"))
    m.write(engine)
    assert names(who(session)) == ["Tricia Potter"]


def test_assistant_sending_on_behalf_credits_the_executive(
    engine: Engine, session: Session
) -> None:
    m = Mail()
    ceo, assistant = colleague("Dana Chief"), colleague("Sam Assistant")
    for i in range(3):
        first = m.email(10 + i, ceo, [LEAD], sent_by=assistant)
        m.email(9.5 + i, LEAD, [ceo], reply_to=first)
    m.write(engine)
    assert names(who(session)) == ["Dana Chief"]


def test_shared_mailbox_is_not_proposed(engine: Engine, session: Session) -> None:
    m = Mail()
    for i in range(5):
        m.exchange(5 + i, Party("sales@contoso.com", "Contoso Sales"))
    m.email(2, colleague("Tricia Potter"), [LEAD])
    m.write(engine)
    assert names(who(session)) == ["Tricia Potter"]


def test_webinar_says_nothing_about_a_pair(engine: Engine, session: Session) -> None:
    m = Mail()
    host = colleague("Webinar Host")
    crowd = [Party(f"guest{i}@example{i % 40}.com") for i in range(120)]
    m.meeting(7, host, [LEAD, *crowd])
    m.meeting(8, colleague("Tricia Potter"), [LEAD])
    m.write(engine)
    answer = who(session)
    assert names(answer) == ["Tricia Potter"]


def test_small_meeting_counts_and_declined_does_not(engine: Engine, session: Session) -> None:
    m = Mail()
    m.meeting(7, LEAD, [colleague("Ann Accepts")], Response.ACCEPTED)
    m.meeting(7, LEAD, [colleague("Dee Declines")], Response.DECLINED)
    m.write(engine)
    assert names(who(session)) == ["Ann Accepts"]


def test_passive_cc_on_long_thread_ranks_below_direct_contact(
    engine: Engine, session: Session
) -> None:
    m = Mail()
    cc_person, direct = colleague("Cc Person"), colleague("Direct Person")
    other = colleague("Thread Owner")
    for i in range(12):  # the lead and the owner write back and forth, Cc always on
        m.email(3 + i, other, [LEAD], cc=[cc_person, colleague("X Y")])
        m.email(2.5 + i, LEAD, [other], cc=[cc_person, colleague("X Y")])
    m.exchange(6, direct)
    m.exchange(30, direct)
    m.write(engine)
    order = names(who(session))
    assert order.index("Direct Person") < order.index("Cc Person")
    assert tiers(who(session))["Cc Person"] != "Strong"


def test_several_addresses_of_the_lead_add_up(engine: Engine, session: Session) -> None:
    m = Mail()
    tricia = colleague("Tricia Potter")
    personal = Party("ymckay@gmail.com", "Yvonne McKay")
    m.exchange(5, tricia)
    m.exchange(6, tricia, personal)
    m.write(engine)
    upsert_crm_entries(
        engine,
        [
            CrmEntry(
                "lead",
                "L-1",
                "Yvonne McKay",
                [LEAD.email, personal.email],
                company_name="Fourth Coffee",
                topic="New store",
            )
        ],
    )
    answer = who(session, "who knows ymckay@gmail.com")
    assert answer.lead is not None and answer.lead.topic == "New store"
    assert answer.colleagues[0].best.evidence.emails_to == 2
    assert answer.colleagues[0].best.evidence.replies_from == 2


def test_departed_and_opted_out_colleagues_never_appear(engine: Engine, session: Session) -> None:
    m = Mail()
    for name in ("Gone Person", "Private Person", "Tricia Potter"):
        m.exchange(5, colleague(name))
    m.write(engine)
    with Session(engine) as s, s.begin():
        s.execute(
            update(Person)
            .where(Person.display_name == "Gone Person")
            .values(enabled=False, departed_at=NOW)
        )
        s.execute(
            update(Person).where(Person.display_name == "Private Person").values(opted_out=True)
        )
    answer = who(session)
    assert names(answer) == ["Tricia Potter"]
    assert answer.coverage is not None and answer.coverage.opted_out == 1


def test_requester_is_told_not_listed(engine: Engine, session: Session) -> None:
    m = Mail()
    m.exchange(5, colleague("Blaine Carmack"))
    m.exchange(6, colleague("Tricia Potter"))
    m.write(engine)
    answer = who(session, requester_email="blaine.carmack@contoso.com")
    assert names(answer) == ["Tricia Potter"]
    assert answer.requester is not None
    assert answer.requester.person.display_name == "Blaine Carmack"


def test_ties_sort_by_last_contact(engine: Engine, session: Session) -> None:
    m = Mail()
    team = [colleague("Early Bird"), colleague("Late Comer")]
    m.email(10, LEAD, [team[0]])
    m.email(10, LEAD, [team[1]])
    m.write(engine)
    answer = who(session)
    assert answer.colleagues[0].score == pytest.approx(answer.colleagues[1].score)


def test_recency_decays_old_relationships(engine: Engine, session: Session) -> None:
    m = Mail()
    for i in range(6):
        m.exchange(600 + i, colleague("Old Friend"))
    for i in range(3):
        m.exchange(10 + i, colleague("New Friend"))
    m.write(engine)
    answer = who(session)
    assert names(answer)[0] == "New Friend"
    assert tiers(answer)["Old Friend"] != "Strong"  # no two-way contact within 180 days


def test_administrators_exclude_people_and_departments(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = Mail()
    for name in ("Tricia Potter", "Fin Person", "Ray Tanaka"):
        m.exchange(5, colleague(name))
    m.write(engine)
    with Session(engine) as s, s.begin():
        s.execute(
            update(Person).where(Person.display_name == "Fin Person").values(department="Finance")
        )
    monkeypatch.setenv("WHOKNOWS_EXCLUDED_PEOPLE", "dept:finance, ray.tanaka@contoso.com")
    assert names(who(session)) == ["Tricia Potter"]
