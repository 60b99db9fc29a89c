"""The demo organisation: deterministic, and its story holds in the stored data.

The story tests read one tiny demo per backend, built once per session (the
story is the same at every size); one test builds the small size on SQLite
to hold it to its advertised size and speed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bench.raw_ranking import raw_rank
from cli.main import main
from scoring.ranking import rank
from scoring.strength import Weights
from signals import db
from signals.demo import build_demo, generate
from signals.demo.build import clear_store
from signals.demo.story import LEAD_TOPIC
from signals.meta import read_facts
from signals.models import (
    Address,
    Company,
    CompanyDomain,
    CrmRecord,
    Interaction,
    PairStrength,
    Participant,
    Person,
    Role,
)
from signals.records import InteractionRecord
from signals.store import create_store
from tests.conftest import _admin_engine, _pg_database_url

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
YVONNE = "yvonne.mckay@fourthcoffee.com"


def _fingerprint(rec: InteractionRecord) -> tuple[Any, ...]:
    return (
        rec.kind,
        rec.source_key,
        rec.occurred_at,
        rec.author.email if rec.author else None,
        rec.sent_by.email if rec.sent_by else None,
        tuple(p.email for p in rec.to),
        tuple(p.email for p in rec.cc),
        len(rec.bcc),
        tuple((a.email, a.response) for a in rec.attendees),
        rec.thread_key,
        rec.parent_key,
        rec.bulk,
        rec.automated,
        rec.cancelled,
        rec.duration_seconds,
    )


def test_same_seed_same_stream_whatever_the_global_random_state() -> None:
    random.seed(1)
    _, first = generate("tiny", seed=7, today=TODAY)
    a = [_fingerprint(r) for r in first]
    random.seed(2)
    _, again = generate("tiny", seed=7, today=TODAY)
    b = [_fingerprint(r) for r in again]
    _, other = generate("tiny", seed=8, today=TODAY)
    c = [_fingerprint(r) for r in other]
    assert a == b
    assert a != c


def test_the_stream_is_a_year_in_time_order_with_unique_keys() -> None:
    org, stream = generate("small", seed=7, today=TODAY)
    records = list(stream)
    times = [r.occurred_at for r in records]
    assert times == sorted(times)
    assert max(times) < NOW
    assert min(times) >= NOW - timedelta(days=372)
    assert len({r.source_key for r in records}) == len(records)
    assert 30_000 <= len(records) <= 60_000
    # Nothing at all from or about the colleagues who opted out.
    opted = {c.email for c in org.colleagues if c.opted_out}
    assert 3 <= len(opted) <= 5
    for r in records:
        parties = [r.author, r.sent_by, *r.to, *r.cc, *r.bcc, *r.attendees]
        assert not opted & {p.email for p in parties if p is not None}
    kinds = {r.kind.value for r in records}
    assert kinds == {"email", "meeting", "call", "chat"}
    assert any(r.cancelled for r in records)
    assert any(r.kind.value == "call" and (r.duration_seconds or 0) < 60 for r in records)
    assert {a.response.value for r in records for a in r.attendees} >= {
        "accepted",
        "tentative",
        "declined",
        "none",
    }


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A tiny demo built once per backend; tests only read it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
        engine = create_store(url)
        build_demo(engine, "tiny", seed=7, today=TODAY)
        yield engine
        engine.dispose()
        return
    template = request.getfixturevalue("pg_template")
    name = f"whoknows_demo_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine = db.open_store(_pg_database_url(name))
    build_demo(engine, "tiny", seed=7, today=TODAY)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _person_id(session: Session, email: str) -> int:
    pid = session.scalar(select(Address.person_id).where(Address.email == email))
    assert pid is not None, email
    return pid


def _ties(engine: Engine, email: str = YVONNE) -> dict[str, PairStrength]:
    """Colleague address -> their aggregate with the lead."""
    with Session(engine) as session:
        lead = _person_id(session, email)
        rows = session.execute(
            select(Address.email, PairStrength)
            .join(PairStrength, PairStrength.introducer_id == Address.person_id)
            .where(PairStrength.lead_id == lead)
        ).all()
        session.expunge_all()
    return {addr: pair for addr, pair in rows}


KAPPA = {"to": 1.0, "cc": 0.5, "reply": 1.0, "thread": 0.25}


def _strength(pair: PairStrength, decay: float) -> tuple[float, float]:
    """S and R of scoring.md's default formula, from the stored aggregate."""
    shared = 0.75 * (pair.d_meeting + pair.d_call) + 0.25 * pair.d_chat
    out = sum(k * getattr(pair, f"d_out_{c}") for c, k in KAPPA.items()) + shared
    inn = sum(k * getattr(pair, f"d_in_{c}") for c, k in KAPPA.items()) + shared
    out, inn = out * decay, inn * decay
    r = 2 * min(out, inn) / (out + inn) if out + inn else 0.0
    return (out + inn) * (0.25 + 0.75 * r), r


