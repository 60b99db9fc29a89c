"""Graph JSON -> what the store takes: messages, events and call records become
:class:`InteractionRecord`, users become :class:`DirectoryPerson`.

Metadata only: the ``$select`` lists below never name a body, a preview or an
attachment, which is what Mail.ReadBasic.All and Calendars.ReadBasic.All allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from signals.addresses import normalise_email
from signals.directory import DirectoryPerson
from signals.models import Kind, Response
from signals.records import Attendee, InteractionRecord, Party

ORIGIN = "graph"

MESSAGE_FIELDS = (
    "id",
    "internetMessageId",
    "conversationId",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "sentDateTime",
    "receivedDateTime",
    "isDraft",
    "meetingMessageType",
    "inferenceClassification",
)
EVENT_FIELDS = (
    "id",
    "iCalUId",
    "subject",
    "start",
    "end",
    "isCancelled",
    "type",
    "organizer",
    "attendees",
)
USER_FIELDS = (
    "id",
    "displayName",
    "mail",
    "userPrincipalName",
    "proxyAddresses",
    "jobTitle",
    "department",
    "businessPhones",
    "mobilePhone",
    "accountEnabled",
)
CALL_FIELDS = ("id", "type", "startDateTime", "endDateTime", "organizer", "participants")

_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "tentativelyaccepted": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "organizer": Response.ORGANIZER,
}
_FRACTION = re.compile(r"\.(\d+)")


def message_select(*, inbox: bool, subjects: bool) -> str:
    """``$select`` for a mail folder; message headers exist for received mail only."""
    fields = list(MESSAGE_FIELDS)
    if inbox:
        fields.append("internetMessageHeaders")
    if subjects:
        fields.append("subject")
    return ",".join(fields)


def parse_time(raw: str | None, zone: str | None = None) -> datetime | None:
    """Graph's ISO times (up to 7 fractional digits, 'Z' or no offset = UTC)."""
    if not raw:
        return None
    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), raw.strip())
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if zone not in (None, "", "UTC", "Etc/UTC", "tzone://Microsoft/Utc"):
            return None  # we always ask for UTC (Prefer: outlook.timezone="UTC")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _party(value: Any) -> Party | None:
    if not isinstance(value, Mapping):
        return None
    address = value.get("emailAddress") or {}
    email = normalise_email(str(address.get("address") or ""))
    if email is None:
        return None
    return Party(email, str(address.get("name") or "").strip())


def _parties(values: Any) -> list[Party]:
    out: list[Party] = []
    for value in values or []:
        party = _party(value)
        if party is not None and all(p.email != party.email for p in out):
            out.append(party)
    return out


def _headers(msg: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in msg.get("internetMessageHeaders") or []
        if isinstance(h, Mapping)
    }


def is_removed(item: Mapping[str, Any]) -> bool:
    return "@removed" in item


def message_record(msg: Mapping[str, Any], *, mailbox: str) -> InteractionRecord | None:
    """One mail message, or None for drafts, meeting notices and unusable items."""
    if msg.get("isDraft") or msg.get("meetingMessageType") not in (None, "none"):
        return None
    author = _party(msg.get("from"))
    occurred = parse_time(msg.get("sentDateTime")) or parse_time(msg.get("receivedDateTime"))
    if author is None or occurred is None:
        return None
    sender = _party(msg.get("sender"))
    headers = _headers(msg)
    auto = headers.get("auto-submitted", "no").strip().lower()
    precedence = headers.get("precedence", "").strip().lower()
    key = str(msg.get("internetMessageId") or "").strip() or f"graph:{msg.get('id')}"
    parent = headers.get("in-reply-to", "").strip() or None
    return InteractionRecord(
        kind=Kind.EMAIL,
        source_key=key,
        occurred_at=occurred,
        author=author,
        sent_by=sender if sender is not None and sender.email != author.email else None,
        to=_parties(msg.get("toRecipients")),
        cc=_parties(msg.get("ccRecipients")),
        bcc=_parties(msg.get("bccRecipients")),
        thread_key=str(msg.get("conversationId") or "") or None,
        parent_key=parent.split()[0] if parent else None,
        automated=auto not in ("", "no"),
        bulk=precedence in ("bulk", "list", "junk"),
        is_list="list-id" in headers,
        subject=msg.get("subject"),
        origin=ORIGIN,
        mailbox=mailbox,
    )


