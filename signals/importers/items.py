"""What a file importer yields: an interaction, a CRM entry, or a skipped item."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from signals.crm import CrmEntry
from signals.importers.report import ImportProblem
from signals.records import InteractionRecord


@dataclass(frozen=True, slots=True)
class Skipped:
    """An item read but not stored; ``problem`` is None when nothing was wrong with it."""

    problem: ImportProblem | None = None


Item = InteractionRecord | CrmEntry | Skipped
Progress = Callable[[int], object]  # called with a number of bytes read


def no_progress(_nbytes: int) -> None:
    """The default progress callback."""