def test_tricia_knows_yvonne_both_ways_and_recently(demo: Engine) -> None:
    tricia = _ties(demo)["tricia.potter@contoso.com"]
    assert tricia.n_out_reply > 0 and tricia.n_in_reply > 0
    assert tricia.n_out_to > 0 and tricia.n_in_to > 0
    assert tricia.n_meeting >= 3 and tricia.n_call >= 1
    assert tricia.last_mutual_at is not None and NOW - tricia.last_mutual_at < timedelta(days=7)


def test_the_one_way_seller_writes_more_than_tricia_and_hears_nothing(demo: Engine) -> None:
    ties = _ties(demo)
    ray, tricia = ties["ray.tanaka@contoso.com"], ties["tricia.potter@contoso.com"]
    tricia_mails = tricia.n_out_to + tricia.n_out_reply
    assert ray.n_out_to + ray.n_out_reply > tricia_mails
    assert ray.n_total > tricia.n_total  # the raw-count baseline prefers him
    assert ray.n_in_to == ray.n_in_reply == ray.n_in_cc == ray.n_in_thread == 0
    assert ray.last_mutual_at is None and ray.n_meeting == ray.n_call == 0


def test_the_formula_ranks_tricia_first_and_strong(demo: Engine) -> None:
    with demo.connect() as conn:
        decay = read_facts(conn).clock.decay(NOW)
    ties = _ties(demo)
    scores = {email: _strength(pair, decay) for email, pair in ties.items()}
    s_tricia, r_tricia = scores["tricia.potter@contoso.com"]
    assert s_tricia >= 4 and r_tricia >= 0.3
    assert s_tricia == max(s for s, _ in scores.values())
    s_ray, r_ray = scores["ray.tanaka@contoso.com"]
    assert r_ray == 0 and s_ray < 4


def test_at_least_six_colleagues_know_her_with_weaker_ties(demo: Engine) -> None:
    ties = _ties(demo)
    with Session(demo) as session:
        people = {
            email: person
            for email, person in session.execute(
                select(Address.email, Person).join(Person, Person.id == Address.person_id)
            )
        }
    real = [
        email
        for email, pair in ties.items()
        if pair.n_total > pair.n_ignored
        and people[email].enabled
        and not (people[email].is_shared or people[email].is_automated or people[email].is_list)
        and email != "blaine.carmack@contoso.com"
    ]
    assert len(real) >= 6
    assert {
        "marcus.webb@contoso.com",
        "dana.whitfield@contoso.com",
        "owen.lindqvist@contoso.com",
        "priya.raman@contoso.com",
        "hector.ruiz@contoso.com",
    } <= set(real)
    dana = ties["dana.whitfield@contoso.com"]
    assert dana.n_in_cc >= 3 and dana.n_out_to == dana.n_out_reply == 0
    owen = ties["owen.lindqvist@contoso.com"]
    assert (owen.n_total, owen.n_out_to) == (1, 1)
    assert ties["blaine.carmack@contoso.com"].n_out_to == 1
    grant = ties["grant.holloway@contoso.com"]
    assert grant.n_in_reply > 0 and not people["grant.holloway@contoso.com"].enabled
    assert people["grant.holloway@contoso.com"].departed_at is not None
    assert people["sales@contoso.com"].is_shared


def test_newsletters_reached_her_flagged_as_bulk(demo: Engine) -> None:
    with Session(demo) as session:
        lead = _person_id(session, YVONNE)
        rows = session.execute(
            select(Interaction)
            .join(Participant, Participant.interaction_id == Interaction.id)
            .where(Participant.person_id == lead, Interaction.bulk.is_(True))
        ).scalars()
        bulk = list(rows)
    assert len(bulk) >= 12
    assert all(i.is_list and i.recipient_count >= 100 for i in bulk)
    ties = _ties(demo)
    news = ties["newsletter@contoso.com"]
    assert news.n_total == news.n_ignored >= 12
    bonnie = ties["bonnie.kearney@contoso.com"]
    assert bonnie.n_total == bonnie.n_ignored >= 4


