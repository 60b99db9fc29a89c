"""iCalendar (.ics) files: each VEVENT with attendees is a meeting.

The organiser is the author; attendees carry their PARTSTAT as a response.
``STATUS:CANCELLED`` (or a ``METHOD:CANCEL`` calendar) marks it cancelled. An
event without attendees is somebody's own appointment, not an interaction: it
is skipped without an error.

Keys: ``UID`` for a single event. A recurring series is expanded up to the
time of import (future occurrences have not happened yet), at most
``MAX_OCCURRENCES``; each occurrence, and each overridden instance
(``RECURRENCE-ID``), is keyed ``UID#<recurrence id in UTC>``, so an override
replaces the occurrence it moves and a later import adds only new ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import icalendar
from dateutil.rrule import rrulestr

from signals.addresses import normalise_email
from signals.importers.items import Item, Skipped
from signals.importers.report import ImportProblem
from signals.models import Kind, Response
from signals.records import Attendee, InteractionRecord, Party

MAX_OCCURRENCES = 1000
PARTSTAT = {
    "ACCEPTED": Response.ACCEPTED,
    "TENTATIVE": Response.TENTATIVE,
    "DECLINED": Response.DECLINED,
}


class EventError(ValueError):
    """This event cannot be imported; the text says why."""


def _utc(value: date | datetime) -> datetime:
    """Aware UTC; all-day dates are midnight UTC, floating times are read as UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _recurrence_suffix(value: date | datetime) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    return _utc(value).strftime("%Y%m%dT%H%M%SZ")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _party(address: Any) -> tuple[str, str] | None:
    email = normalise_email(str(address))
    if email is None:
        return None
    params = getattr(address, "params", {})
    return email, str(params.get("CN", "")).strip().strip('"')


def _dt(event: Any, name: str) -> date | datetime | None:
    if name not in event:
        return None
    try:
        value = event.decoded(name)
    except (ValueError, KeyError, TypeError) as exc:
        raise EventError(f"unreadable {name}") from exc
    if not isinstance(value, date):  # icalendar keeps a broken value instead of failing
        raise EventError(f"unreadable {name}")
    return value


def _duration(event: Any, start: date | datetime) -> int | None:
    end = _dt(event, "DTEND")
    if end is not None and type(end) is type(start):
        return max(0, int((_utc(end) - _utc(start)).total_seconds()))
    if "DURATION" in event:
        try:
            value = event.decoded("DURATION")
        except (ValueError, KeyError, TypeError):
            return None
        if isinstance(value, timedelta):
            return max(0, int(value.total_seconds()))
    return None


def event_record(event: Any, *, cancelled_calendar: bool = False) -> InteractionRecord | None:
    """The meeting of one VEVENT (without recurrence expansion); None without attendees."""
    start = _dt(event, "DTSTART")
    if start is None:
        raise EventError("no DTSTART")
    organiser = _party(event.get("ORGANIZER")) if event.get("ORGANIZER") else None
    attendees: list[Attendee] = []
    seen: set[str] = set()
    for raw in _as_list(event.get("ATTENDEE")):
        found = _party(raw)
        if found is None or found[0] in seen:
            continue
        email, name = found
        seen.add(email)
        partstat = str(getattr(raw, "params", {}).get("PARTSTAT", "")).upper()
        response = PARTSTAT.get(partstat, Response.NONE)
        if organiser is not None and email == organiser[0]:
            continue  # organisers often list themselves as an attendee
        attendees.append(Attendee(email, name, response))
    if not attendees:
        return None
    uid = str(event.get("UID", "")).strip()
    if not uid:
        basis = "\x1f".join(
            [_utc(start).isoformat(), organiser[0] if organiser else "", *sorted(seen)]
        )
        uid = "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()
    recurrence = _dt(event, "RECURRENCE-ID")
    key = uid if recurrence is None else f"{uid}#{_recurrence_suffix(recurrence)}"
    status = str(event.get("STATUS", "")).strip().upper()
    summary = str(event.get("SUMMARY", "")).strip()
    return InteractionRecord(
        kind=Kind.MEETING,
        source_key=key,
        occurred_at=_utc(start),
        author=Party(*organiser) if organiser else None,
        attendees=attendees,
        thread_key=uid,
        cancelled=cancelled_calendar or status == "CANCELLED",
        duration_seconds=_duration(event, start),
        subject=summary or None,
        origin="import",
    )


def _occurrences(event: Any, start: date | datetime, until: datetime) -> list[date | datetime]:
    """Start times of a recurring event up to ``until`` (EXDATEs removed)."""
    rules = _as_list(event.get("RRULE"))
    if not rules:
        return []
    dtstart = start if isinstance(start, datetime) else datetime.combine(start, time(0, 0))
    limit = until if dtstart.tzinfo is not None else until.replace(tzinfo=None)
    excluded: set[datetime] = set()
    for ex in _as_list(event.get("EXDATE")):
        for item in getattr(ex, "dts", []):
            excluded.add(_utc(item.dt))
    out: list[date | datetime] = []
    for rule in rules:
        text = rule.to_ical().decode("ascii", "replace")
        try:
            for when in rrulestr(text, dtstart=dtstart):
                if when > limit or len(out) >= MAX_OCCURRENCES:
                    break
                if _utc(when) not in excluded:
                    out.append(when if isinstance(start, datetime) else when.date())
        except (ValueError, TypeError) as exc:
            raise EventError(f"unreadable RRULE: {exc}") from exc
    return sorted(set(out), key=_utc)


def _expanded(event: Any, record: InteractionRecord, until: datetime) -> list[InteractionRecord]:
    start = _dt(event, "DTSTART")
    assert start is not None
    occurrences = _occurrences(event, start, until)
    if not occurrences:
        return [record]
    uid = record.source_key
    return [
        replace(record, source_key=f"{uid}#{_recurrence_suffix(when)}", occurred_at=_utc(when))
        for when in occurrences
    ]


def _override_key(event: Any) -> str | None:
    try:
        recurrence = _dt(event, "RECURRENCE-ID")
    except EventError:
        return None
    if recurrence is None:
        return None
    return f"{str(event.get('UID', '')).strip()}#{_recurrence_suffix(recurrence)}"


def read_ics(path: Path, *, now: datetime | None = None) -> Iterator[Item]:
    until = now or datetime.now(UTC)
    try:
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
    except OSError as exc:
        yield Skipped(ImportProblem(str(path), f"cannot read: {exc.strerror or exc}"))
        return
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        yield Skipped(ImportProblem(str(path), f"not a readable iCalendar file: {exc}"))
        return
    cancelled = str(calendar.get("METHOD", "")).strip().upper() == "CANCEL"
    events = list(calendar.walk("VEVENT"))
    overridden = {k for k in map(_override_key, events) if k}
    for index, event in enumerate(events):
        try:
            record = event_record(event, cancelled_calendar=cancelled)
            if record is None:
                yield Skipped()
                continue
            if "RRULE" in event and "RECURRENCE-ID" not in event:
                for rec in _expanded(event, record, until):
                    if rec.source_key not in overridden:
                        yield rec
            else:
                yield record
        except EventError as exc:
            yield Skipped(ImportProblem(str(path), str(exc), event_index=index))
