"""CSV leads and contacts (columns in docs/import-formats.md) -> CrmEntry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from signals.addresses import normalise_email
from signals.crm import CrmEntry
from signals.importers.csv_common import rows
from signals.importers.items import Item, Skipped
from signals.importers.report import ImportProblem

EMAIL_COLUMNS = ("email", "email2", "email3")
TYPES = {"lead": "lead", "contact": "contact", "": "lead"}


class RowError(ValueError):
    """This row cannot be imported; the text says why."""


def crm_entry(row: dict[str, str]) -> CrmEntry:
    crm_id = row.get("crm_id", "")
    if not crm_id:
        raise RowError("empty crm_id")
    kind = TYPES.get(row.get("type", "").lower())
    if kind is None:
        raise RowError(f"type must be lead or contact, not {row.get('type')!r}")
    emails: list[str] = []
    for column in EMAIL_COLUMNS:
        raw = row.get(column, "")
        if not raw:
            continue
        email = normalise_email(raw)
        if email is None:
            raise RowError(f"{column} is not an e-mail address: {raw!r}")
        if email not in emails:
            emails.append(email)
    full_name = row.get("full_name", "")
    if not full_name and not emails:
        raise RowError("neither full_name nor email")
    owner = row.get("owner", "")
    return CrmEntry(
        source=kind,
        crm_id=crm_id,
        full_name=full_name,
        emails=emails,
        company_name=row.get("company") or None,
        topic=row.get("topic") or None,
        phone=row.get("phone") or None,
        owner_email=normalise_email(owner) if owner else None,
    )


def read_crm(path: Path) -> Iterator[Item]:
    for line, row in rows(path):
        try:
            yield crm_entry(row)
        except RowError as exc:
            yield Skipped(ImportProblem(str(path), str(exc), line=line))
