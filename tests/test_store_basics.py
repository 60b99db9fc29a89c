"""The store writes, deduplicates and aggregates the same way on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, literal, select, update

from signals.aggregate import author_automated
from signals.db import make_engine
from signals.ingest import Writer, write_all
from signals.models import (
    Interaction,
    Kind,
    PairStrength,
    Person,
    Response,
    UTCDateTime,
    aware_utc,
    sqlite_datetime,
)
from signals.rebuild import rebuild_aggregates
from signals.records import Attendee, InteractionRecord, Party

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRICIA = Party("tricia.potter@contoso.com", "Tricia Potter")
YVONNE = Party("yvonne.mckay@fourthcoffee.com", "Yvonne McKay")
BOB = Party("bob.kelly@contoso.com", "Bob Kelly")


def _records() -> list[InteractionRecord]:
    return [
        InteractionRecord(Kind.EMAIL, "<m1@x>", T0, TRICIA, to=[YVONNE], thread_key="t1"),
        InteractionRecord(
            Kind.EMAIL,
            "<m2@x>",
            T0 + timedelta(hours=3),
            YVONNE,
            to=[TRICIA],
            thread_key="t1",
            parent_key="<m1@x>",
        ),
        InteractionRecord(
            Kind.MEETING,
            "ev1",
            T0 + timedelta(days=1),
            TRICIA,
            attendees=[
                Attendee(YVONNE.email, "", Response.ACCEPTED),
                Attendee(BOB.email, "", Response.DECLINED),
            ],
        ),
    ]


def _pairs(engine: Engine) -> dict[tuple[int, int], dict[str, object]]:
    with engine.connect() as conn:
        return {
            (r.introducer_id, r.lead_id): r._asdict() for r in conn.execute(select(PairStrength))
        }


def test_second_import_adds_nothing(engine: Engine) -> None:
    first = write_all(Writer(engine), _records())
    second = write_all(Writer(engine), _records())
    assert (first.new_interactions, first.duplicates) == (3, 0)
    assert (second.new_interactions, second.duplicates) == (0, 3)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Interaction)) == 3
        assert conn.scalar(select(func.count()).select_from(Person)) == 3


def test_reply_and_meeting_make_a_mutual_pair(engine: Engine) -> None:
    write_all(Writer(engine), _records())
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Person.display_name, Person.id)).all())
    pairs = _pairs(engine)
    tricia = pairs[(ids["Tricia Potter"], ids["Yvonne McKay"])]
    assert (tricia["n_out_to"], tricia["n_in_reply"], tricia["n_meeting"]) == (1, 1, 1)
    assert tricia["last_mutual_at"] == T0 + timedelta(days=1)
    bob = pairs[(ids["Bob Kelly"], ids["Yvonne McKay"])]
    assert bob["n_meeting"] == 0 and bob["n_ignored"] == 1  # he declined


def test_rebuild_gives_the_incremental_result(engine: Engine) -> None:
    records = _records()
    writer = Writer(engine)
    for rec in records:  # one interaction per batch: the most incremental way
        writer.write([rec])
    incremental = _pairs(engine)
    rebuild_aggregates(engine)
    rebuilt = _pairs(engine)
    assert incremental.keys() == rebuilt.keys()
    for key, row in incremental.items():
        for col, value in row.items():
            if isinstance(value, float):
                assert abs(value - float(rebuilt[key][col])) <= 1e-9 * max(1.0, abs(value))  # type: ignore[arg-type]
            else:
                assert value == rebuilt[key][col], col


def test_rebuild_keeps_introduction_feedback(engine: Engine) -> None:
    """A "doesn't know them" answer lowers a pair; a rebuild must not undo it."""
    write_all(Writer(engine), _records())
    pairs = _pairs(engine)
    lowered = next(iter(sorted(pairs)))
    with engine.begin() as conn:
        conn.execute(
            update(PairStrength)
            .where(PairStrength.introducer_id == lowered[0], PairStrength.lead_id == lowered[1])
            .values(feedback_factor=0.25)
        )
    rebuild_aggregates(engine)
    rebuilt = _pairs(engine)
    assert rebuilt[lowered]["feedback_factor"] == 0.25
    assert all(row["feedback_factor"] == 1.0 for key, row in rebuilt.items() if key != lowered)


def test_chat_counts_the_same_whoever_started_it(engine: Engine) -> None:
    """The store keeps no starter for a chat, so the weight must not depend on one."""
    at = T0 + timedelta(days=2)
    write_all(
        Writer(engine),
        [
            InteractionRecord(Kind.CHAT, "chat-1", at, TRICIA, attendees=[Attendee(YVONNE.email)]),
            InteractionRecord(Kind.CHAT, "chat-2", at, YVONNE, attendees=[Attendee(BOB.email)]),
        ],
    )
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Person.display_name, Person.id)).all())
    for _ in range(2):  # as imported, then as rebuilt from the stored rows
        pairs = _pairs(engine)
        tricia = pairs[(ids["Tricia Potter"], ids["Yvonne McKay"])]
        bob = pairs[(ids["Bob Kelly"], ids["Yvonne McKay"])]
        assert tricia["d_chat"] == bob["d_chat"]
        assert float(tricia["d_chat"]) > 0  # type: ignore[arg-type]
        rebuild_aggregates(engine)


def test_a_chat_with_a_bot_rebuilds_as_it_was_imported(engine: Engine) -> None:
    """Which member a rebuild takes for a chat's starter must not change the outcome."""
    bot = Party("noreply@contoso.com", "Contoso Notifications")
    at = T0 + timedelta(days=3)
    write_all(
        Writer(engine),
        [
            InteractionRecord(Kind.EMAIL, "<n@x>", T0, bot, to=[TRICIA]),
            InteractionRecord(
                Kind.CHAT,
                "chat-b",
                at,
                TRICIA,
                attendees=[Attendee(bot.email), Attendee(YVONNE.email)],
            ),
            InteractionRecord(Kind.CHAT, "chat-h", at, YVONNE, attendees=[Attendee(TRICIA.email)]),
        ],
    )
    imported = _pairs(engine)
    rebuild_aggregates(engine)
    assert _pairs(engine) == imported
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Person.display_name, Person.id)).all())
    pair = imported[(ids["Tricia Potter"], ids["Yvonne McKay"])]
    assert (pair["n_chat"], pair["n_ignored"]) == (1, 1)  # the human chat counts, the bot's not


