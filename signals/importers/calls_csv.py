"""CSV call logs: one row per call (columns in docs/import-formats.md)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from signals.addresses import normalise_email
from signals.importers.csv_common import rows
from signals.importers.items import Item, Skipped
from signals.importers.report import ImportProblem
from signals.models import Kind, Response
from signals.records import Attendee, InteractionRecord, Party

_SPLIT = re.compile(r"[;,]")


class RowError(ValueError):
    """This row cannot be imported; the text says why."""


def parse_start(value: str) -> datetime:
    """ISO 8601; a trailing Z is UTC, no offset is read as UTC."""
    if not value:
        raise RowError("empty start")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise RowError(f"start is not an ISO 8601 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _split(value: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(value)] if value else []


def call_record(row: dict[str, str]) -> InteractionRecord:
    start = parse_start(row.get("start", ""))
    caller = normalise_email(row.get("caller", ""))
    if caller is None:
        raise RowError(f"caller is not an e-mail address: {row.get('caller', '')!r}")
    raw_duration = row.get("duration_seconds", "")
    duration: int | None = None
    if raw_duration:
        try:
            duration = max(0, round(float(raw_duration)))
        except ValueError as exc:
            raise RowError(f"duration_seconds is not a number: {raw_duration!r}") from exc
    addresses = _split(row.get("callees", "")) + _split(row.get("callee", ""))
    names = _split(row.get("callee_names", "")) + _split(row.get("callee_name", ""))
    response = Response.ACCEPTED if duration else Response.NONE
    callees: list[Attendee] = []
    seen = {caller}
    for i, raw in enumerate(addresses):
        email = normalise_email(raw)
        if email is None:
            raise RowError(f"callee is not an e-mail address: {raw!r}")
        if email not in seen:
            seen.add(email)
            callees.append(Attendee(email, names[i] if i < len(names) else "", response))
    if not callees:
        raise RowError("no callee")
    call_id = row.get("call_id", "")
    if call_id:
        key = f"call:{call_id}"
    else:
        basis = "\x1f".join([start.isoformat(), caller, *sorted(seen)])
        key = "call:sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()
    return InteractionRecord(
        kind=Kind.CALL,
        source_key=key,
        occurred_at=start,
        author=Party(caller, row.get("caller_name", "")),
        attendees=callees,
        duration_seconds=duration,
        origin="import",
    )


def read_calls(path: Path) -> Iterator[Item]:
    for line, row in rows(path):
        try:
            yield call_record(row)
        except RowError as exc:
            yield Skipped(ImportProblem(str(path), str(exc), line=line))
