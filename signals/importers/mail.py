"""One RFC 822 message's headers -> an InteractionRecord (the body is never read).

Only the header block is handed to the parser (``BytesHeaderParser``), so no
body or attachment ever reaches memory beyond the reader's line buffer, let
alone the store.

Keys, consistently with the rest of the store, keep Message-IDs in angle
brackets: ``<id@host>``. A message without a Message-ID gets
``sha256:<hex>`` over its date, sender, recipients and subject.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from signals.addresses import normalise_email, parse_address_list
from signals.models import Kind
from signals.records import InteractionRecord, Party

_PARSER = BytesHeaderParser(policy=compat32)
_MSGID = re.compile(r"<([^<>\s]+)>")
_FOLD = re.compile(r"\r?\n[ \t]")
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FROM_LINE_DATE = re.compile(
    rb"([A-Z][a-z]{2})\s+([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}:\d{2}(?::\d{2})?)\s+(\d{4})"
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_BULK_PRECEDENCE = {"bulk", "list", "junk"}
_ADDRESS_HEADERS = ("from", "sender", "to", "cc", "bcc")
_WANTED = frozenset(
    {
        *_ADDRESS_HEADERS,
        "date",
        "subject",
        "message-id",
        "in-reply-to",
        "references",
        "thread-index",
        "auto-submitted",
        "precedence",
        "list-id",
        "list-unsubscribe",
        "list-post",
        "x-auto-response-suppress",
        "x-autoreply",
        "x-autorespond",
        "content-type",
    }
)


class MessageError(ValueError):
    """This message cannot be imported; the text says why."""


def normalise_message_id(raw: str | None) -> str | None:
    """``<id@host>`` from a Message-ID-like header value, or None."""
    if not raw:
        return None
    found = _MSGID.search(raw)
    if found:
        return f"<{found.group(1)}>"
    token = raw.strip().split()
    if len(token) == 1 and "@" in token[0]:
        return f"<{token[0].strip('<>')}>"
    return None


def message_ids(raw: str | None) -> list[str]:
    """Every ``<id>`` of a References header, in order."""
    return [f"<{m}>" for m in _MSGID.findall(raw or "")]


def normalise_subject(subject: str) -> str:
    """The subject without Re:/Fwd: prefixes, lower-cased and with single spaces."""
    return " ".join(_SUBJECT_PREFIX.sub("", subject).split()).casefold()


def from_line_date(line: bytes) -> datetime | None:
    """The date of an mbox ``From sender Tue Mar  5 10:00:00 2024`` line (read as UTC)."""
    found = _FROM_LINE_DATE.search(line)
    if not found:
        return None
    _wday, month, day, clock, year = (g.decode("ascii") for g in found.groups())
    if clock.count(":") == 1:
        clock += ":00"
    try:
        parsed = datetime.strptime(f"{day} {month} {year} {clock}", "%d %b %Y %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


def _utf8(value: str, header: str) -> str:
    """Header text as parsed (8-bit bytes come back as surrogates) -> real text."""
    value = _FOLD.sub(" ", value).replace("\r", "").replace("\n", " ")
    if value.isascii():
        return value
    try:
        return value.encode("ascii", "surrogateescape").decode("utf-8")
    except UnicodeError as exc:
        if header in _ADDRESS_HEADERS:
            raise MessageError(f"undecodable {header.title()} header") from exc
        return value.encode("ascii", "surrogateescape").decode("latin-1")


def _words(value: str) -> str:
    """Decode RFC 2047 encoded words; on a broken one, keep the raw text."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (UnicodeError, LookupError, ValueError, binascii.Error):
        return value


_SIMPLE_ADDRESS = re.compile(r"\s*(?:([^<>]*?)\s*<([^<>\s]+)>|([^<>\s]+))\s*")
_COMPLEX = re.compile(r'["()\\;:\[\]]')


def address_pairs(values: list[str]) -> list[tuple[str, str]]:
    """(name, address) pairs; plain ``Name <a@b>, c@d`` lists skip the full RFC 5322 parser."""
    joined = ", ".join(values)
    if _COMPLEX.search(joined):  # quotes, comments, groups: the standard library's parser
        return parse_address_list(values)
    out: list[tuple[str, str]] = []
    for part in joined.split(","):
        if not part.strip():
            continue
        found = _SIMPLE_ADDRESS.fullmatch(part)
        if found is None:
            return parse_address_list(values)
        email = normalise_email(found.group(2) or found.group(3))
        if email:
            out.append(((found.group(1) or "").strip(), email))
    return out


