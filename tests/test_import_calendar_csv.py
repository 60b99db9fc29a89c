"""Calendars, call logs and CRM lists through `whoknows import`, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from signals.importers import import_paths
from signals.importers.ics import read_ics
from signals.models import Address, CrmRecord, Interaction, Participant, Person, Role
from signals.records import InteractionRecord
from tests.mailgen import vevent, write_csv, write_ics
from tests.test_import_cli import run_import

YV = "yvonne.mckay@fourthcoffee.com"
BOB = "bob.kelly@contoso.com"
ALEX = "alex.dunn@fabrikam.com"


def responses(engine: Engine, key: str) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Address.email, Participant.role, Participant.response)
            .join(Participant, Participant.person_id == Address.person_id)
            .join(Interaction, Interaction.id == Participant.interaction_id)
            .where(Interaction.source_key == key)
        )
        return {email: (role, response) for email, role, response in rows}


def test_ics_responses_cancelled_and_no_attendees(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    ics = write_ics(
        tmp_path / "cal.ics",
        [
            vevent(
                "ev1@contoso.com",
                attendees=[
                    (YV, "ACCEPTED"),
                    (BOB, "DECLINED"),
                    (ALEX, "TENTATIVE"),
                    ("kim.ralls@fabrikam.com", "NEEDS-ACTION"),
                    ("tricia.potter@contoso.com", "ACCEPTED"),  # the organiser again
                ],
            ),
            vevent("ev2@contoso.com", extra=["STATUS:CANCELLED"]),
            vevent("alone@contoso.com", attendees=[]),
            vevent("broken@contoso.com", start="not-a-date"),
        ],
    )
    report = run_import(store_url, str(ics))
    assert (report["messages"], report["new_interactions"], report["skipped"]) == (4, 2, 2)
    assert [(e["event_index"], e["error"]) for e in report["errors"]] == [(3, "unreadable DTSTART")]
    assert responses(engine, "ev1@contoso.com") == {
        "tricia.potter@contoso.com": (Role.ORGANIZER.value, "organizer"),
        YV: (Role.ATTENDEE.value, "accepted"),
        BOB: (Role.ATTENDEE.value, "declined"),
        ALEX: (Role.ATTENDEE.value, "tentative"),
        "kim.ralls@fabrikam.com": (Role.ATTENDEE.value, "none"),
    }
    with engine.connect() as conn:
        rows = dict(conn.execute(select(Interaction.source_key, Interaction.cancelled)).all())
        duration = conn.scalar(
            select(Interaction.duration_seconds).where(Interaction.source_key == "ev1@contoso.com")
        )
    assert rows == {"ev1@contoso.com": False, "ev2@contoso.com": True}
    assert duration == 3600
    assert run_import(store_url, str(ics))["new_interactions"] == 0


def test_recurring_series_is_expanded_with_overrides_and_exdates(tmp_path: Path) -> None:
    ics = write_ics(
        tmp_path / "weekly.ics",
        [
            vevent(
                "weekly@contoso.com",
                start="20260302T090000Z",
                end="20260302T093000Z",
                extra=["RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE:20260309T090000Z"],
            ),
            vevent(
                "weekly@contoso.com",
                start="20260317T150000Z",
                end="20260317T160000Z",
                attendees=[(YV, "DECLINED")],
                extra=["RECURRENCE-ID:20260316T090000Z"],
            ),
        ],
    )
    now = datetime(2026, 3, 25, tzinfo=UTC)  # the last two occurrences are still ahead
    records = [r for r in read_ics(ics, now=now) if isinstance(r, InteractionRecord)]
    assert sorted(
        (r.source_key, r.occurred_at.day, r.attendees[0].response.value) for r in records
    ) == [
        ("weekly@contoso.com#20260302T090000Z", 2, "accepted"),
        ("weekly@contoso.com#20260316T090000Z", 17, "declined"),  # moved and declined
        ("weekly@contoso.com#20260323T090000Z", 23, "accepted"),
    ]
    assert {r.thread_key for r in records} == {"weekly@contoso.com"}


def test_method_cancel_calendar_cancels_its_events(tmp_path: Path) -> None:
    ics = write_ics(tmp_path / "c.ics", [vevent("x@contoso.com")], method="CANCEL")
    (rec,) = read_ics(ics)
    assert isinstance(rec, InteractionRecord) and rec.cancelled


def test_calls_csv(tmp_path: Path, store_url: str, engine: Engine) -> None:
    calls = write_csv(
        tmp_path / "calls.csv",
        [
            "Call ID",
            "Start",
            "Duration Seconds",
            "Caller",
            "Caller Name",
            "Callees",
            "Callee Names",
        ],
        [
            [
                "c1",
                "2026-03-02T10:00:00Z",
                "600",
                "tricia.potter@contoso.com",
                "Tricia",
                YV,
                "Yvonne",
            ],
            ["c2", "2026-03-02T11:00:00+01:00", "0", YV, "", f"{BOB}; {ALEX}", ""],
            ["", "2026-03-03 09:30", "120", BOB, "", ALEX, ""],
            ["c4", "yesterday", "60", BOB, "", ALEX, ""],
            ["c5", "2026-03-02T10:00:00Z", "60", "not an address", "", ALEX, ""],
        ],
    )
    report = run_import(store_url, str(calls))
    assert (report["messages"], report["new_interactions"], report["skipped"]) == (5, 3, 2)
    assert [e["line"] for e in report["errors"]] == [5, 6]
    assert responses(engine, "call:c1") == {
        "tricia.potter@contoso.com": (Role.CALLER.value, "none"),
        YV: (Role.CALLEE.value, "accepted"),
    }
    assert responses(engine, "call:c2") == {
        YV: (Role.CALLER.value, "none"),
        BOB: (Role.CALLEE.value, "none"),
        ALEX: (Role.CALLEE.value, "none"),
    }
    with engine.connect() as conn:
        c2 = conn.execute(
            select(Interaction.occurred_at, Interaction.duration_seconds, Interaction.kind).where(
                Interaction.source_key == "call:c2"
            )
        ).one()
    assert tuple(c2) == (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 0, "call")
    assert run_import(store_url, str(calls))["new_interactions"] == 0


def test_leads_and_contacts_csv(tmp_path: Path, store_url: str, engine: Engine) -> None:
    leads = write_csv(
        tmp_path / "leads.csv",
        [
            "crm_id",
            "type",
            "full_name",
            "email",
            "email2",
            "email3",
            "company",
            "topic",
            "phone",
            "owner",
        ],
        [
            [
                "L-1",
                "lead",
                "Yvonne McKay",
                YV,
                "yvonne@fourthcoffee.example",
                "",
                "Fourth Coffee",
                "New store opened this year - follow up",
                "+1 555 0100",
                "blaine.carmack@contoso.com",
            ],
            ["C-9", "Contact", "Alex Dunn", ALEX, "", "", "Fabrikam", "", "", ""],
            ["X-1", "partner", "Nobody", "", "", "", "", "", "", ""],
        ],
    )
    report = run_import(store_url, str(leads))
    assert (report["messages"], report["new_interactions"], report["skipped"]) == (3, 0, 1)
    assert report["errors"][0]["line"] == 4
    with engine.connect() as conn:
        lead = conn.execute(
            select(
                CrmRecord.source, CrmRecord.topic, CrmRecord.owner_email, CrmRecord.person_id
            ).where(CrmRecord.crm_id == "L-1")
        ).one()
        addresses = set(
            conn.scalars(select(Address.email).where(Address.person_id == lead.person_id))
        )
        name = conn.scalar(select(Person.display_name).where(Person.id == lead.person_id))
    assert (lead.source, lead.topic, lead.owner_email) == (
        "lead",
        "New store opened this year - follow up",
        "blaine.carmack@contoso.com",
    )
    assert addresses == {YV, "yvonne@fourthcoffee.example"}
    assert name == "Yvonne McKay"
    again = import_paths(engine, [leads])
    assert (again.crm_records, again.new_interactions) == (2, 0)


def test_unknown_csv_is_one_listed_error(tmp_path: Path, store_url: str) -> None:
    other = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    report = run_import(store_url, str(other))
    assert report["skipped"] == 1
    assert "neither a call log nor a CRM list" in report["errors"][0]["error"]
