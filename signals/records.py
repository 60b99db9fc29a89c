"""What an importer or the sync hands to the store: one parsed interaction.

Importers (mbox, .eml, .ics, CSV), the Microsoft Graph sync and the demo
generator all produce :class:`InteractionRecord`; :mod:`signals.ingest` writes
them. Metadata only: there is no field for a body or an attachment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from signals.models import Kind, Response


@dataclass(slots=True)
class Party:
    email: str
    name: str = ""


@dataclass(slots=True)
class Attendee:
    email: str
    name: str = ""
    response: Response = Response.NONE


@dataclass(slots=True)
class InteractionRecord:
    kind: Kind
    source_key: str  # Message-ID, content hash, event UID + recurrence id, call id...
    occurred_at: datetime  # timezone-aware
    author: Party | None  # From / organiser / caller / chat starter
    sent_by: Party | None = None  # Sender header when it differs from From (on behalf)
    to: list[Party] = field(default_factory=list)
    cc: list[Party] = field(default_factory=list)
    bcc: list[Party] = field(default_factory=list)
    attendees: list[Attendee] = field(default_factory=list)  # meeting/call/chat others
    thread_key: str | None = None
    parent_key: str | None = None  # the Message-ID this one replies to
    automated: bool = False
    bulk: bool = False
    is_list: bool = False
    cancelled: bool = False
    duration_seconds: int | None = None
    subject: str | None = None
    origin: str = "import"
    mailbox: str | None = None  # whose mailbox it was read from, when known
