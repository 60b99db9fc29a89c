"""Which importer a path needs, and which files a folder holds.

Files: ``.ics``/``.ical`` or content starting ``BEGIN:VCALENDAR`` -> calendar;
``.csv`` -> call log or CRM list, told apart by the header; ``.mbox``/``.mbx``
or content starting with an mbox ``From `` line -> mbox; anything else is
one RFC 822 message. Folders: a maildir (``cur/`` and ``new/``) is read as
one; any other folder is walked, every file classified as above. In walked
folders, hidden files and the index files of mail programs are passed over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path

from signals.importers.csv_common import csv_kind, read_header
from signals.importers.maildir import is_maildir, maildir_files

MBOX, MESSAGE, ICS, CALLS, CRM, UNKNOWN_CSV = "mbox", "message", "ics", "calls", "crm", "csv"
IGNORED = (
    "*.msf",
    "*.dat",
    "*.db",
    "*.sqlite",
    "*.json",
    "*.index",
    "dovecot*",
    "maildirfolder",
    "subscriptions",
    "courierimap*",
    "desktop.ini",
    "thumbs.db",
)


class MissingPath(FileNotFoundError):
    """A path given to import does not exist."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no such file or folder: {path}")
        self.path = path


@dataclass(frozen=True, slots=True)
class Source:
    """One file to read; ``mailbox`` names the mailbox it belongs to (a folder tree
    below the imported path, or the file itself), for guessing whose mail it is."""

    path: Path
    kind: str
    size: int
    mailbox: str = ""


def _sniff(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(64).lstrip(b"\xef\xbb\xbf\r\n\t ")
    except OSError:
        return b""


def kind_of_file(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".ics", ".ical", ".ifb"}:
        return ICS
    if suffix == ".csv":
        try:
            return csv_kind(read_header(path)) or UNKNOWN_CSV
        except (OSError, UnicodeError, ValueError):
            return UNKNOWN_CSV
    if suffix in {".mbox", ".mbx"}:
        return MBOX
    head = _sniff(path)
    if head.upper().startswith(b"BEGIN:VCALENDAR"):
        return ICS
    if head.startswith(b"From "):
        return MBOX
    return MESSAGE


def _ignored(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or any(fnmatch(lowered, pattern) for pattern in IGNORED)


def _source(path: Path, kind: str | None = None) -> Source:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return Source(path, kind or kind_of_file(path), size)


def _walk(root: Path) -> list[Source]:
    if is_maildir(root):
        return [_source(p, MESSAGE) for p in maildir_files(root)]
    out: list[Source] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if is_maildir(here):
            out.extend(_source(p, MESSAGE) for p in maildir_files(here))
            dirs.clear()
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(_source(here / f) for f in sorted(files) if not _ignored(f))
    return out


def plan(paths: list[Path]) -> list[Source]:
    """Every file to import, classified; raises MissingPath before anything is read."""
    for path in paths:
        if not path.exists():
            raise MissingPath(path)
    out: list[Source] = []
    for path in paths:
        found = _walk(path) if path.is_dir() else [_source(path)]
        out.extend(replace(source, mailbox=mailbox_of(path, source.path)) for source in found)
    return out


def mailbox_of(root: Path, path: Path) -> str:
    """Which mailbox a file belongs to: an mbox file is one; below a folder of mailboxes
    (``maildir/<user>/...``) each first-level folder is one; else the folder is one."""
    if path == root:
        return str(path)
    parts = path.relative_to(root).parts
    if len(parts) >= 3 and not is_maildir(root):
        return str(root / parts[0])
    return str(root)
