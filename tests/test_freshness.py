"""How fresh an answer's data is: from the mail sync's state, else the newest import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from scoring.answer import ask
from scoring.freshness import freshness
from signals.ingest import Writer, write_all
from signals.models import Kind, SyncState
from signals.records import InteractionRecord, Party

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ANN = Party("ann@us.example", "Ann")
LEAD = Party("yvonne@lead.example", "Yvonne McKay")


def _mail(engine: Engine, *ages: timedelta) -> None:
    write_all(
        Writer(engine, internal_domains=["us.example"]),
        [
            InteractionRecord(Kind.EMAIL, f"<{i}@t>", NOW - age, ANN, to=[LEAD])
            for i, age in enumerate(ages)
        ],
    )


def test_no_mail_yet_is_said_plainly(engine: Engine) -> None:
    with Session(engine) as session:
        f = freshness(session, NOW)
    assert (f.source, f.data_until, f.stale) == ("none", None, True)


def test_imported_mail_is_as_fresh_as_its_newest_message(engine: Engine) -> None:
    # A message dated in the future (a wrong clock) does not make the data look fresh.
    _mail(engine, timedelta(days=30), timedelta(hours=2), -timedelta(days=3))
    with Session(engine) as session:
        f = freshness(session, NOW)
        answer = ask(session, "who knows Yvonne McKay", now=NOW)
    assert f.source == "import" and f.data_until == NOW - timedelta(hours=2) and not f.stale
    assert answer.to_json(5)["freshness"] == {
        "source": "import",
        "data_until": (NOW - timedelta(hours=2)).isoformat(),
        "age_minutes": 120,
        "failing_sources": 0,
        "stale": False,
    }
    with Session(engine) as session:
        later = freshness(session, NOW + timedelta(days=2))
    assert later.stale


def test_the_sync_state_decides_once_mail_is_synced(engine: Engine) -> None:
    _mail(engine, timedelta(minutes=5))  # an import is no longer the measure
    with Session(engine) as session:
        session.add_all(
            [
                SyncState(
                    source="mail:inbox", scope="u1", last_success_at=NOW - timedelta(hours=3)
                ),
                SyncState(source="mail:sent", scope="u1", last_success_at=NOW - timedelta(hours=1)),
                SyncState(source="users", scope="", last_success_at=NOW - timedelta(days=9)),
            ]
        )
        session.commit()
        f = freshness(session, NOW)
        assert (f.source, f.data_until, f.failing, f.stale) == (
            "sync",
            NOW - timedelta(hours=3),
            0,
            False,
        )
        assert freshness(session, NOW + timedelta(days=1)).stale  # over a day old
        session.add(
            SyncState(
                source="mail:inbox",
                scope="u2",
                last_success_at=NOW - timedelta(minutes=10),
                last_error="HTTP 503 from Graph",
            )
        )
        session.commit()
        failing = freshness(session, NOW)
    assert failing.failing == 1 and failing.stale
