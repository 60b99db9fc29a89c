"""The introduction note never reaches a log: not when it is sent, not when its delivery
fails, not when storing it fails (the store's errors hide their parameters)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cards import verbs
from tests import teams
from tests.connector import Connector
from tests.test_bot_scenarios import (
    Client,
    _user,
    bot,
    click,
    client,
    org,
    person_id,
    session,
)

__all__ = ["bot", "client", "org", "session"]  # fixtures
NOTE = "Confidential: Yvonne is moving to a competitor, please keep this quiet"

_PG_REFUSE = """
CREATE FUNCTION refuse_introductions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused'; END $$;
CREATE TRIGGER refuse_introductions BEFORE INSERT ON introductions
FOR EACH ROW EXECUTE FUNCTION refuse_introductions();
"""
_SQLITE_REFUSE = """
CREATE TRIGGER refuse_introductions BEFORE INSERT ON introductions
BEGIN SELECT RAISE(ABORT, 'refused'); END
"""


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_the_note_is_not_logged_when_sent_or_undelivered(
    client: Client, connector: Connector, session: Session, logs: pytest.LogCaptureFixture
) -> None:
    lead, tricia = person_id(session, "Yvonne McKay"), person_id(session, "Tricia Potter")
    await click(client, connector, verbs.SEND, {"lead": lead, "colleague": tricia, "note": NOTE})
    ray = person_id(session, "Ray Tanaka")
    connector.refuse(_user(3)["aadObjectId"])  # Ray cannot be reached: delivery fails
    await click(client, connector, verbs.SEND, {"lead": lead, "colleague": ray, "note": NOTE})
    assert logs.records  # the run did log
    assert "Confidential" not in logs.text


async def test_the_note_is_not_logged_when_storing_it_fails(
    org: Engine,
    client: Client,
    connector: Connector,
    session: Session,
    logs: pytest.LogCaptureFixture,
) -> None:
    with org.begin() as conn:
        conn.exec_driver_sql(_PG_REFUSE if org.dialect.name == "postgresql" else _SQLITE_REFUSE)
    lead, tricia = person_id(session, "Yvonne McKay"), person_id(session, "Tricia Potter")
    body = teams.execute(
        verbs.SEND,
        {"verb": verbs.SEND, "lead": lead, "colleague": tricia, "note": NOTE},
        service_url=connector.service_url,
        sender=_user(1),
    )
    response = await client.post("/api/messages", json=body)
    assert response.status < 500
    failures = [r for r in logs.records if r.exc_info]
    assert failures, "the failure is logged, with its traceback"
    assert "parameters hidden" in logs.text
    assert "Confidential" not in logs.text
