"""An administrator's side of privacy, through the command line on both backends:
`whoknows privacy forget|export`, coverage after a one-mailbox import, retention
(`whoknows db purge`, `sync --status`) and no personal data in errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bot.headsup import set_preference
from cli.main import main
from scoring.ranking import coverage
from signals import db, retention
from signals.ingest import Writer
from signals.models import AuditEntry, Interaction, Kind, PairStrength, Person
from signals.records import InteractionRecord, Party
from tests.mailgen import message, write_mbox

NOW = datetime.now(UTC)
TRICIA = "Tricia Potter <tricia.potter@contoso.com>"
COLLEAGUES = [f"Colleague {n} <colleague{n}@contoso.com>" for n in range(5)]
YVONNE = "Yvonne McKay <yvonne.mckay@fourthcoffee.com>"


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def tricias_mailbox(tmp_path: Path, start: datetime = NOW - timedelta(days=30)) -> Path:
    """Her mailbox: five colleagues and a customer write to her, she answers some."""
    messages = []
    for i in range(30):
        sender = [*COLLEAGUES, YVONNE][i % 6]
        at = start + timedelta(hours=i)
        messages.append(
            message(msgid=f"in{i}@x", sender=sender, to=(TRICIA,), date=at, subject="Secret deal")
        )
        if i % 3 == 0:
            messages.append(
                message(msgid=f"out{i}@x", sender=TRICIA, to=(sender,), date=at, subject="Re")
            )
    return write_mbox(tmp_path / "tricia.mbox", messages)


def test_coverage_after_a_one_mailbox_import_is_one_of_six(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    mbox = tricias_mailbox(tmp_path)
    cli("import", str(mbox), "--internal-domain", "contoso.com", "--db", store_url)
    with Session(engine) as session:
        cov = coverage(session)
        analysed = session.scalars(
            select(Person.display_name).where(Person.mailbox_analysed_at.is_not(None))
        ).all()
    assert analysed == ["Tricia Potter"]
    assert (cov.mailboxes_analysed, cov.mailboxes_total) == (1, 6)


def test_forget_deletes_blocks_and_is_audited_and_export_shows_no_content(
    tmp_path: Path, store_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_STORE_SUBJECTS", "1")
    mbox = tricias_mailbox(tmp_path)
    cli("import", str(mbox), "--internal-domain", "contoso.com", "--db", store_url)
    before = json.loads(
        cli("privacy", "export", "tricia.potter@contoso.com", "--json", "--db", store_url)
    )
    assert before["addresses"] == ["tricia.potter@contoso.com"]
    assert before["internal"] and not before["flags"]["opted_out"]
    assert sum(before["counts"]["interactions"].values()) == 40
    assert before["dates"]["first_interaction"] and before["dates"]["mailbox_analysed_at"]
    assert "Secret deal" not in json.dumps(before)  # counts and dates, never content
    assert before["flags"]["heads_up_choice"] is None  # the administrator's default
    assert before["counts"]["heads_ups_received"] == 0
    with Session(engine) as session, session.begin():
        set_preference(session, before["person_id"], False)
    human = cli("privacy", "export", "tricia.potter@contoso.com", "--db", store_url)
    assert "opted_out: False" in human and "Secret" not in human
    assert "heads_up_choice: False" in human

    out = cli("privacy", "forget", "tricia.potter@contoso.com", "--yes", "--db", store_url)
    assert "forgot tricia.potter@contoso.com: 40 interactions" in out
    after = json.loads(
        cli("privacy", "export", "tricia.potter@contoso.com", "--json", "--db", store_url)
    )
    assert after["flags"]["opted_out"] and after["dates"]["mailbox_analysed_at"] is None
    assert after["counts"]["interactions"] == {} and after["counts"]["participations"] == 0
    # Importing her mailbox again stores nothing of hers.
    cli("import", str(mbox), "--internal-domain", "contoso.com", "--db", store_url)
    again = json.loads(
        cli("privacy", "export", "tricia.potter@contoso.com", "--json", "--db", store_url)
    )
    assert again["counts"]["participations"] == 0
    with engine.connect() as conn:
        audited = conn.execute(select(AuditEntry.action, AuditEntry.subject)).all()
    person = f"person:{after['person_id']}"
    assert ("privacy.forgotten", person) in audited and ("privacy.exported", person) in audited


def test_forget_of_an_unknown_address_blocks_it(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    out = cli("privacy", "forget", "yvonne.mckay@fourthcoffee.com", "--yes", "--db", store_url)
    assert "nothing was stored" in out
    cli(
        "import",
        str(tricias_mailbox(tmp_path)),
        "--internal-domain",
        "contoso.com",
        "--db",
        store_url,
    )
    data = json.loads(
        cli("privacy", "export", "yvonne.mckay@fourthcoffee.com", "--json", "--db", store_url)
    )
    assert data["flags"]["opted_out"] and data["counts"]["participations"] == 0
    assert not data["internal"]


def test_privacy_commands_refuse_bad_input_clearly(store_url: str) -> None:
    result = CliRunner().invoke(main, ["privacy", "forget", "not-an-address", "--db", store_url])
    assert result.exit_code == 2 and "is not an e-mail address" in result.output
    result = CliRunner().invoke(
        main, ["privacy", "export", "nobody@contoso.com", "--db", store_url]
    )
    assert result.exit_code == 1 and "nothing is stored about nobody@contoso.com" in result.output


# -- retention --------------------------------------------------------------------------


def test_purge_removes_what_is_past_retention_and_refreshes_its_pairs(
    store_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHOKNOWS_RETENTION_DAYS", "100")
    monkeypatch.setenv("WHOKNOWS_AUDIT_RETENTION_DAYS", "30")
    ann, lea = Party("ann@contoso.com", "Ann"), Party("lea@fabrikam.com", "Lea")
    recs = [
        InteractionRecord(Kind.EMAIL, f"<k{d}@x>", NOW - timedelta(days=d), ann, to=[lea])
        for d in (5, 50, 150, 250)
    ]
    Writer(engine, internal_domains=["contoso.com"]).write(recs)
    with engine.begin() as conn:
        conn.execute(
            insert(AuditEntry),
            [
                {
                    "at": NOW - timedelta(days=d),
                    "actor": "a",
                    "action": "x",
                    "subject": "",
                    "detail": "",
                }
                for d in (1, 40)
            ],
        )
    assert "no purge has run yet" in cli("sync", "--status", "--db", store_url)
    out = cli("db", "purge", "--db", store_url)
    assert "2 interactions" in out and "1 audit entries" in out
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Interaction)) == 2
        assert conn.scalar(select(func.count()).select_from(AuditEntry)) == 1
        pair = conn.execute(select(PairStrength)).one()
    assert pair.n_out_to == 2 and pair.first_at >= NOW - timedelta(days=51)
    status = cli("sync", "--status", "--db", store_url)
    assert "last purge" in status and "2 interactions" in status
    with engine.connect() as conn:
        last = retention.last_purge(conn)
    assert last is not None and last.interactions == 2 and last.audit_entries == 1


# -- no personal data in errors ---------------------------------------------------------


def test_store_errors_carry_no_parameters(engine: Engine) -> None:
    secret = "tricia.secret@contoso.com"
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(
            text("INSERT INTO addresses (email, person_id, sent_count) VALUES (:e, :p, 0)"),
            {"e": secret, "p": 987654},  # no such person: a foreign-key error
        )
    assert secret not in str(caught.value)
    assert "parameters hidden" in str(caught.value)
    stored = db.error_text(caught.value)
    assert secret not in stored and "987654" not in stored
    assert stored.startswith("IntegrityError")


def test_sync_errors_are_stored_without_parameters() -> None:
    class Orig(Exception):
        sqlstate = "23505"

    exc = IntegrityError(
        "INSERT INTO addresses ...", {"email": "x@contoso.com"}, Orig("Key (email)=(x@contoso.com)")
    )
    assert db.error_text(exc) == "IntegrityError: Orig (23505)"
