"""`whoknows import` against a real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cli.main import main
from signals.models import Address, Interaction, Participant, Person, Role
from tests.mailgen import (
    ALEX,
    BLAINE,
    TRICIA,
    YVONNE,
    conversation,
    message,
    write_maildir,
    write_mbox,
    write_tree,
)


def run_import(store_url: str, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["import", *args, "--json", "--db", store_url])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_mbox_and_eml_folder_import_then_nothing_new(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    mbox = write_mbox(tmp_path / "tricia.mbox", conversation(6, prefix="a"))
    tree = write_tree(tmp_path / "eml", conversation(4, prefix="b"))
    # the same message in both sources (Yvonne's copy): counted once
    (tree / "copy.eml").write_bytes(conversation(1, prefix="a")[0])

    first = run_import(store_url, str(mbox), str(tree))
    assert first == {
        "files": 6,
        "messages": 11,
        "new_interactions": 10,
        "duplicates": 1,
        "skipped": 0,
        "errors": [],
    }
    second = run_import(store_url, str(mbox), str(tree))
    assert second["new_interactions"] == 0
    assert second["duplicates"] == 11
    assert count(engine, Interaction) == 10
    with engine.connect() as conn:
        assert conn.scalar(select(Interaction.subject).limit(1)) is None  # not stored by default
        reply = conn.execute(
            select(Interaction.parent_key, Interaction.thread_key).where(
                Interaction.source_key == "<a1@fourthcoffee.com>"
            )
        ).one()
    assert tuple(reply) == ("<a0@contoso.com>", "<a0@contoso.com>")


def test_json_report_lists_a_corrupt_message_and_goes_on(tmp_path: Path, store_url: str) -> None:
    tree = write_tree(tmp_path / "mail", [message(msgid="ok1@x"), message(msgid="ok2@x")])
    (tree / "garbage.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (tree / "nobody.eml").write_bytes(message(sender=None, to=()))
    mbox = write_mbox(tmp_path / "x.mbox", [message(msgid="ok3@x"), b"\x00junk\n\nbody"])
    report = run_import(store_url, str(tree), str(mbox))
    assert set(report) == {
        "files",
        "messages",
        "new_interactions",
        "duplicates",
        "skipped",
        "errors",
    }
    assert (report["files"], report["messages"]) == (5, 6)
    assert (report["new_interactions"], report["skipped"]) == (3, 3)
    errors = sorted(report["errors"], key=lambda e: e["path"])
    assert [Path(e["path"]).name for e in errors] == ["garbage.eml", "nobody.eml", "x.mbox"]
    assert errors[0]["error"].startswith("not an e-mail message")
    assert errors[1]["error"] == "no From and no recipients"
    assert errors[2]["message_index"] == 1
    assert all(set(e) <= {"path", "error", "message_index"} for e in errors)


def test_human_summary(tmp_path: Path, store_url: str) -> None:
    mbox = write_mbox(tmp_path / "in.mbox", conversation(3))
    result = CliRunner().invoke(main, ["import", str(mbox), "--db", store_url])
    assert result.exit_code == 0, result.output
    assert "3 new interaction(s)" in result.stdout


def test_missing_path_exits_2_naming_it(tmp_path: Path, store_url: str, engine: Engine) -> None:
    good = write_mbox(tmp_path / "in.mbox", conversation(2))
    missing = tmp_path / "nowhere.mbox"
    result = CliRunner().invoke(main, ["import", str(good), str(missing), "--db", store_url])
    assert result.exit_code == 2, result.output
    assert str(missing) in result.output
    assert count(engine, Interaction) == 0  # nothing read before the paths were checked


def test_internal_domain_option_overrides_the_setting(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    mbox = write_mbox(tmp_path / "in.mbox", [message(sender=ALEX, to=(YVONNE, TRICIA))])
    run_import(store_url, str(mbox), "--internal-domain", "fabrikam.com")
    with engine.connect() as conn:
        internal = dict(
            conn.execute(
                select(Address.email, Person.internal).join(Person, Person.id == Address.person_id)
            ).all()
        )
    assert internal == {
        "alex.dunn@fabrikam.com": True,
        "yvonne.mckay@fourthcoffee.com": False,
        "tricia.potter@contoso.com": False,
    }


def test_sender_on_behalf_and_flags_reach_the_store(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    msgs = [
        message(msgid="behalf@x", sender=TRICIA, extra=[("Sender", BLAINE)]),
        message(msgid="list@x", extra=[("List-Id", "<beans.fabrikam.com>")]),
        message(msgid="auto@x", extra=[("Auto-Submitted", "auto-replied")]),
        message(msgid="bulk@x", extra=[("Precedence", "bulk")]),
    ]
    run_import(store_url, str(write_mbox(tmp_path / "m.mbox", msgs)))
    with engine.connect() as conn:
        flags = {
            key: (automated, bulk, is_list)
            for key, automated, bulk, is_list in conn.execute(
                select(
                    Interaction.source_key,
                    Interaction.automated,
                    Interaction.bulk,
                    Interaction.is_list,
                )
            )
        }
        roles = {
            (email, role)
            for email, role in conn.execute(
                select(Address.email, Participant.role)
                .join(Participant, Participant.person_id == Address.person_id)
                .join(Interaction, Interaction.id == Participant.interaction_id)
                .where(Interaction.source_key == "<behalf@x>")
            )
        }
    assert flags == {
        "<behalf@x>": (False, False, False),
        "<list@x>": (False, False, True),
        "<auto@x>": (True, False, False),
        "<bulk@x>": (False, True, False),
    }
    assert roles == {
        ("tricia.potter@contoso.com", Role.FROM.value),
        ("blaine.carmack@contoso.com", Role.SENDER.value),
        ("yvonne.mckay@fourthcoffee.com", Role.TO.value),
    }


def test_an_alias_that_only_receives_is_flagged_as_a_list(
    tmp_path: Path, store_url: str, engine: Engine
) -> None:
    msgs = [
        message(
            msgid=f"s{i}@x", sender=f"Sender {i} <sender{i}@fabrikam.com>", to=("x@contoso.com",)
        )
        for i in range(12)
    ]
    run_import(store_url, str(write_maildir(tmp_path / "Maildir", msgs)))
    with engine.connect() as conn:
        flagged = conn.scalar(
            select(Person.is_list)
            .join(Address, Address.person_id == Person.id)
            .where(Address.email == "x@contoso.com")
        )
    assert flagged is True


def test_maildir_reads_cur_and_new_not_tmp(tmp_path: Path, store_url: str) -> None:
    root = write_maildir(tmp_path / "Maildir", conversation(4))
    (root / "tmp" / "half.eml").write_bytes(message(msgid="half@x"))
    write_maildir(root / ".Sent", [message(msgid="sent@x")])
    (root / "dovecot-uidlist").write_text("3 V1 N1\n")
    report = run_import(store_url, str(root))
    assert (report["files"], report["new_interactions"], report["errors"]) == (5, 5, [])
