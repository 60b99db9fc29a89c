"""Single-message files (.eml or any extension), alone or in folder trees.

A file may start with an mbox ``From `` line; such a file is read as an mbox,
so one holding several messages (a Thunderbird folder inside a tree) works too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from signals.importers.items import Item, Skipped
from signals.importers.mail import MessageError, parse_header_block, read_header_block
from signals.importers.report import ImportProblem


def read_message_file(path: Path) -> Iterator[Item]:
    """The one message in ``path`` (only its header block is read)."""
    try:
        with path.open("rb") as stream:
            block = read_header_block(stream)
    except OSError as exc:
        yield Skipped(ImportProblem(str(path), f"cannot read: {exc.strerror or exc}"))
        return
    try:
        yield parse_header_block(block)
    except MessageError as exc:
        yield Skipped(ImportProblem(str(path), str(exc)))
