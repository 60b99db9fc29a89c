"""The privacy gate and true coverage in the Graph sync (tests/graph_server.py), on both
backends: an opt-out during a back-fill, an opt-in followed by an expired delta token,
a denied mailbox."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from scoring.ranking import coverage
from signals import privacy, retention
from signals.models import GraphItem, Interaction, PairStrength, Participant, Person, SyncState
from signals.rebuild import rebuild_aggregates
from tests.graph_server import NOW, GraphServer, MailMaker
from tests.test_sync import Ticker, ca, run, runner_for, server, store

__all__ = ["ca", "server", "store"]  # fixtures
TRICIA = "tricia.potter@contoso.com"


def person(engine: Engine, entra_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(Person.id).where(Person.entra_id == entra_id)) or 0)


def her_interactions(engine: Engine, person_id: int) -> list[datetime]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(Interaction.occurred_at)
                .join(Participant, Participant.interaction_id == Interaction.id)
                .where(Participant.person_id == person_id)
            )
        )


def left_of_mailbox(engine: Engine, entra_id: str) -> tuple[int, int]:
    with engine.connect() as conn:
        items = conn.scalar(
            select(func.count())
            .select_from(GraphItem)
            .where(GraphItem.item_id.like(f"{entra_id}/%"))
        )
        states = conn.scalar(
            select(func.count()).select_from(SyncState).where(SyncState.scope == entra_id)
        )
    return int(items or 0), int(states or 0)


async def test_an_opt_out_during_her_backfill_wins(
    store: Engine, server: GraphServer, ca: str
) -> None:
    """Tricia opts out after the first page of her mailbox is committed: the next page
    writes nothing of hers, and what the first one wrote stays deleted."""
    opted: list[int] = []

    def on_page(source: str, scope: str, pages: int) -> None:
        if scope == "u-tricia" and not opted:
            tricia = person(store, "u-tricia")
            assert her_interactions(store, tricia)  # her back-fill is under way
            with store.begin() as conn:
                privacy.opt_out(conn, tricia)
            opted.append(tricia)

    runner = runner_for(store, server, ca, clock=Ticker(), on_page=on_page)
    await run(runner)
    [tricia] = opted
    assert her_interactions(store, tricia) == []
    assert left_of_mailbox(store, "u-tricia") == (0, 0)
    with store.connect() as conn:
        row = conn.execute(select(Person).where(Person.id == tricia)).one()
        assert row.opted_out and row.mailbox_analysed_at is None
    # Later runs leave her out too.
    await run(runner_for(store, server, ca, clock=Ticker(NOW + timedelta(hours=1))))
    assert her_interactions(store, tricia) == []
    assert left_of_mailbox(store, "u-tricia") == (0, 0)


async def test_opt_in_then_an_expired_delta_token_brings_nothing_older_back(
    store: Engine, server: GraphServer, ca: str
) -> None:
    await run(runner_for(store, server, ca, clock=Ticker()))
    tricia = person(store, "u-tricia")
    assert her_interactions(store, tricia)
    back = NOW + timedelta(days=1)
    with store.begin() as conn:
        privacy.opt_out(conn, tricia, now=NOW + timedelta(hours=1))
    with store.begin() as conn:
        privacy.opt_in(conn, tricia, now=back)
    maker = MailMaker(server.tenant)
    maker.n = 1000
    new_mid, copies = maker.message(
        ("Bob Kelly", "bob.kelly@contoso.com"),
        [("Tricia Potter", TRICIA), ("Yvonne McKay", "yvonne.mckay@fourthcoffee.com")],
        back + timedelta(hours=2),
        thread="after",
    )
    for uid, folder, item in copies:
        server.add_message(uid, folder, item)
    server.expire_delta_tokens()  # every mailbox reads its whole window again
    summary = await run(runner_for(store, server, ca, clock=Ticker(back + timedelta(days=1))))
    assert not summary.errors
    dates = her_interactions(store, tricia)
    assert dates and min(dates) >= back
    with store.connect() as conn:
        keys = set(
            conn.scalars(
                select(Interaction.source_key)
                .join(Participant, Participant.interaction_id == Interaction.id)
                .where(Participant.person_id == tricia)
            )
        )
    assert new_mid in keys


async def test_coverage_counts_the_mailboxes_read_not_a_denied_one(
    store: Engine, server: GraphServer, ca: str
) -> None:
    server.denied_mailboxes = {"u-alex"}
    summary = await run(runner_for(store, server, ca, clock=Ticker()))
    assert any("alex" in e for e in summary.errors)
    with store.connect() as conn:
        analysed = set(
            conn.scalars(select(Person.entra_id).where(Person.mailbox_analysed_at.is_not(None)))
        )
    # Tricia and Bob were read; Alex was denied; Olivia opted out; Finn is excluded.
    assert analysed == {"u-tricia", "u-bob"}
    with Session(store) as session:
        cov = coverage(session)
    assert (cov.mailboxes_analysed, cov.mailboxes_total, cov.opted_out) == (2, 5, 1)


def pairs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(PairStrength.__table__).order_by("lead_id", "introducer_id"))
        return [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows]


async def test_each_run_purges_what_is_past_the_window_and_refreshes_its_pairs(
    store: Engine, server: GraphServer, ca: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_RETENTION_DAYS", "365")
    await run(runner_for(store, server, ca, clock=Ticker()))
    later = NOW + timedelta(days=200)
    cutoff = later - timedelta(days=365)  # the look-back window
    with store.connect() as conn:
        old = conn.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.occurred_at < cutoff)
        )
    assert old
    summary = await run(runner_for(store, server, ca, clock=Ticker(later)))
    assert summary.purged == old
    with store.connect() as conn:
        assert not conn.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.occurred_at < cutoff)
        )
        last = retention.last_purge(conn)
    assert last is not None and last.interactions == old
    refreshed = pairs(store)
    rebuild_aggregates(store)
    assert pairs(store) == refreshed  # the purge left no score counting what it deleted