def test_an_interaction_is_automated_by_its_author_and_a_chat_by_any_member() -> None:
    """The one rule the import and the rebuild share (signals.aggregate.author_automated)."""
    bot = {9}.__contains__
    assert author_automated(Kind.EMAIL, 9, [1], bot)
    assert not author_automated(Kind.EMAIL, 1, [9], bot)  # mail to a bot is still mail
    assert not author_automated(Kind.MEETING, None, [9], bot)
    assert author_automated(Kind.CHAT, 1, [2, 9], bot)
    assert author_automated(Kind.CHAT, 9, [], bot)
    assert not author_automated(Kind.CHAT, None, [1, 2], bot)


def test_thread_credit_knows_colleagues_from_earlier_imports(engine: Engine) -> None:
    """A colleague who wrote in a thread in an earlier import is still a colleague."""
    first = [InteractionRecord(Kind.EMAIL, "<a@x>", T0, BOB, to=[TRICIA], thread_key="t9")]
    later = [
        InteractionRecord(
            Kind.EMAIL, "<b@x>", T0 + timedelta(hours=1), YVONNE, to=[TRICIA], thread_key="t9"
        )
    ]
    write_all(Writer(engine), first)
    write_all(Writer(engine), later)  # a new writer: Bob is not in its cache
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Person.display_name, Person.id)).all())
    pairs = _pairs(engine)
    bob = pairs[(ids["Bob Kelly"], ids["Yvonne McKay"])]
    assert bob["n_in_thread"] == 1  # Yvonne wrote in Bob's thread without addressing him
    assert (ids["Yvonne McKay"], ids["Bob Kelly"]) not in pairs
    assert all(lead != ids["Bob Kelly"] for _, lead in pairs)  # no colleague-as-lead pair


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-27 09:30:00.250000", datetime(2026, 11, 27, 9, 30, 0, 250000, tzinfo=UTC)),
        ("2026-11-27 09:30:00", datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),
        ("2026-11-27T09:30:00.5", datetime(2026, 11, 27, 9, 30, 0, 500000, tzinfo=UTC)),
        ("2026-11-27 10:30:00+01:00", datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),
        ("2026-11-27 09:30:00.1Z", datetime(2026, 11, 27, 9, 30, 0, 100000, tzinfo=UTC)),
        ("2026-11-27 07:30:00.000000-02:00", datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),
        ("2026-11-27 10:30:00.1+0100", datetime(2026, 11, 27, 9, 30, 0, 100000, tzinfo=UTC)),
        ("2026-11-27 04:30:00.123-05", datetime(2026, 11, 27, 9, 30, 0, 123000, tzinfo=UTC)),
        (None, None),
    ],
)
def test_sqlite_times_read_back_as_aware_utc(stored: str | None, expected: datetime | None) -> None:
    read = sqlite_datetime(stored)
    assert read == expected
    assert read is None or read.utcoffset() == timedelta(0)


def test_postgres_times_read_back_as_utc_whatever_the_session_zone(pg_url: str) -> None:
    """Store sessions run in UTC, so times pass through as they come; a session moved to
    another zone (a pooler may do that) still reads the same instants, in UTC."""
    engine = make_engine(pg_url)
    at = datetime(2026, 11, 27, 9, 30, 0, 250000, tzinfo=UTC)
    column = literal(at, UTCDateTime())
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"
            assert conn.scalar(select(column)) == at
            conn.exec_driver_sql("SET TIME ZONE 'Asia/Tokyo'")
            read = conn.scalar(select(column))
    finally:
        engine.dispose()
    assert read == at
    assert read is not None and read.tzinfo is UTC


def test_aware_utc_converts_what_a_driver_may_return() -> None:
    tokyo = datetime(2026, 11, 27, 18, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    converted = aware_utc(tokyo)
    assert converted == tokyo and converted is not None and converted.tzinfo is UTC
    assert aware_utc(datetime(2026, 11, 27, 9, 30)) == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert aware_utc(None) is None
