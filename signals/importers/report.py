"""What an import did: counts and the problems it stepped over.

``ImportReport.as_json()`` is the stable shape printed by ``whoknows import --json``::

    {"files": N, "messages": N, "new_interactions": N, "duplicates": N,
     "skipped": N, "errors": [{"path": ..., "error": ...}, ...]}

Each error always has ``path`` and ``error``; it also has ``message_index``
(0-based position of the message in an mbox file), ``event_index`` (0-based
position of the event in a .ics file) or ``line`` (1-based line of a CSV row)
when the problem is one item of a file rather than the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from signals.ingest import IngestStats


@dataclass(frozen=True, slots=True)
class ImportProblem:
    path: str
    error: str
    message_index: int | None = None
    event_index: int | None = None
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        for key in ("message_index", "event_index", "line"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["error"] = self.error
        return out


@dataclass
class ImportReport:
    """``messages`` counts every item read (e-mails, events, calls, CRM rows).

    Interactions end up in ``new_interactions`` or ``duplicates``; items that
    were read but not stored are ``skipped`` (unreadable ones are also listed
    in ``errors``; an event without attendees is skipped without an error).
    CRM rows are upserted, counted in ``messages`` and ``crm_records``.
    """

    files: int = 0
    messages: int = 0
    new_interactions: int = 0
    duplicates: int = 0
    skipped: int = 0
    crm_records: int = 0
    new_people: int = 0
    lists_flagged: int = 0
    lists_skipped: bool = False  # an inbox-only export: "never sends" proves nothing
    # Connections recomputed at the end for messages that came out of time order
    # (``rebuilt``: all of them, when that was cheaper).
    refreshed_pairs: int = 0
    rebuilt: bool = False
    errors: list[ImportProblem] = field(default_factory=list)

    def add_stats(self, stats: IngestStats) -> None:
        self.new_interactions += stats.new_interactions
        self.duplicates += stats.duplicates
        self.new_people += stats.new_people

    def problem(self, problem: ImportProblem) -> None:
        """An item that could not be read: skipped and listed."""
        self.skipped += 1
        self.errors.append(problem)

    def as_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "messages": self.messages,
            "new_interactions": self.new_interactions,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "errors": [e.as_json() for e in self.errors],
        }

    def summary(self) -> str:
        """A short human summary."""
        lines = [
            f"{self.files} file(s), {self.messages} item(s) read: "
            f"{self.new_interactions} new interaction(s), {self.duplicates} already known, "
            f"{self.skipped} skipped."
        ]
        if self.crm_records:
            lines.append(f"{self.crm_records} CRM lead(s)/contact(s) updated.")
        if self.new_people:
            lines.append(f"{self.new_people} new address(es) seen.")
        if self.rebuilt:
            lines.append("Connections recomputed: messages arrived out of time order.")
        elif self.refreshed_pairs:
            lines.append(
                f"{self.refreshed_pairs} connection(s) recomputed for messages that arrived "
                "out of time order."
            )
        if self.lists_skipped:
            lines.append(
                "No sent mail in these mailboxes: mailing lists and aliases were not looked for "
                "(everyone would look like one)."
            )
        if self.errors:
            lines.append(f"{len(self.errors)} problem(s):")
            for e in self.errors[:20]:
                where = ""
                if e.message_index is not None:
                    where = f" message #{e.message_index}"
                elif e.event_index is not None:
                    where = f" event #{e.event_index}"
                elif e.line is not None:
                    where = f" line {e.line}"
                lines.append(f"  {e.path}{where}: {e.error}")
            if len(self.errors) > 20:
                lines.append(f"  ... and {len(self.errors) - 20} more (see --json)")
        return "\n".join(lines)
