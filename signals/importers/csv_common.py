"""Reading the CSV files we import: normalised headers and row line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

CALL_COLUMNS = frozenset({"start", "caller"})
CRM_COLUMNS = frozenset({"crm_id"})


def normalise_header(name: str) -> str:
    """'Call ID' -> 'call_id'; a UTF-8 BOM and surrounding spaces are dropped."""
    return "_".join(name.replace("\ufeff", "").strip().lower().replace("-", " ").split())


def read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        first = next(csv.reader(stream), [])
    return [normalise_header(h) for h in first]


def csv_kind(header: list[str]) -> str | None:
    """'calls' or 'crm' from a CSV header (see docs/import-formats.md), else None."""
    columns = set(header)
    if columns >= CRM_COLUMNS:
        return "crm"
    if columns >= CALL_COLUMNS and columns & {"callee", "callees"}:
        return "calls"
    return None


def rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) with normalised column names and stripped values."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = [normalise_header(h) for h in next(reader, [])]
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue
            values = {
                name: (raw[i].strip() if i < len(raw) else "") for i, name in enumerate(header)
            }
            yield reader.line_num, values
