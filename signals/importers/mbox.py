"""mbox files: messages separated by ``From `` lines, read as a stream.

Only header blocks are kept; body lines are skipped as they stream past, so
a multi-gigabyte mbox needs no more memory than its longest header. A
``From `` line separates messages when it starts the file or follows an
empty line (mboxo/mboxrd writers escape body lines as ``>From``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from signals.importers.items import Item, Progress, Skipped, no_progress
from signals.importers.mail import MessageError, from_line_date, parse_header_block
from signals.importers.report import ImportProblem

PROGRESS_EVERY = 1 << 20


def header_blocks(path: Path, progress: Progress = no_progress) -> Iterator[tuple[bytes, bytes]]:
    """(From_ line, header block) for each message of an mbox file."""
    with path.open("rb") as stream:
        from_line = b""
        head: list[bytes] = []
        in_headers = True
        started = False
        previous_blank = True
        unreported = 0
        for line in stream:
            unreported += len(line)
            if line.startswith(b"From ") and previous_blank:
                if started:
                    yield from_line, b"".join(head)
                    if unreported >= PROGRESS_EVERY:
                        progress(unreported)
                        unreported = 0
                from_line, head, in_headers, started = line, [], True, True
                previous_blank = False
                continue
            blank = line in (b"\n", b"\r\n")
            if not started:  # text before the first From_ line: a message without one
                started = True
                from_line = b""
            if in_headers:
                if blank:
                    in_headers = False
                else:
                    head.append(line)
            previous_blank = blank
        if started:
            yield from_line, b"".join(head)
        progress(unreported)


def read_mbox(path: Path, progress: Progress = no_progress) -> Iterator[Item]:
    for index, (from_line, block) in enumerate(header_blocks(path, progress)):
        try:
            yield parse_header_block(block, fallback_date=from_line_date(from_line))
        except MessageError as exc:
            yield Skipped(ImportProblem(str(path), str(exc), message_index=index))
