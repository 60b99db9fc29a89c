"""Generated test data for the importers: messages, mboxes, maildirs, .ics and CSV.

Everything is fictional (contoso.com colleagues, fourthcoffee.com and
fabrikam.com contacts); nothing comes from real mail.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRICIA = "Tricia Potter <tricia.potter@contoso.com>"
BLAINE = "Blaine Carmack <blaine.carmack@contoso.com>"
YVONNE = "Yvonne McKay <yvonne.mckay@fourthcoffee.com>"
ALEX = "Alex Dunn <alex.dunn@fabrikam.com>"


def message(
    *,
    msgid: str | None = "m1@contoso.com",
    sender: str | None = TRICIA,
    to: Sequence[str] = (YVONNE,),
    cc: Sequence[str] = (),
    subject: str = "Coffee machines",
    date: datetime | None = T0,
    extra: Iterable[tuple[str, str]] = (),
    body: str = "Hello,\n\nthis body must never reach the store.\n",
    from_line: bool = False,
    crlf: bool = False,
) -> bytes:
    """One RFC 822 message."""
    lines: list[str] = []
    if from_line:
        lines.append("From tricia.potter@contoso.com Mon Mar  2 09:00:00 2026")
    if sender is not None:
        lines.append(f"From: {sender}")
    if to:
        lines.append("To: " + ",\n\t".join(to))
    if cc:
        lines.append("Cc: " + ", ".join(cc))
    lines.append(f"Subject: {subject}")
    if date is not None:
        lines.append(f"Date: {format_datetime(date)}")
    if msgid is not None:
        lines.append(f"Message-ID: <{msgid}>")
    lines.extend(f"{k}: {v}" for k, v in extra)
    lines.append("MIME-Version: 1.0")
    lines.append("Content-Type: text/plain; charset=utf-8")
    text = "\n".join(lines) + "\n\n" + body
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8")


def conversation(n: int, *, prefix: str = "c", start: datetime = T0) -> list[bytes]:
    """``n`` messages alternating Tricia -> Yvonne and replies, in one thread."""
    out: list[bytes] = []
    refs: list[str] = []
    for i in range(n):
        mine = f"{prefix}{i}@contoso.com" if i % 2 == 0 else f"{prefix}{i}@fourthcoffee.com"
        extra: list[tuple[str, str]] = []
        if refs:
            extra.append(("In-Reply-To", f"<{refs[-1]}>"))
            extra.append(("References", " ".join(f"<{r}>" for r in refs)))
        out.append(
            message(
                msgid=mine,
                sender=TRICIA if i % 2 == 0 else YVONNE,
                to=(YVONNE,) if i % 2 == 0 else (TRICIA,),
                subject=("Re: " if refs else "") + "New store",
                date=start + timedelta(hours=i),
                extra=extra,
                body="From the start: a body line that looks like a separator.\n",
            )
        )
        refs.append(mine)
    return out


def write_mbox(path: Path, messages: Iterable[bytes]) -> Path:
    """An mboxrd file: body lines starting with 'From ' are escaped as '>From '."""
    with path.open("wb") as out:
        for i, raw in enumerate(messages):
            head, sep, body = raw.partition(b"\n\n")
            body = b"\n".join(
                b">" + line if line.startswith(b"From ") else line for line in body.split(b"\n")
            )
            out.write(b"From sender@example.invalid Mon Mar  2 09:%02d:00 2026\n" % (i % 60))
            out.write(head + sep + body)
            if not body.endswith(b"\n"):
                out.write(b"\n")
            out.write(b"\n")
    return path


def write_tree(root: Path, messages: Iterable[bytes], *, ext: str = ".eml") -> Path:
    """A folder tree of single-message files, two levels deep."""
    for i, raw in enumerate(messages):
        folder = root / f"folder{i % 2}" / f"sub{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"msg{i:04d}{ext}").write_bytes(raw)
    return root


def write_maildir(root: Path, messages: Iterable[bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(messages):
        (root / ("cur" if i % 2 else "new") / f"{1700000000 + i}.M{i}P1.host:2,S").write_bytes(raw)
    return root


def vevent(
    uid: str,
    *,
    start: str = "20260305T100000Z",
    end: str = "20260305T110000Z",
    organiser: str = "tricia.potter@contoso.com",
    attendees: Sequence[tuple[str, str]] = (("yvonne.mckay@fourthcoffee.com", "ACCEPTED"),),
    extra: Sequence[str] = (),
) -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260301T000000Z",
        f"DTSTART:{start}",
        f"DTEND:{end}",
        "SUMMARY:Coffee tasting",
        f'ORGANIZER;CN="Tricia Potter":mailto:{organiser}',
        *(f"ATTENDEE;PARTSTAT={stat};RSVP=TRUE:mailto:{email}" for email, stat in attendees),
        *extra,
        "END:VEVENT",
    ]
    return "\r\n".join(lines)


def write_ics(path: Path, events: Iterable[str], *, method: str | None = None) -> Path:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//whoknows tests//EN"]
    if method:
        head.append(f"METHOD:{method}")
    path.write_text("\r\n".join([*head, *events, "END:VCALENDAR"]) + "\r\n", encoding="utf-8")
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path
