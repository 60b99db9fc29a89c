"""The privacy gate on every writer, and what an opt-out deletes and keeps, on both backends.

A small organisation: Tricia, Bob and Alex (colleagues), Yvonne and Dan (customers).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from cards import texts
from cli.main import main
from signals import db, privacy
from signals.crm import CrmEntry, upsert_crm_entries
from signals.directory import DirectoryPerson, upsert_people
from signals.ingest import Writer
from signals.merge import claim_address
from signals.models import (
    Address,
    AuditEntry,
    CrmRecord,
    GraphItem,
    Interaction,
    Introduction,
    Kind,
    PairStrength,
    Participant,
    Person,
    SyncState,
    ThreadMember,
)
from signals.rebuild import rebuild_aggregates
from signals.records import Attendee, InteractionRecord, Party
from tests.mailgen import message, write_mbox

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRICIA = Party("tricia.potter@contoso.com", "Tricia Potter")
BOB = Party("bob.kelly@contoso.com", "Bob Kelly")
ALEX = Party("alex.wilber@contoso.com", "Alex Wilber")
YVONNE = Party("yvonne.mckay@fourthcoffee.com", "Yvonne McKay")
DAN = Party("dan.park@fabrikam.com", "Dan Park")


@pytest.fixture
def org(engine: Engine) -> Engine:
    upsert_people(
        engine,
        [
            DirectoryPerson([p.email], p.name, entra_id=f"u-{p.email.split('.')[0]}")
            for p in (TRICIA, BOB, ALEX)
        ],
    )
    return engine


def mail(n: int, author: Party, to: list[Party], at: datetime) -> InteractionRecord:
    return InteractionRecord(Kind.EMAIL, f"<m{n}@x>", at, author, to=to)


def history(start: datetime = T0, prefix: str = "m") -> list[InteractionRecord]:
    """Tricia and Yvonne write to each other, Bob copies Tricia to Dan, Alex meets Yvonne
    with Tricia."""
    recs: list[InteractionRecord] = []
    for i in range(6):
        at = start + timedelta(days=i)
        recs.append(InteractionRecord(Kind.EMAIL, f"<{prefix}t{i}@x>", at, TRICIA, to=[YVONNE]))
        recs.append(
            InteractionRecord(
                Kind.EMAIL, f"<{prefix}y{i}@x>", at + timedelta(hours=1), YVONNE, to=[TRICIA]
            )
        )
        recs.append(
            InteractionRecord(
                Kind.EMAIL,
                f"<{prefix}b{i}@x>",
                at + timedelta(hours=2),
                BOB,
                to=[DAN],
                cc=[TRICIA],
            )
        )
    recs.append(
        InteractionRecord(
            Kind.MEETING,
            f"{prefix}meet",
            start + timedelta(days=2),
            ALEX,
            attendees=[Attendee(YVONNE.email), Attendee(TRICIA.email)],
        )
    )
    return recs


def pid(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        found = privacy.person_for_email(conn, email)
    assert found is not None
    return found


def her_rows(engine: Engine, person: int) -> dict[str, int]:
    with engine.connect() as conn:

        def n(stmt: object) -> int:
            return int(conn.scalar(stmt) or 0)  # type: ignore[call-overload]

        return {
            "participations": n(
                select(func.count()).select_from(Participant).where(Participant.person_id == person)
            ),
            "pairs": n(
                select(func.count())
                .select_from(PairStrength)
                .where((PairStrength.introducer_id == person) | (PairStrength.lead_id == person))
            ),
            "threads": n(
                select(func.count())
                .select_from(ThreadMember)
                .where(ThreadMember.person_id == person)
            ),
        }


def nothing_of(engine: Engine, person: int) -> bool:
    return her_rows(engine, person) == {"participations": 0, "pairs": 0, "threads": 0}


def opt_out(engine: Engine, person: int) -> privacy.Forgotten:
    with engine.begin() as conn:
        return privacy.opt_out(conn, person)


# -- the opt-out ------------------------------------------------------------------------


def test_opt_out_deletes_what_came_from_or_names_her_and_keeps_what_the_card_says(
    org: Engine,
) -> None:
    Writer(org, internal_domains=["contoso.com"]).write(history())
    tricia, bob, yvonne = (pid(org, p.email) for p in (TRICIA, BOB, YVONNE))
    upsert_crm_entries(org, [CrmEntry("contact", "c-1", "Tricia Potter", [TRICIA.email])])
    with Session(org) as session, session.begin():
        iid = session.scalars(select(Interaction.id).where(Interaction.source_key == "<mb0@x>"))
        shared = iid.one()
        only_hers = session.scalars(  # Bob's mail to Dan, read from her mailbox only
            select(Interaction.id).where(Interaction.source_key == "<mb1@x>")
        ).one()
        session.add_all(
            [
                GraphItem(item_id="u-tricia/AAMk-1", interaction_id=shared),
                GraphItem(item_id="u-bob/AAMk-1", interaction_id=shared),
                GraphItem(item_id="u-tricia/AAMk-2", interaction_id=only_hers),
                SyncState(source="mail:inbox", scope="u-tricia", delta_link="https://x/d"),
                SyncState(source="mailbox", scope="u-tricia"),
                SyncState(source="mail:inbox", scope="u-bob", delta_link="https://x/b"),
                Introduction(
                    requester_id=bob,
                    introducer_id=tricia,
                    lead_id=yvonne,
                    note="please",
                    created_at=T0,
                ),
                AuditEntry(at=T0, actor=BOB.email, action="introduction.requested"),
            ]
        )
    assert not nothing_of(org, tricia)

    forgotten = opt_out(org, tricia)

    assert nothing_of(org, tricia)
    with org.connect() as conn:
        keys = set(conn.scalars(select(Interaction.source_key)))
        # Her mail, Yvonne's to her and what only her mailbox held went; Bob's mail to
        # Dan that his mailbox holds too stays, without her on it.
        assert not {k for k in keys if k.startswith(("<mt", "<my"))}
        assert "<mb1@x>" not in keys
        assert {f"<mb{i}@x>" for i in (0, 2, 3, 4, 5)} <= keys
        assert "mmeet" in keys  # Alex met Yvonne: still true without Tricia
        assert conn.scalars(select(GraphItem.item_id)).all() == ["u-bob/AAMk-1"]
        assert conn.scalars(select(SyncState.scope)).all() == ["u-bob"]
        assert not conn.scalars(select(CrmRecord.id)).all()
        # Kept: the marker, her introductions and the audit log.
        person = conn.execute(select(Person).where(Person.id == tricia)).one()
        assert person.opted_out and person.opted_out_at is not None
        assert person.mailbox_analysed_at is None
        assert conn.scalar(select(func.count()).select_from(Introduction)) == 1
        assert conn.scalar(select(func.count()).select_from(AuditEntry)) == 1
    assert forgotten.interactions == 13 and forgotten.graph_items == 1
    assert forgotten.sync_states == 2 and forgotten.crm_records == 1
    # The card promises exactly this: deletion of her records and scores; introductions
    # and the audit log kept; nothing earlier coming back after an opt-in.
    kept = texts.OPT_OUT_KEEPS.lower()
    assert "introduction" in kept and "audit log" in kept
    assert "nothing dated before" in texts.OPTED_IN_TEXT


# -- the gate on every writer -----------------------------------------------------------


def test_an_import_of_an_opted_out_colleagues_mbox_stores_nothing_of_hers(
    org: Engine, store_url: str, tmp_path: Path
) -> None:
    opt_out(org, pid(org, TRICIA.email))
    her = "Tricia Potter <tricia.potter@contoso.com>"
    messages = []
    for i in range(25):  # her mailbox: she and Yvonne, and Bob copying her to Dan
        at = T0 + timedelta(hours=i)
        messages.append(
            message(msgid=f"t{i}@x", sender=her, to=("Y <yvonne.mckay@fourthcoffee.com>",), date=at)
        )
        messages.append(
            message(
                msgid=f"b{i}@x",
                sender="Bob Kelly <bob.kelly@contoso.com>",
                to=("Dan <dan.park@fabrikam.com>",),
                cc=(her,),
                date=at,
            )
        )
    mbox = write_mbox(tmp_path / "tricia.mbox", messages)
    result = CliRunner().invoke(
        main, ["import", str(mbox), "--internal-domain", "contoso.com", "--db", store_url]
    )
    assert result.exit_code == 0, result.output
    tricia = pid(org, TRICIA.email)
    assert nothing_of(org, tricia)
    with org.connect() as conn:
        # Nothing read from her mailbox: not her mail, not Bob's copied to her.
        for email in (YVONNE.email, DAN.email):
            assert conn.scalar(select(Address.id).where(Address.email == email)) is None
        assert conn.scalar(select(func.count()).select_from(Interaction)) == 0
        person = conn.execute(select(Person).where(Person.id == tricia)).one()
        assert person.mailbox_analysed_at is None  # her mailbox is not "analysed"


def test_an_alias_merged_into_an_opted_out_person_brings_nothing(org: Engine) -> None:
    tricia = pid(org, TRICIA.email)
    opt_out(org, tricia)
    alias = Party("tp@contoso.com", "T. Potter")  # not known as hers yet
    Writer(org, internal_domains=["contoso.com"]).write(
        [mail(i, alias, [YVONNE], T0 + timedelta(days=i)) for i in range(4)]
    )
    assert not nothing_of(org, pid(org, alias.email))
    with Session(org) as session, session.begin():
        claim_address(session, alias.email, tricia)  # the directory learns it is hers
    assert pid(org, alias.email) == tricia
    assert nothing_of(org, tricia)
    with org.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Interaction)) == 0
        assert conn.scalar(select(Person.opted_out).where(Person.id == tricia))
    # Mail through the alias is refused from now on, like mail to her main address.
    Writer(org, internal_domains=["contoso.com"]).write([mail(9, YVONNE, [alias], T0)])
    assert nothing_of(org, tricia)


def test_an_opted_out_alias_keeps_its_block_when_merged(org: Engine) -> None:
    Writer(org, internal_domains=["contoso.com"]).write(history())
    alias = Party("tp@contoso.com", "T. Potter")
    Writer(org, internal_domains=["contoso.com"]).write([mail(1, alias, [DAN], T0)])
    opt_out(org, pid(org, alias.email))  # she opted out under the alias
    tricia = pid(org, TRICIA.email)
    with Session(org) as session, session.begin():
        claim_address(session, alias.email, tricia)
    assert nothing_of(org, tricia)
    with org.connect() as conn:
        assert conn.scalar(select(Person.opted_out).where(Person.id == tricia))


def test_opt_in_starts_at_that_moment(org: Engine) -> None:
    writer = Writer(org, internal_domains=["contoso.com"])
    writer.write(history())
    tricia = pid(org, TRICIA.email)
    opt_out(org, tricia)
    back = T0 + timedelta(days=30)
    with org.begin() as conn:
        privacy.opt_in(conn, tricia, now=back)
    # The old mail again (another import, a fresh back-fill), and new mail.
    writer.write(history())
    writer.write(history(start=back - timedelta(days=2), prefix="n"))
    with org.connect() as conn:
        dates = conn.scalars(
            select(Interaction.occurred_at)
            .join(Participant, Participant.interaction_id == Interaction.id)
            .where(Participant.person_id == tricia)
        ).all()
    assert dates and min(dates) >= back
    assert len(dates) == 3 * 4 + 1  # days 2..5 of the new history, and the meeting
    rebuild_aggregates(org)
    with org.connect() as conn:
        first = conn.scalar(
            select(func.min(PairStrength.first_at)).where(PairStrength.introducer_id == tricia)
        )
    assert first is not None and first >= back


def test_crm_records_of_an_opted_out_person_are_not_kept(org: Engine) -> None:
    Writer(org, internal_domains=["contoso.com"]).write(history())
    upsert_crm_entries(org, [CrmEntry("contact", "c-9", "Yvonne McKay", [YVONNE.email])])
    with org.begin() as conn:  # a data-subject request from the customer
        privacy.forget_address(conn, YVONNE.email, actor="test", internal=False)
    upsert_crm_entries(org, [CrmEntry("contact", "c-9", "Yvonne McKay", [YVONNE.email])])
    yvonne = pid(org, YVONNE.email)
    assert nothing_of(org, yvonne)
    with org.connect() as conn:
        assert not conn.scalars(select(CrmRecord.id)).all()


def test_a_rebuild_puts_nobody_refused_in_a_pair(org: Engine) -> None:
    Writer(org, internal_domains=["contoso.com"]).write(history())
    tricia = pid(org, TRICIA.email)
    with org.begin() as conn:  # marked by hand, data left: the rebuild still refuses her
        conn.execute(
            text("UPDATE people SET opted_out = :t WHERE id = :p"), {"t": True, "p": tricia}
        )
    rebuild_aggregates(org)
    assert her_rows(org, tricia)["pairs"] == 0


# -- a concurrent opt-out wins ----------------------------------------------------------


def test_an_opt_out_waits_for_a_write_under_way(org: Engine, store_url: str) -> None:
    """A writer holds the gate from reading it to its commit: an opt-out cannot slip
    between the two (it would delete too early and the write would bring her back)."""
    with org.begin() as conn:
        privacy.read_gate(conn)
        if org.dialect.name == "postgresql":
            other = db.make_engine(store_url)
            with other.begin() as c2:
                free = c2.execute(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": privacy._LOCK_KEY}
                ).scalar()
            other.dispose()
        else:
            path = org.url.database
            assert path is not None
            raw = sqlite3.connect(path, timeout=0)
            try:
                raw.execute("UPDATE people SET opted_out = 1 WHERE id = 1")
                free = True
            except sqlite3.OperationalError as exc:
                free = "locked" not in str(exc)
            finally:
                raw.close()
        assert free is False
    if org.dialect.name == "postgresql":
        probe = create_engine(db.normalise_url(store_url))
        with probe.begin() as c3:
            assert c3.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": privacy._LOCK_KEY}
            ).scalar()
        probe.dispose()
