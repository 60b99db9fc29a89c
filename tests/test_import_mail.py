"""Headers -> InteractionRecord, and splitting mbox files: no store needed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from signals.addresses import parse_address_list
from signals.importers.items import Skipped
from signals.importers.mail import (
    MessageError,
    address_pairs,
    normalise_subject,
    parse_header_block,
)
from signals.importers.mbox import read_mbox
from signals.importers.tree import read_message_file
from signals.models import Kind
from signals.records import InteractionRecord
from tests.mailgen import ALEX, BLAINE, T0, conversation, message, write_mbox


def parse(raw: bytes) -> InteractionRecord:
    return parse_header_block(raw.partition(b"\n\n")[0] + b"\n")


def test_basic_mapping() -> None:
    rec = parse(message(cc=(ALEX,), extra=[("Bcc", "blaine.carmack@contoso.com")]))
    assert rec.kind == Kind.EMAIL
    assert rec.source_key == "<m1@contoso.com>"
    assert rec.occurred_at == T0 and rec.occurred_at.tzinfo is not None
    assert rec.author is not None
    assert (rec.author.email, rec.author.name) == ("tricia.potter@contoso.com", "Tricia Potter")
    assert [p.email for p in rec.to] == ["yvonne.mckay@fourthcoffee.com"]
    assert [p.email for p in rec.cc] == ["alex.dunn@fabrikam.com"]
    assert [p.email for p in rec.bcc] == ["blaine.carmack@contoso.com"]
    assert rec.sent_by is None
    assert rec.thread_key == "<m1@contoso.com>" and rec.parent_key is None
    assert rec.subject == "Coffee machines"
    assert not (rec.automated or rec.bulk or rec.is_list)


def test_sender_differing_from_from_is_sent_by() -> None:
    rec = parse(message(extra=[("Sender", BLAINE)]))
    assert rec.author is not None and rec.author.email == "tricia.potter@contoso.com"
    assert rec.sent_by is not None and rec.sent_by.email == "blaine.carmack@contoso.com"
    same = parse(message(extra=[("Sender", "TRICIA.POTTER@contoso.com")]))
    assert same.sent_by is None


def test_reply_parent_and_thread() -> None:
    rec = parse(
        message(
            msgid="r2@x",
            extra=[("In-Reply-To", "<r1@x> (Yvonne's message)"), ("References", "<r0@x>\n <r1@x>")],
        )
    )
    assert (rec.parent_key, rec.thread_key) == ("<r1@x>", "<r0@x>")
    only_refs = parse(message(msgid="r3@x", extra=[("References", "<r0@x> <r2@x>")]))
    assert (only_refs.parent_key, only_refs.thread_key) == ("<r2@x>", "<r0@x>")
    only_irt = parse(message(msgid="r4@x", extra=[("In-Reply-To", "<r3@x>")]))
    assert (only_irt.parent_key, only_irt.thread_key) == ("<r3@x>", "<r3@x>")


def test_outlook_reply_without_references_threads_on_thread_index() -> None:
    import base64

    root = bytes(range(22))
    a = parse(
        message(msgid="o1@x", extra=[("Thread-Index", base64.b64encode(root + b"12345").decode())])
    )
    b = parse(
        message(msgid="o2@x", extra=[("Thread-Index", base64.b64encode(root + b"67890").decode())])
    )
    assert a.thread_key == b.thread_key and a.thread_key is not None
    assert a.thread_key.startswith("thread-index:")


def test_no_message_id_gives_a_stable_content_hash() -> None:
    a = parse(message(msgid=None))
    b = parse(message(msgid=None, subject="RE: Coffee  machines"))
    c = parse(message(msgid=None, to=(ALEX,)))
    assert a.source_key.startswith("sha256:")
    assert a.source_key == parse(message(msgid=None)).source_key
    assert a.source_key == b.source_key  # Re: and spacing do not matter
    assert a.source_key != c.source_key
    assert normalise_subject("Fwd: RE: Re:  Hello  World") == "hello world"


@pytest.mark.parametrize(
    ("headers", "flags"),
    [
        ([("Auto-Submitted", "auto-generated")], (True, False, False)),
        ([("Auto-Submitted", "auto-replied")], (True, False, False)),
        ([("Auto-Submitted", "no")], (False, False, False)),
        ([("X-Autoreply", "yes")], (True, False, False)),
        ([("X-Auto-Response-Suppress", "All")], (True, False, False)),
        ([("Precedence", "bulk")], (False, True, False)),
        ([("Precedence", "list")], (False, True, False)),
        ([("Precedence", "junk")], (False, True, False)),
        ([("List-Id", "<coffee.lists.fabrikam.com>")], (False, False, True)),
        ([("List-Unsubscribe", "<mailto:leave@fabrikam.com>")], (False, False, True)),
    ],
)
def test_automated_bulk_and_list_headers(
    headers: list[tuple[str, str]], flags: tuple[bool, bool, bool]
) -> None:
    rec = parse(message(extra=headers))
    assert (rec.automated, rec.bulk, rec.is_list) == flags


def test_encoded_names_crlf_and_utf8_headers() -> None:
    raw = message(
        sender="=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg.mueller@contoso.com>",
        to=("Zoë Ñúñez <zoe@fabrikam.com>",),
        crlf=True,
    )
    rec = parse_header_block(raw.partition(b"\r\n\r\n")[0] + b"\r\n")
    assert rec.author is not None and rec.author.name == "Jörg Müller"
    assert rec.to[0].name == "Zoë Ñúñez"


def test_missing_date_uses_from_line_else_fails() -> None:
    raw = message(date=None, from_line=True)
    rec = parse(raw)
    assert rec.occurred_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(MessageError, match="Date"):
        parse(message(date=None))
    with pytest.raises(MessageError, match="Date"):
        parse(message(date=None, extra=[("Date", "sometime last week")]))


def test_unreadable_messages_are_refused() -> None:
    with pytest.raises(MessageError, match="no From and no recipients"):
        parse(message(sender=None, to=()))
    with pytest.raises(MessageError, match="not an e-mail"):
        parse_header_block(b"\x00\x01\xff\xfe\x89PNG garbage\n")
    with pytest.raises(MessageError, match="undecodable From"):
        parse_header_block(b"From: \xff\xfe <x@contoso.com>\nTo: y@contoso.com\nDate: x\n")


def test_mbox_is_split_on_from_lines_only_after_blank_lines(tmp_path: Path) -> None:
    msgs = conversation(5)
    # an unescaped "From " line inside a body (not after an empty line) does not split
    msgs.append(message(msgid="tail@x", body="line one\nFrom here on, nothing new.\n"))
    path = write_mbox(tmp_path / "inbox.mbox", msgs)
    items = list(read_mbox(path))
    assert [getattr(i, "source_key", None) for i in items] == [
        "<c0@contoso.com>",
        "<c1@fourthcoffee.com>",
        "<c2@contoso.com>",
        "<c3@fourthcoffee.com>",
        "<c4@contoso.com>",
        "<tail@x>",
    ]
    second = items[1]
    assert isinstance(second, InteractionRecord)
    assert second.parent_key == "<c0@contoso.com>" and second.thread_key == "<c0@contoso.com>"


def test_corrupt_message_in_mbox_is_listed_and_the_rest_read(tmp_path: Path) -> None:
    path = write_mbox(
        tmp_path / "mixed.mbox",
        [message(msgid="a@x"), b"\x00\x00garbage\xff\xfe\n\nbody", message(msgid="b@x")],
    )
    with path.open("ab") as out:  # a truncated last message: header cut before To/Date
        out.write(b"From x Mon Mar  2 09:00:00 2026\nSubject: cut off\nMessage-")
    items = list(read_mbox(path))
    keys = [i.source_key for i in items if isinstance(i, InteractionRecord)]
    assert keys == ["<a@x>", "<b@x>"]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [s.problem.message_index for s in skipped if s.problem] == [1, 3]


def test_single_file_with_leading_from_line_and_no_blank_line(tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(message(from_line=True))
    (rec,) = read_message_file(eml)
    assert isinstance(rec, InteractionRecord) and rec.source_key == "<m1@contoso.com>"
    headers_only = tmp_path / "headers-only"
    headers_only.write_bytes(message(msgid="h@x").partition(b"\n\n")[0])
    (rec2,) = read_message_file(headers_only)
    assert isinstance(rec2, InteractionRecord) and rec2.source_key == "<h@x>"


@pytest.mark.parametrize(
    "value",
    [
        "Tricia Potter <Tricia.Potter@contoso.com>, bob@x.com",
        "=?utf-8?q?J=C3=B6rg?= <j@x.com>",
        '"Potter, Tricia" <t@x.com>',
        "undisclosed-recipients:;",
        "a@b.com,, c@d.com",
        "bad address, x@y.com",
        "Tricia <t@x.com> (work)",
        "<t@x.com>",
        "Ünïcode Name <u@x.com>",
    ],
)
def test_fast_address_path_agrees_with_the_standard_parser(value: str) -> None:
    assert address_pairs([value]) == parse_address_list([value])
