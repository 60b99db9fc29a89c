"""What one check found: a plain result, printed as text or JSON by `whoknows doctor`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Check:
    """One finding. ``fix`` says exactly what to change, where, and why."""

    family: str
    name: str
    status: Status
    found: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = str(self.status)
        return out


def ok(family: str, name: str, found: str) -> Check:
    return Check(family, name, Status.OK, found)


def warning(family: str, name: str, found: str, fix: str) -> Check:
    return Check(family, name, Status.WARNING, found, fix)


def failure(family: str, name: str, found: str, fix: str) -> Check:
    return Check(family, name, Status.FAILURE, found, fix)


@dataclass
class Options:
    """What the administrator asked for on the command line."""

    endpoint: str | None = None
    package: Path | None = None
    db_url: str | None = None
    sample: int = 20
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def blocking(checks: list[Check]) -> bool:
    """Anything that stops the installation from working (exit code 1)."""
    return any(c.status is Status.FAILURE for c in checks)


@dataclass
class Shared:
    """What one family of checks learnt that a later one needs."""

    graph_token: bool = False
    roles: frozenset[str] | None = None
    """The Graph token's application roles; None when no token or unreadable."""
    readable_mailbox: str = ""
    """A mailbox (user id) whose mail metadata was read."""
    confirmed: set[str] = field(default_factory=set)
    """Permissions proven by reading, though not in the token (Exchange RBAC grants)."""