def _parties(values: list[str]) -> list[Party]:
    seen: set[str] = set()
    out: list[Party] = []
    for name, email in address_pairs(values):
        if email not in seen:
            seen.add(email)
            out.append(Party(email, _words(name).strip().strip('"').strip()))
    return out


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _thread_index_key(value: str | None) -> str | None:
    """Outlook's Thread-Index of a reply (more than 22 bytes): the first 22 name the thread.

    Used only when a reply carries neither References nor In-Reply-To, so that
    such replies at least share a thread with each other.
    """
    if not value:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return "thread-index:" + raw[:22].hex() if len(raw) > 22 else None


def looks_like_headers(head: bytes) -> bool:
    """Does this block start like a mail header (or an mbox From_ line)?"""
    first = head.lstrip(b"\r\n")[:200]
    if b"\x00" in first:
        return False
    return first.startswith(b"From ") or bool(_HEADER_LINE.match(first))


def _headers(msg: Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = name.strip().lower()
        if key in _WANTED:
            out.setdefault(key, []).append(_utf8(str(value), key))
    return out


def parse_header_block(block: bytes, *, fallback_date: datetime | None = None) -> InteractionRecord:
    """The header block of one message (bytes up to the first empty line)."""
    if not looks_like_headers(block):
        raise MessageError("not an e-mail message (no header block)")
    if block.startswith(b"From "):  # a leading mbox From_ line
        first, _, block = block.partition(b"\n")
        fallback_date = fallback_date or from_line_date(first)
    return record_from_headers(_headers(_PARSER.parsebytes(block)), fallback_date=fallback_date)


def record_from_headers(
    h: dict[str, list[str]], *, fallback_date: datetime | None = None
) -> InteractionRecord:
    """Map lower-cased header names (each with its values) to an interaction."""

    def one(name: str) -> str | None:
        values = h.get(name)
        return values[0] if values else None

    froms = _parties(h.get("from", []))
    senders = _parties(h.get("sender", []))
    to, cc, bcc = (_parties(h.get(k, [])) for k in ("to", "cc", "bcc"))
    author = froms[0] if froms else (senders[0] if senders else None)
    if author is None and not (to or cc or bcc):
        raise MessageError("no From and no recipients")
    sent_by = senders[0] if senders and author and senders[0].email != author.email else None

    occurred_at = _date(one("date")) or fallback_date
    if occurred_at is None:
        raise MessageError("missing or unparsable Date header")

    subject = _words(one("subject") or "").strip()
    own_id = normalise_message_id(one("message-id"))
    if own_id is None:
        digest = hashlib.sha256(
            "\x1f".join(
                [
                    occurred_at.isoformat(),
                    author.email if author else "",
                    ",".join(sorted(p.email for p in [*to, *cc])),
                    normalise_subject(subject),
                ]
            ).encode("utf-8")
        ).hexdigest()
        source_key = "sha256:" + digest
    else:
        source_key = own_id

    references = message_ids(" ".join(h.get("references", [])))
    in_reply_to = normalise_message_id(one("in-reply-to"))
    parent_key = in_reply_to or (references[-1] if references else None)
    if references:
        thread_key = references[0]
    elif in_reply_to:
        thread_key = in_reply_to
    else:  # a thread's first message, or an Outlook reply that lost its References
        thread_key = _thread_index_key(one("thread-index")) or source_key

    auto_submitted = (one("auto-submitted") or "").strip().lower()
    precedence = (one("precedence") or "").strip().lower()
    content_type = (one("content-type") or "").strip().lower()
    automated = (
        (bool(auto_submitted) and not auto_submitted.startswith("no"))
        or "x-autoreply" in h
        or "x-autorespond" in h
        or "x-auto-response-suppress" in h
        or precedence == "auto_reply"
        or content_type.startswith("multipart/report")
    )
    return InteractionRecord(
        kind=Kind.EMAIL,
        source_key=source_key,
        occurred_at=occurred_at,
        author=author,
        sent_by=sent_by,
        to=to,
        cc=cc,
        bcc=bcc,
        thread_key=thread_key,
        parent_key=parent_key,
        automated=automated,
        bulk=precedence in _BULK_PRECEDENCE,
        is_list="list-id" in h or "list-unsubscribe" in h or "list-post" in h,
        subject=subject or None,
        origin="import",
    )


def read_header_block(stream: BinaryIO) -> bytes:
    """Read lines up to the first empty one (a message's header block), no further."""
    lines: list[bytes] = []
    for line in stream:
        if line in (b"\n", b"\r\n"):
            break
        lines.append(line)
    return b"".join(lines)
