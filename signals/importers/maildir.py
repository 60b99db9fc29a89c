"""Maildir folders: one message per file under ``cur/`` and ``new/``.

Maildir++ subfolders (``.Sent``, ``.Archive.2024`` ...) are folders of the same
shape inside the root; ``tmp/`` holds half-delivered messages and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def maildir_files(root: Path) -> Iterator[Path]:
    """Message files of a maildir and its Maildir++ subfolders, in a stable order."""
    folders = [root, *sorted(p for p in root.iterdir() if p.name.startswith(".") and is_maildir(p))]
    for folder in folders:
        for sub in ("cur", "new"):
            for file in sorted((folder / sub).iterdir()):
                if file.is_file() and not file.name.startswith("."):
                    yield file
