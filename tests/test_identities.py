"""Several addresses of one contact become one identity, and their connections add up."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from signals import db
from signals.crm import CrmEntry, upsert_crm_entries
from signals.directory import DirectoryPerson, upsert_people
from signals.ingest import Writer, write_all
from signals.models import Address, Kind, PairStrength, Person
from signals.records import InteractionRecord, Party

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
TRICIA = Party("tricia.potter@contoso.com", "Tricia Potter")


def test_crm_contact_merges_addresses_and_sums_connections(engine: Engine) -> None:
    write_all(
        Writer(engine),
        [
            InteractionRecord(
                Kind.EMAIL, "<a@x>", T0, TRICIA, to=[Party("yvonne@fourthcoffee.com")]
            ),
            InteractionRecord(Kind.EMAIL, "<b@x>", T0, TRICIA, to=[Party("ymckay@gmail.com")]),
        ],
    )
    upsert_crm_entries(
        engine,
        [
            CrmEntry(
                "contact",
                "c-1",
                "Yvonne McKay",
                ["yvonne@fourthcoffee.com", "ymckay@gmail.com"],
                company_name="Fourth Coffee",
            )
        ],
    )
    with db.transaction(engine) as s:
        yvonne = s.scalars(select(Person).where(Person.display_name == "Yvonne McKay")).one()
        emails = sorted(s.scalars(select(Address.email).where(Address.person_id == yvonne.id)))
        assert emails == ["ymckay@gmail.com", "yvonne@fourthcoffee.com"]
        assert yvonne.company is not None and yvonne.company.name == "Fourth Coffee"
        pairs = s.scalars(select(PairStrength).where(PairStrength.lead_id == yvonne.id)).all()
        assert len(pairs) == 1 and pairs[0].n_out_to == 2


def test_directory_updates_colleague_in_place(engine: Engine) -> None:
    write_all(
        Writer(engine),
        [InteractionRecord(Kind.EMAIL, "<c@x>", T0, TRICIA, to=[Party("yvonne@fourthcoffee.com")])],
    )
    upsert_people(
        engine,
        [
            DirectoryPerson(
                ["Tricia.Potter@contoso.com", "tp@contoso.com"],
                "Tricia Potter",
                title="Account Manager",
                department="Sales",
                entra_id="oid-1",
            )
        ],
    )
    with db.transaction(engine) as s:
        people = s.scalars(select(Person).where(Person.internal)).all()
        assert len(people) == 1
        assert (people[0].title, people[0].entra_id) == ("Account Manager", "oid-1")
