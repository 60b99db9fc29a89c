"""File importers: mbox, maildir, folders of messages, .ics, CSV call logs and CRM lists.

Each reader turns a file into items (:mod:`signals.importers.items`);
:mod:`signals.importers.run` writes them with :class:`signals.ingest.Writer`.
The formats are documented in docs/import-formats.md.
"""

from signals.importers.detect import MissingPath, Source, plan
from signals.importers.report import ImportProblem, ImportReport
from signals.importers.run import import_paths, import_sources

__all__ = [
    "ImportProblem",
    "ImportReport",
    "MissingPath",
    "Source",
    "import_paths",
    "import_sources",
    "plan",
]
