"""A store of two messages: Tricia Potter mails Yvonne McKay, who replies to her and
Bob Kelly. Enough for a ranking with two colleagues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from signals.ingest import Writer, write_all
from signals.models import Kind
from signals.records import InteractionRecord, Party

T0 = datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)  # microseconds, to see them kept
LEAD = Party("yvonne.mckay@fourthcoffee.com", "Yvonne McKay")
TRICIA = Party("tricia.potter@contoso.com", "Tricia Potter")
BOB = Party("bob.kelly@contoso.com", "Bob Kelly")


def person_id(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT person_id FROM addresses WHERE email = :e"), {"e": email}
        ).scalar_one()
    return int(found)


def two_messages(engine: Engine) -> int:
    """Writes the two messages; returns the lead's person id."""
    write_all(
        Writer(engine),
        [
            InteractionRecord(Kind.EMAIL, "<a@x>", T0, TRICIA, to=[LEAD], thread_key="t"),
            InteractionRecord(
                Kind.EMAIL,
                "<b@x>",
                T0 + timedelta(hours=2),
                LEAD,
                to=[TRICIA, BOB],
                parent_key="<a@x>",
            ),
        ],
    )
    return person_id(engine, LEAD.email)
