"""Action.Execute verbs: the names the bot routes card clicks on.

Every button that changes something sends one of these as ``action.verb`` and
repeats it as ``data["verb"]`` together with ids only (keys in :data:`DATA_KEYS`).
"""

from __future__ import annotations

from typing import Final

SUMMARY: Final = "summary"
"""Show the summary card again. data: lead or company."""
DETAILS: Final = "details"
"""Show one colleague's details. data: lead or company, colleague."""
LIST: Final = "list"
"""Show a page of the list view. data: lead or company, page (1-based)."""
INTRODUCE: Final = "introduce"
"""Open the compose card. data: lead, colleague."""
SEND: Final = "send"
"""Send the introduction request. data: lead, colleague; input: note."""
SEND_EMAIL: Final = "send_email"
"""Send the request by e-mail instead (colleague not reachable in Teams). data: request."""
CANCEL: Final = "cancel"
"""Discard the compose card. data: lead, colleague."""
ACCEPT: Final = "accept"
"""The colleague is happy to introduce. data: request."""
DECLINE: Final = "decline"
"""The colleague declines. data: request."""
NOT_KNOWN: Final = "not_known"
"""The colleague does not know the lead well. data: request."""
CHOOSE: Final = "choose"
"""Pick one of several matching leads (or a suggestion). data: lead or company."""
OPT_OUT: Final = "opt_out"
"""Ask to opt out: shows the confirmation card. data: none."""
OPT_OUT_CONFIRM: Final = "opt_out_confirm"
"""Confirm the opt-out: delete the user's data. data: none."""
OPT_OUT_CANCEL: Final = "opt_out_cancel"
"""Keep the user's data. data: none."""
OPT_IN: Final = "opt_in"
"""Rejoin the connection graph. data: none."""
MY_DATA: Final = "my_data"
"""Show what the store holds about the user. data: none."""
HELP: Final = "help"
"""Show the help card. data: none."""
SHARED: Final = "shared"
"""Refresh a summary card shared by the search extension for one viewer. data: lead or company."""

ALL: Final[frozenset[str]] = frozenset(
    {
        SUMMARY, DETAILS, LIST, INTRODUCE, SEND, SEND_EMAIL, CANCEL, ACCEPT, DECLINE, NOT_KNOWN,
        CHOOSE, OPT_OUT, OPT_OUT_CONFIRM, OPT_OUT_CANCEL, OPT_IN, MY_DATA, HELP, SHARED,
    }
)  # fmt: skip

DATA_KEYS: Final[frozenset[str]] = frozenset(
    {"verb", "lead", "company", "colleague", "page", "request"}
)
"""Keys a card puts into Action.Execute data (inputs such as ``note`` are merged by Teams)."""

NOTE_INPUT: Final = "note"
"""Id of the compose card's multi-line input; its text arrives as ``data["note"]``."""