def test_the_directory_and_crm_side_of_the_story(demo: Engine) -> None:
    with Session(demo) as session:
        lead = _person_id(session, YVONNE)
        assert _person_id(session, "ymckay@outlook.com") == lead  # two addresses, one person
        record = session.scalars(select(CrmRecord).where(CrmRecord.person_id == lead)).one()
        assert (record.source, record.topic, record.company_name) == (
            "lead",
            LEAD_TOPIC,
            "Fourth Coffee",
        )
        assert record.owner_email == "blaine.carmack@contoso.com"
        company = session.get(CompanyDomain, "fourthcoffee.com")
        assert company is not None and company.company.name == "Fourth Coffee"
        yvonne = session.get(Person, lead)
        assert yvonne is not None and yvonne.company_id == company.company_id
        assert (session.scalar(select(func.count()).select_from(Company)) or 0) >= 30
        # The CEO's assistant writes on her behalf.
        sam = _person_id(session, "sam.ortiz@contoso.com")
        assert session.scalar(
            select(func.count()).where(
                Participant.person_id == sam, Participant.role == Role.SENDER
            )
        )
        # Opted out: flagged, and nothing of theirs is stored.
        opted = session.scalars(select(Person).where(Person.opted_out.is_(True))).all()
        assert opted and all(p.internal and p.mailbox_analysed_at is None for p in opted)
        assert not session.scalar(
            select(func.count()).where(Participant.person_id.in_([p.id for p in opted]))
        )
        # The alias that only receives is found to be a list; the newsletter is automated.
        alias = session.get(Person, _person_id(session, "partners@contoso.com"))
        assert alias is not None and alias.is_list
        news = session.get(Person, _person_id(session, "newsletter@contoso.com"))
        assert news is not None and news.is_automated
        colleagues = session.scalar(
            select(func.count()).where(Person.internal.is_(True), Person.entra_id.is_not(None))
        )
        analysed = session.scalar(
            select(func.count()).where(
                Person.internal.is_(True), Person.mailbox_analysed_at.is_not(None)
            )
        )
        assert colleagues == 40 and analysed is not None and 0.7 * 40 <= analysed <= 0.9 * 40
        # Every colleague has a fake Entra object id of the right shape.
        ids = session.scalars(select(Person.entra_id).where(Person.entra_id.is_not(None))).all()
        assert all(uuid.UUID(i).version == 4 for i in ids if i)


def _snapshot(engine: Engine) -> tuple[dict[str, int], dict[str, tuple[Any, ...]]]:
    with engine.connect() as conn:
        counts = {
            t.__tablename__: int(conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in (Person, Address, Interaction, Participant, PairStrength, CrmRecord, Company)
        }
    pairs = {
        email: (
            p.n_total,
            p.n_out_to,
            p.n_in_reply,
            p.n_meeting,
            round(p.d_out_to, 6),
            round(p.d_in_reply, 6),
            p.last_at,
        )
        for email, p in _ties(engine).items()
    }
    return counts, pairs


def test_the_same_seed_builds_the_same_store(engine: Engine) -> None:
    build_demo(engine, "tiny", seed=7, today=TODAY)
    first = _snapshot(engine)
    clear_store(engine)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Person)) == 0
    build_demo(engine, "tiny", seed=7, today=TODAY)
    assert _snapshot(engine) == first


def test_the_small_demo_is_the_advertised_size(tmp_path: Path) -> None:
    """Not timed: the machine's load decides that (`whoknows init --demo` prints it)."""
    engine = create_store(f"sqlite:///{tmp_path / 'small.db'}")
    summary = build_demo(engine, "small", seed=7, today=TODAY)
    engine.dispose()
    assert summary.colleagues == 300
    assert 0.75 * 300 <= summary.mailboxes_analysed <= 0.85 * 300
    assert 3 <= summary.opted_out <= 5 and 3 <= summary.departed <= 10
    assert summary.companies >= 250 and summary.contacts >= 2_500
    assert summary.crm_records >= 300
    assert 30_000 <= summary.interactions <= 60_000


def test_cli_init_demo_then_refuses_a_second_fill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["init", "--demo", "--size", "tiny", "--db", url])
    assert first.exit_code == 0, first.output
    assert (
        "Yvonne McKay" in first.output and 'whoknows ask "who knows Yvonne McKay"' in first.output
    )
    again = runner.invoke(main, ["init", "--demo", "--size", "tiny", "--db", url])
    assert again.exit_code == 1
    assert "already holds data" in again.output and "--force" in again.output
    forced = runner.invoke(main, ["init", "--demo", "--size", "tiny", "--force", "--db", url])
    assert forced.exit_code == 0, forced.output
    plain = runner.invoke(main, ["init", "--db", url])
    assert plain.exit_code == 0 and "ready" in plain.output
    engine = db.open_store(url)
    with engine.connect() as conn:
        people = conn.scalar(select(func.count()).where(Person.display_name == "Yvonne McKay"))
    engine.dispose()
    assert people == 1


def test_every_ranking_equals_the_same_ranking_from_raw_interactions(demo: Engine) -> None:
    """The aggregates kept while importing give, for every lead, the ranking that
    replaying the lead's raw interactions gives (the benchmark's naive side)."""
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC)
    weights = Weights.from_settings()
    with Session(demo) as session:
        facts = read_facts(session)
        leads = session.scalars(select(PairStrength.lead_id).distinct()).all()
        assert len(leads) > 100
        checked = 0
        for lead in leads:
            ours, _ = rank(session, [lead], now=now, weights=weights, facts=facts)
            raw = raw_rank(session, lead, now=now, weights=weights, facts=facts)
            assert [(c.person.id, c.tier, c.best.evidence) for c in ours] == [
                (c.person.id, c.tier, c.best.evidence) for c in raw
            ], lead
            for a, b in zip(ours, raw, strict=True):
                assert a.score == pytest.approx(b.score, rel=1e-9)
            checked += len(ours)
        assert checked > 300
