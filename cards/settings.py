"""Settings of the cards: page sizes and the introduction template."""

from __future__ import annotations

from signals.config import declare

SECTION = "Cards"

DEFAULT_INTRO_TEMPLATE = (
    "Hi {colleague_first},\n\n"
    "Could you introduce me to {lead}[ at {company}][ about {topic}]? "
    "Whoknows shows that you have been in contact with them. "
    "If you don't know them well enough, just say so.\n\n"
    "Thanks,\n{requester}"
)
"""Says only what the data shows: that there was contact, not how close it is."""

SUMMARY_SIZE = declare(
    "cards_summary_size",
    5,
    "How many colleagues the summary card shows before offering the list view.",
    section=SECTION,
)
LIST_PAGE_SIZE = declare(
    "cards_list_page_size",
    10,
    "Colleagues per page of the list view (at most 15, to stay within the Teams card size).",
    section=SECTION,
)
INTRO_TEMPLATE = declare(
    "intro_template",
    DEFAULT_INTRO_TEMPLATE,
    "Introduction request pre-filled in the compose card. Placeholders: {requester} {colleague}"
    " {colleague_first} {lead} {company} {topic}; text in [square brackets] is left out when a"
    " placeholder inside it is empty; `\\n` is a line break.",
    section=SECTION,
)