def event_record(
    event: Mapping[str, Any], *, mailbox: str, now: datetime
) -> InteractionRecord | None:
    """One held (or cancelled) meeting occurrence; future ones and series masters wait."""
    if event.get("type") == "seriesMaster":
        return None
    start_raw = event.get("start") or {}
    end_raw = event.get("end") or {}
    start = parse_time(start_raw.get("dateTime"), start_raw.get("timeZone"))
    end = parse_time(end_raw.get("dateTime"), end_raw.get("timeZone"))
    organizer = _party(event.get("organizer"))
    if start is None or organizer is None or start > now:
        return None
    attendees: list[Attendee] = []
    for raw in event.get("attendees") or []:
        if not isinstance(raw, Mapping) or raw.get("type") == "resource":
            continue
        party = _party(raw)
        if party is None or party.email == organizer.email:
            continue
        if any(a.email == party.email for a in attendees):
            continue
        status = (raw.get("status") or {}).get("response") or "none"
        attendees.append(
            Attendee(party.email, party.name, _RESPONSES.get(str(status).lower(), Response.NONE))
        )
    uid = str(event.get("iCalUId") or event.get("id") or "")
    return InteractionRecord(
        kind=Kind.MEETING,
        source_key=f"{uid}/{start.isoformat()}",
        occurred_at=start,
        author=organizer,
        attendees=attendees,
        cancelled=bool(event.get("isCancelled")),
        duration_seconds=int((end - start).total_seconds()) if end is not None else None,
        subject=event.get("subject"),
        origin=ORIGIN,
        mailbox=mailbox,
    )


def _identity_user(identity_set: Any) -> str | None:
    if not isinstance(identity_set, Mapping):
        return None
    user = identity_set.get("user")
    if isinstance(user, Mapping) and user.get("id"):
        return str(user["id"])
    return None


def call_record(call: Mapping[str, Any], people: Mapping[str, Party]) -> InteractionRecord | None:
    """A Teams call; participants are Entra ids, mapped to addresses through the directory."""
    start = parse_time(call.get("startDateTime"))
    end = parse_time(call.get("endDateTime"))
    organizer_id = _identity_user(call.get("organizer"))
    author = people.get(organizer_id) if organizer_id else None
    if start is None or author is None:
        return None
    attendees: list[Attendee] = []
    for raw in call.get("participants") or []:
        uid = _identity_user(raw)
        party = people.get(uid) if uid else None
        if party is None or party.email == author.email:
            continue
        if all(a.email != party.email for a in attendees):
            attendees.append(Attendee(party.email, party.name, Response.ACCEPTED))
    if not attendees:
        return None
    return InteractionRecord(
        kind=Kind.CALL,
        source_key=f"call:{call.get('id')}",
        occurred_at=start,
        author=author,
        attendees=attendees,
        duration_seconds=int((end - start).total_seconds()) if end is not None else None,
        origin=ORIGIN,
    )


def user_emails(user: Mapping[str, Any]) -> list[str]:
    """Primary address first, then every SMTP proxy address."""
    raw: list[str] = []
    if user.get("mail"):
        raw.append(str(user["mail"]))
    proxies = [str(p) for p in user.get("proxyAddresses") or []]
    raw += [p[5:] for p in proxies if p.startswith("SMTP:")]
    raw += [p[5:] for p in proxies if p.lower().startswith("smtp:") and not p.startswith("SMTP:")]
    out: list[str] = []
    for value in raw:
        email = normalise_email(value)
        if email and email not in out:
            out.append(email)
    return out


def is_guest(user: Mapping[str, Any], stored: bool = False) -> bool:
    """Entra ``userType`` Guest (a B2B account); a delta update without the property
    keeps what the store knows."""
    if "userType" in user:
        return user.get("userType") == "Guest"
    return stored


def directory_person(user: Mapping[str, Any]) -> DirectoryPerson:
    phones: Iterable[str] = [*(user.get("businessPhones") or []), user.get("mobilePhone") or ""]
    phone = next((str(p) for p in phones if p), None)
    return DirectoryPerson(
        emails=user_emails(user),
        display_name=str(user.get("displayName") or user.get("userPrincipalName") or ""),
        title=user.get("jobTitle"),
        department=user.get("department"),
        phone=phone,
        entra_id=str(user["id"]),
        upn=user.get("userPrincipalName"),
        enabled=user.get("accountEnabled") is not False,
        guest=is_guest(user),
    )
