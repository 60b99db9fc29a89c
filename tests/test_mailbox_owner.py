"""An inbox-only export: its owner receives from many and never sends, like a list;
the importer recognises the owner, so only the real alias is taken for a list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select

from cli.main import main
from signals.models import Address, Person

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _eml(folder: Path, n: int, sender: str, to: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    when = format_datetime(T0 + timedelta(hours=n))
    (folder / f"{n}.").write_text(
        f"Message-ID: <m{n}-{to}@test>\nDate: {when}\nFrom: {sender}\nTo: {to}\n"
        f"Subject: note {n}\n\nbody\n"
    )


def test_inbox_owner_is_not_a_list_but_an_alias_is(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    root = tmp_path / "maildir"
    owner = "pat.inbox@contoso.com"
    for n in range(30):  # Pat's inbox: 15 outside senders, Pat never sends
        _eml(root / "pat" / "inbox", n, f"sender{n % 15}@vendor{n % 15}.com", owner)
    for n in range(30, 60):  # Lee's inbox: mail to an alias Lee is on, and to Lee
        alias = n % 3 == 0  # a third of Lee's mail comes through the alias, each time
        to = "all-partners@contoso.com" if alias else "lee.box@contoso.com"  # from someone new
        _eml(root / "lee" / "inbox", n, f"p{n}@partner{n % 12 if not alias else n}.com", to)
    for n in range(60, 66):  # Lee's sent items: this export does show who sends
        _eml(root / "lee" / "sent", n, "lee.box@contoso.com", f"p{n}@partner{n}.com")
    result = CliRunner().invoke(
        main, ["import", str(root), "--internal-domain", "contoso.com", "--db", store_url]
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        flagged = set(
            conn.scalars(
                select(Address.email)
                .join(Person, Person.id == Address.person_id)
                .where(Person.is_list)
            )
        )
        analysed = set(
            conn.scalars(
                select(Address.email)
                .join(Person, Person.id == Address.person_id)
                .where(Person.mailbox_analysed_at.is_not(None))
            )
        )
    assert flagged == {"all-partners@contoso.com"}
    assert owner in analysed


def test_inbox_only_export_skips_the_never_sends_rule(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    """Two inbox-only mailboxes: owners never seen sending, so nobody is called a list,
    not even a second address of an owner that many people write to."""
    root = tmp_path / "maildir"
    for n in range(30):
        to = "ann.box@contoso.com" if n % 3 else "abox@contoso.com"  # Ann's second address
        _eml(root / "ann" / "inbox", n, f"s{n}@vendor{n}.com", to)
    for n in range(30, 60):
        _eml(root / "bo" / "inbox", n, f"s{n}@vendor{n}.com", "bo.box@contoso.com")
    result = CliRunner().invoke(
        main, ["import", str(root), "--internal-domain", "contoso.com", "--db", store_url]
    )
    assert result.exit_code == 0, result.output
    assert "mailing lists and aliases were not looked for" in result.output
    with engine.connect() as conn:
        assert not conn.scalars(select(Person.id).where(Person.is_list)).all()
