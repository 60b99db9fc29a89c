"""The product's answer computed without aggregates: from raw interactions, at query time.

This is what ``bench/query.py`` compares the ranking against. For one lead it
reads every interaction the lead took part in and every message of the threads
they wrote in (the same-thread channel needs them), with their participants, in
one indexed query; looks up the authors
of replied-to messages it did not read; replays all of it through the
importers' own ``Aggregator`` restricted to pairs with this lead; and scores and
orders the pairs with the product's own ``rank_rows``. Both sides therefore give
the same ranking (the benchmark checks that), and differ only in where the
per-pair sums come from.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, bindparam, select, text
from sqlalchemy.orm import Session

from scoring.ranking import (
    CLOSED_FOR_LEAD,
    COLLEAGUE_COLUMNS,
    PROPOSABLE,
    ConnectionRow,
    RankedColleague,
    rank_rows,
    ranking_values,
)
from scoring.strength import Weights
from signals.aggregate import Aggregator
from signals.meta import StoreFacts
from signals.models import Introduction, Person, UTCDateTime
from signals.rebuild import AUTHOR_ROLES, grouped_events

# Every participant of every interaction the lead took part in is read: mass mail
# and webinars weigh nothing in the score, but they are weak evidence and the
# "not counted" line of the evidence counts them, which needs their audience.
RAW = text(
    """
    WITH mine AS (
        SELECT interaction_id AS id FROM participants WHERE person_id = :lead
    ), threads AS (
        SELECT DISTINCT i.thread_key
        FROM participants AS p JOIN interactions AS i ON i.id = p.interaction_id
        WHERE p.person_id = :lead AND p.role = 'from' AND i.thread_key IS NOT NULL
    ), wanted AS (
        SELECT id FROM mine
        UNION
        SELECT i.id FROM interactions AS i JOIN threads AS t ON t.thread_key = i.thread_key
    )
    SELECT i.id, i.kind, i.occurred_at, i.source_key, i.parent_key, i.thread_key,
           i.automated, i.bulk, i.is_list, i.cancelled, i.duration_seconds,
           p.person_id, p.role, p.response, pe.internal, pe.is_automated AS automated_person
    FROM wanted AS w
    JOIN interactions AS i ON i.id = w.id
    JOIN participants AS p ON p.interaction_id = i.id
    JOIN people AS pe ON pe.id = p.person_id
    ORDER BY i.occurred_at, i.id
    """
).columns(occurred_at=UTCDateTime())

PARENT_AUTHORS = text(
    """
    SELECT i.source_key, p.person_id
    FROM interactions AS i JOIN participants AS p ON p.interaction_id = i.id
    WHERE i.source_key IN :keys AND i.kind = 'email' AND p.role IN :roles
    """
).bindparams(
    bindparam("keys", expanding=True, type_=String()),
    bindparam("roles", value=sorted(AUTHOR_ROLES), expanding=True, type_=String()),
)


def raw_rank(
    session: Session, lead: int, *, now: datetime, weights: Weights, facts: StoreFacts
) -> list[RankedColleague]:
    """Colleagues who know ``lead``, strongest first, from the raw interactions."""
    conn = session.connection()
    rows = conn.execute(RAW, {"lead": lead}).all()
    internal = {r.person_id for r in rows if r.internal}
    automated = {r.person_id for r in rows if r.automated_person}
    seen = {r.source_key for r in rows}
    missing = sorted({r.parent_key for r in rows if r.parent_key and r.parent_key not in seen})
    # Authors of the replied-to messages outside what was read (reply credit).
    authors: dict[str, int] = {}
    if missing:
        authors.update(conn.execute(PARENT_AUTHORS, {"keys": missing}).tuples().all())
    everyone = facts.pair_mode == "all"
    agg = Aggregator(
        facts.clock,
        max_audience=facts.max_audience,
        is_introducer=lambda p: everyone or p in internal,
        is_lead=lambda p: p == lead,
    )
    for _, event in grouped_events(rows, automated, authors):
        agg.add(event)
    if not agg.pairs:
        return []
    closed = select(Introduction.introducer_id).where(
        Introduction.lead_id == lead, Introduction.state.in_(CLOSED_FOR_LEAD)
    )
    colleagues = select(*COLLEAGUE_COLUMNS).where(
        Person.id.in_(sorted(i for i, _ in agg.pairs)), *PROPOSABLE, Person.id.not_in(closed)
    )
    if not everyone:
        colleagues = colleagues.where(Person.internal)
    info: dict[int, Any] = {row.id: row._asdict() for row in conn.execute(colleagues)}
    pair_rows = [
        ConnectionRow(
            **ranking_values(SimpleNamespace(**delta.row(i, lead), feedback_factor=1.0), weights),
            **info[i],
        )
        for (i, _), delta in agg.pairs.items()
        if i in info
    ]
    ranked, _ = rank_rows(session, pair_rows, now=now, clock=facts.clock, weights=weights)
    return ranked
