"""The rolling-origin evaluation measures what it claims, on hand-made mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scoring.evaluation import Metrics, choose_cutoffs, evaluate, paired_bootstrap
from scoring.strength import Weights
from signals.ingest import Writer, write_all
from signals.models import Address, Kind, Person, Response
from signals.records import Attendee, InteractionRecord, Party
from signals.store import create_store

T = datetime(2026, 6, 1, tzinfo=UTC)
X = Party("x@lead.example")
FRIEND = Party("friend@us.example")
SPAMMER = Party("seller@us.example")


def _mail() -> list[InteractionRecord]:
    recs: list[InteractionRecord] = []
    n = 0

    def email(at: datetime, a: Party, b: Party, parent: str | None = None) -> str:
        nonlocal n
        n += 1
        key = f"<{n}@t>"
        recs.append(
            InteractionRecord(
                Kind.EMAIL, key, at, a, to=[b], parent_key=parent, thread_key=parent or key
            )
        )
        return key

    for i in range(3):  # before T: a real two-way relationship ...
        k = email(T - timedelta(days=20 + i), FRIEND, X)
        email(T - timedelta(days=19 + i), X, FRIEND, parent=k)
    for i in range(10):  # ... and a one-way sales sequence with more messages
        email(T - timedelta(days=5 + i), SPAMMER, X)
    k = email(T + timedelta(days=3), X, FRIEND)  # after T: the friend hears back
    email(T + timedelta(days=4), FRIEND, X, parent=k)
    return recs


def test_model_beats_raw_count_where_reciprocity_matters(tmp_path: Path) -> None:
    engine = create_store(f"sqlite:///{tmp_path / 'e.db'}", pair_mode="all")
    write_all(Writer(engine, internal_domains=[]), _mail())
    report = evaluate(engine, cutoff_times=[T], seeds=400).to_json()
    models = report["models"]
    assert isinstance(models, dict)
    # Queries: lead X (relevant: the friend) and lead "friend" (relevant: X).
    assert report["queries"] == 2
    assert models["model"]["hit1"] == 1.0
    assert models["raw_count"]["hit1"] == 0.5  # the seller outranks the friend for X
    tiers = report["tiers"]
    assert isinstance(tiers, dict) and set(tiers) == {"Strong", "Moderate", "Weak"}
    # X's friend and X (each other's relevant ones) and the seller (never answered, Weak).
    assert sum(t["candidates"] for t in tiers.values()) == 3
    assert tiers["Weak"]["in_touch"] == 0 and tiers["Weak"]["candidates"] == 1
    # Random order: the friend is first for X half the time; the friend's query is trivial.
    assert models["random"]["mrr"] == pytest.approx((0.5 * (1 + 0.5) + 1) / 2, abs=0.03)


def test_internal_domain_limits_queries_to_external_leads(tmp_path: Path) -> None:
    engine = create_store(f"sqlite:///{tmp_path / 'e.db'}", pair_mode="internal")
    write_all(Writer(engine, internal_domains=["us.example"]), _mail())
    report = evaluate(engine, cutoff_times=[T], seeds=5).to_json()
    assert report["queries"] == 1


def test_metrics_follow_their_definitions() -> None:
    m = Metrics(queries=1)
    m.add([2, 3], relevant=2, weight=1.0)
    assert m.hit1 == 0 and m.hit5 == 1 and m.mrr == 0.5
    ideal = 1 + 1 / 1.584962500721156
    assert m.ndcg5 == pytest.approx((1 / 1.584962500721156 + 0.5) / ideal)


def test_cutoffs_are_spread_and_leave_a_horizon() -> None:
    times = [T + timedelta(days=i) for i in range(100)]
    cuts = choose_cutoffs(times, 5, timedelta(days=30))
    assert len(cuts) == 5 and cuts == sorted(cuts)
    assert all(c <= times[-1] - timedelta(days=30) for c in cuts)


def test_paired_bootstrap_brackets_the_mean_difference() -> None:
    same = paired_bootstrap([1.0, 0.0, 0.5], [1.0, 0.0, 0.5])
    assert same == {"diff": 0.0, "low": 0.0, "high": 0.0}
    better = paired_bootstrap([1.0] * 50 + [0.0] * 50, [0.0] * 100)
    assert better["diff"] == 0.5 and 0.35 < better["low"] < 0.5 < better["high"] < 0.65


def test_left_out_mail_ranks_a_pair_above_strangers(tmp_path: Path) -> None:
    """Before T the lead and A only exchanged list mail, B only a cancelled meeting:
    with left-out mail as weak evidence A ranks first; without it A ties with B."""
    a, b = Party("a@us.example"), Party("b@us.example")
    recs = [
        InteractionRecord(Kind.EMAIL, f"<l{i}@t>", T - timedelta(days=9 + i), a, to=[X], bulk=True)
        for i in range(2)
    ]
    recs.append(
        InteractionRecord(
            Kind.MEETING,
            "m@t",
            T - timedelta(days=3),
            b,
            attendees=[Attendee(X.email, "", Response.ACCEPTED)],
            cancelled=True,
        )
    )
    recs.append(InteractionRecord(Kind.EMAIL, "<p@t>", T + timedelta(days=2), X, to=[a]))
    engine = create_store(f"sqlite:///{tmp_path / 'e.db'}", pair_mode="all")
    write_all(Writer(engine, internal_domains=[]), recs)
    without = Weights.from_settings({"WHOKNOWS_WEIGHT_IGNORED": "0"})
    report = evaluate(engine, cutoff_times=[T], seeds=200, variants={"without": without})
    models = report.to_json()["models"]
    assert isinstance(models, dict)
    assert models["model"]["hit1"] > models["without"]["hit1"]
    diff = report.differences()["without"]["hit1"]
    assert diff["diff"] > 0 and diff["low"] <= diff["diff"] <= diff["high"]


def test_variants_are_parsed_or_refused_clearly() -> None:
    from cli.ask import parse_variants
    from cli.common import UsageFailure

    variants = parse_variants(("factor:WHOKNOWS_ONE_WAY=factor,WHOKNOWS_RECIPROCITY_BETA=1",))
    assert variants["factor"].one_way == "factor" and variants["factor"].beta == 1.0
    for bad in ("nocolon", "x:WHOKNOWS_ONE_WAY", "x:WHOKNOWS_ONE_WAY=sideways"):
        with pytest.raises(UsageFailure, match="--variant"):
            parse_variants((bad,))


def test_lists_are_neither_leads_nor_candidates(tmp_path: Path) -> None:
    """A list the lead writes to more often than to a friend is no one to introduce: no
    ranking is credited for proposing it, and no query asks about it."""
    friend, group = Party("friend@us.example"), Party("mips-dev@us.example")
    recs = [
        InteractionRecord(Kind.EMAIL, f"<f{i}@t>", T - timedelta(days=9 + i), a, to=[b])
        for i, (a, b) in enumerate([(X, friend), (friend, X)])
    ]
    recs += [
        InteractionRecord(Kind.EMAIL, f"<l{i}@t>", T - timedelta(days=2 + i), X, to=[group])
        for i in range(5)
    ]
    recs += [
        InteractionRecord(Kind.EMAIL, "<a@t>", T + timedelta(days=2), X, to=[group]),
        InteractionRecord(Kind.EMAIL, "<b@t>", T + timedelta(days=3), X, to=[friend]),
    ]
    engine = create_store(f"sqlite:///{tmp_path / 'e.db'}", pair_mode="all")
    write_all(Writer(engine, internal_domains=[]), recs)
    before = evaluate(engine, cutoff_times=[T], seeds=50).to_json()
    with Session(engine) as session:  # the import's list rule needs more senders
        group_id = select(Address.person_id).where(Address.email == group.email)
        session.execute(update(Person).where(Person.id.in_(group_id)).values(is_list=True))
        session.commit()
    after = evaluate(engine, cutoff_times=[T], seeds=50).to_json()
    assert before["queries"] == 3 and before["not_people"] == 0
    # X and the friend remain, each other's relevant one; the list's two pairs are left out.
    assert after["queries"] == 2 and after["not_people"] == 2
    models = after["models"]
    assert isinstance(models, dict)
    assert models["raw_count"]["hit1"] == 1.0 and models["model"]["hit1"] == 1.0
