"""Every user-facing text of whoknows, in one place to review and translate.

Plain constants for fixed texts, small functions for texts with values. The bot uses
this module too (for short replies that are not cards). Nothing here claims more than
the data shows: counts and dates are stated, closeness is never asserted.
"""

from __future__ import annotations

from datetime import date

from cards.views import DataCounts, EvidenceView, FreshnessView, Tier

APP_NAME = "Whoknows"

# --- strength -------------------------------------------------------------------------

TIER_BARS: dict[Tier, str] = {"Strong": "●●●", "Moderate": "●●○", "Weak": "●○○"}
TIER_LABELS: dict[Tier, str] = {"Strong": "Strong", "Moderate": "Moderate", "Weak": "Weak"}


def tier_badge(tier: Tier) -> str:
    """The strength indicator: bars (a cue without colour) and the label."""
    return f"{TIER_BARS[tier]} {TIER_LABELS[tier]}"


# --- numbers and dates ----------------------------------------------------------------


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def short_date(day: date) -> str:
    """A date as people write it: 3 Mar 2025."""
    return f"{day.day} {day:%b %Y}"


def days_ago(day: date, today: date) -> str:
    """A relative phrase for a past date: "today", "yesterday", "12 days ago", "5 months ago"."""
    days = (today - day).days
    if days < 0:
        return f"on {short_date(day)}"
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 45:
        return f"{days} days ago"
    if days < 365:
        return f"{plural(round(days / 30.44), 'month')} ago"
    years = days // 365
    prefix = "over " if days % 365 >= 30 else ""
    return f"{prefix}{'a year' if years == 1 else f'{years} years'} ago"


def date_with_age(day: date | None, today: date) -> str:
    """ "12 days ago (3 Mar 2025)", or a dash when unknown."""
    if day is None:
        return "–"
    return f"{days_ago(day, today)} ({short_date(day)})"


# --- evidence -------------------------------------------------------------------------


def email_phrase(evidence: EvidenceView) -> str | None:
    sent, received = evidence.emails_to_lead, evidence.emails_from_lead
    if sent and received:
        return f"{plural(sent + received, 'e-mail')} both ways"
    if sent and not evidence.heard:
        return f"{plural(sent, 'e-mail')} sent, never answered"
    if sent:
        return f"{plural(sent, 'e-mail')} sent, none received"
    if received:
        return f"{plural(received, 'e-mail')} received"
    return None


def evidence_line(evidence: EvidenceView, today: date) -> str:
    """One line of evidence, e.g. "14 e-mails both ways · 2 meetings · last two-way 12 days ago"."""
    parts: list[str] = []
    if phrase := email_phrase(evidence):
        parts.append(phrase)
    if evidence.meetings:
        parts.append(plural(evidence.meetings, "meeting"))
    if evidence.calls:
        parts.append(plural(evidence.calls, "call"))
    if evidence.chats:
        parts.append(plural(evidence.chats, "chat"))
    if evidence.last_two_way is not None:
        parts.append(f"last two-way {days_ago(evidence.last_two_way, today)}")
    elif evidence.last_contact is not None:
        parts.append(f"last contact {days_ago(evidence.last_contact, today)}")
    return " · ".join(parts) or "No recent contact on record"


# --- why: what counted, what was left out, what would make it stronger ----------------

WHY_HEADING = "Why this strength"


def counted_line(evidence: EvidenceView, lead_name: str, today: date) -> str:
    """What the strength rests on: "Counted: 10 e-mails to Yvonne and 8 back (12 of them
    replies), 3 meetings, 1 call; last two-way 4 days ago"."""
    first = lead_name.split()[0] if lead_name.split() else lead_name
    sent, received = evidence.emails_to_lead, evidence.emails_from_lead
    mail = ""
    if sent and received:
        mail = f"{plural(sent, 'e-mail')} to {first} and {received} back"
    elif sent:
        mail = f"{plural(sent, 'e-mail')} to {first}"
    elif received:
        mail = f"{plural(received, 'e-mail')} from {first}"
    if mail and evidence.replies:
        mail += (
            " (one a reply)" if evidence.replies == 1 else f" ({evidence.replies} of them replies)"
        )
    parts = [mail] if mail else []
    for count, word in (
        (evidence.meetings, "meeting"),
        (evidence.calls, "call"),
        (evidence.chats, "chat"),
    ):
        if count:
            parts.append(plural(count, word))
    if not parts:
        return "Nothing counted yet"
    line = "Counted: " + ", ".join(parts)
    if evidence.last_two_way is not None:
        line += f"; last two-way {days_ago(evidence.last_two_way, today)}"
    elif evidence.last_contact is not None:
        line += f"; last contact {days_ago(evidence.last_contact, today)}"
    return line


def left_out_line(evidence: EvidenceView) -> str | None:
    """What weighs nothing, and why: "Not counted: 2 newsletters or list e-mails and
    1 meeting or e-mail with over 50 people"."""
    parts: list[str] = []
    if evidence.bulk:
        parts.append(
            plural(evidence.bulk, "newsletter or list e-mail", "newsletters or list e-mails")
        )
    if evidence.crowd:
        parts.append(
            plural(evidence.crowd, "e-mail or meeting with over 50 people",
                   "e-mails or meetings with over 50 people")
        )  # fmt: skip
    if evidence.other_left_out:
        parts.append(
            plural(evidence.other_left_out, "declined or cancelled meeting or missed call",
                   "declined or cancelled meetings or missed calls")
        )  # fmt: skip
    if not parts:
        return None
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Not counted: {listed}"


def one_way_line(lead_name: str) -> str:
    return (
        f"{lead_name} has never written back, met or called: "
        "contact that goes one way is at most Weak"
    )


def stronger_line(evidence: EvidenceView, lead_name: str) -> str:
    """For a Weak tie: what would make it stronger."""
    first = lead_name.split()[0] if lead_name.split() else lead_name
    if not evidence.heard:
        return f"Stronger with: a reply from {first}, a meeting or a call"
    if evidence.last_two_way is None:
        return f"Stronger with: a reply either way, or a meeting or call with {first}"
    return f"Stronger with: more recent contact both ways with {first}"


def why_lines(evidence: EvidenceView, tier: Tier, lead_name: str, today: date) -> list[str]:
    """The details card's explanation, in plain words (also in `whoknows ask --json`)."""
    lines = [counted_line(evidence, lead_name, today)]
    if (left_out := left_out_line(evidence)) is not None:
        lines.append(left_out)
    if not evidence.heard:
        lines.append(one_way_line(lead_name))
    if tier == "Weak":
        lines.append(stronger_line(evidence, lead_name))
    return lines


# --- how fresh ------------------------------------------------------------------------


def age_phrase(minutes: int) -> str:
    """ "just now", "25 minutes ago", "2 hours ago", "3 days ago"."""
    if minutes < 2:
        return "just now"
    if minutes < 60:
        return f"{minutes} minutes ago"
    hours = minutes // 60
    if hours < 48:
        return f"{plural(hours, 'hour')} ago"
    return f"{plural(hours // 24, 'day')} ago"


def freshness_line(view: FreshnessView) -> str:
    """ "Mail up to 2 hours ago", and plainly when stale: "Stale: mail up to 3 days ago"."""
    if view.age_minutes is None:
        if view.failing:
            return f"Stale: mail sync failing ({plural(view.failing, 'source')}), no mail yet"
        return "No mail synced or imported yet"
    age = age_phrase(view.age_minutes)
    if view.failing:
        return f"Stale: mail up to {age}; mail sync failing ({plural(view.failing, 'source')})"
    if view.stale:
        return f"Stale: mail up to {age}"
    return f"Mail up to {age}"


def known_contacts_line(evidence: EvidenceView, shown: int = 3) -> str | None:
    """Whom at the company a colleague knows: "Knows Yvonne McKay, Ravi Patel and 2 others"."""
    names = [c.name for c in evidence.known_contacts]
    if not names:
        return None
    head = ", ".join(names[:shown])
    rest = len(names) - shown
    if rest > 0:
        return f"Knows {head} and {plural(rest, 'other')}"
    return f"Knows {head}"


# --- summary, details, list -------------------------------------------------------------

DETAILS = "Details"
GET_INTRODUCED = "Get Introduced"
REQUESTED = "Requested"


def get_introduced_to(name: str) -> str:
    """Get Introduced on a company answer names whom the introduction is to."""
    return f"Get Introduced to {name.split()[0] if name.split() else name}"


BACK_TO_SUMMARY = "Back to summary"
PREVIOUS = "Previous"
NEXT = "Next"


def list_view_button(total: int) -> str:
    return f"List view ({total})"


def result_title(lead_name: str) -> str:
    return f"Who knows {lead_name}"


def company_result_title(company: str) -> str:
    return f"Who knows anyone at {company}"


def result_count(shown: int, total: int) -> str:
    if total == 0:
        return "No colleague has been in contact yet."
    if shown < total:
        return f"Top {shown} of {plural(total, 'colleague')}, strongest first"
    return f"{plural(total, 'colleague')}, strongest first"


def topic_line(topic: str) -> str:
    return f"Topic: {topic[:1].upper()}{topic[1:]}"


def nobody_knows(lead_name: str) -> str:
    return (
        f"No colleague has been in contact with {lead_name} in the mailboxes analysed. "
        "Try the company name to find colleagues who know someone else there."
    )


def requester_knows(lead_name: str, line: str | None) -> str:
    if line:
        return f"You have been in contact with {lead_name} yourself: {line}."
    return f"You have been in contact with {lead_name} yourself."


def coverage_line(analysed: int, total: int, opted_out: int) -> str:
    """ "Based on 31 of 40 mailboxes; 3 colleagues opted out"."""
    text = f"Based on {analysed} of {plural(total, 'mailbox', 'mailboxes')}"
    if opted_out:
        text += f"; {plural(opted_out, 'colleague')} opted out"
    return text


def details_title(colleague: str) -> str:
    return colleague


def details_subtitle(lead_name: str) -> str:
    return f"Contact with {lead_name}"


FACT_EMAIL = "E-mail"
FACT_PHONE = "Phone"
FACT_DEPARTMENT = "Department"
FACT_STRENGTH = "Strength"


FACT_EMAILS_TO = "E-mails sent to them"
FACT_EMAILS_FROM = "E-mails from them"

FACT_REPLIES = "Replies in threads"
FACT_MEETINGS = "Meetings"
FACT_CALLS = "Calls"
FACT_CHATS = "Chats"
FACT_LAST_TWO_WAY = "Last two-way contact"
FACT_FIRST_CONTACT = "First contact"
FACT_LAST_CONTACT = "Last contact"
EVIDENCE_HEADING = "Evidence"
CONTACT_HEADING = "Contact details"


def known_at_heading(company: str) -> str:
    return f"Knows at {company}"


def list_title(lead_name: str, *, company: bool = False) -> str:
    if company:
        return f"Everyone who knows anyone at {lead_name}"
    return f"Everyone who knows {lead_name}"


def list_subtitle(total: int, page: int, pages: int) -> str:
    return f"{plural(total, 'colleague')}, strongest first · page {page} of {pages}"


# --- compose --------------------------------------------------------------------------


def compose_title(colleague: str) -> str:
    return f"Ask {colleague} for an introduction"


def compose_subtitle(lead_name: str, company: str | None) -> str:
    return f"To {lead_name}, {company}" if company else f"To {lead_name}"


COMPOSE_LABEL = "Your message (edit it as you like)"
COMPOSE_HINT = (
    "Send delivers it to your colleague in Teams, with buttons to answer. "
    "Prefer to write yourself? Open a Teams chat."
)
SEND = "Send"
CANCEL = "Cancel"
OPEN_IN_TEAMS_CHAT = "Open in Teams chat"
NOTE_REQUIRED = "Write a short message before sending."

# --- request (colleague) ----------------------------------------------------------------


def request_title(requester: str) -> str:
    return f"{requester} asks for an introduction"


def request_about(lead_name: str, company: str | None) -> str:
    who = f"**{lead_name}**" + (f" at {company}" if company else "")
    return f"Would you introduce them to {who}?"


def request_your_contact(line: str) -> str:
    return f"Your contact with them: {line}"


def request_sent_on(day: date, today: date) -> str:
    return f"Asked {days_ago(day, today)}"


HAPPY_TO_INTRODUCE = "Happy to introduce"
DECLINE = "Decline"
DONT_KNOW_WELL = "I don't know them well"
REQUEST_PRIVACY = "Your answer goes only to the person asking. Declining needs no reason."

# --- status -----------------------------------------------------------------------------


def status_sent(colleague: str, lead_name: str) -> tuple[str, str]:
    return (
        "Request sent",
        f"{colleague} has your request to be introduced to {lead_name}. "
        "You'll get a message here when they answer.",
    )


def status_already_requested(colleague: str, lead_name: str, on: str | None) -> tuple[str, str]:
    when = f" {on}" if on else ""
    return (
        "Already requested",
        f"You asked {colleague} about {lead_name}{when}; the request is still open. "
        "You'll get a message here when they answer.",
    )


def status_cancelled(colleague: str) -> tuple[str, str]:
    return ("Request discarded", f"Nothing was sent to {colleague}.")


def status_unreachable(colleague: str, email_available: bool) -> tuple[str, str]:
    route = (
        "send the request by e-mail from your mailbox, or open a Teams chat to write yourself."
        if email_available
        else "open a Teams chat and send your message yourself."
    )
    return (
        f"{colleague} can't be reached here",
        f"Whoknows can't message {colleague} in Teams (the app isn't installed for them). "
        f"You can {route}",
    )


SEND_BY_EMAIL = "Send by e-mail"


def status_accepted(requester: str, lead_name: str) -> tuple[str, str]:
    return (
        "You're happy to introduce",
        f"{requester} has been told. Please connect them with {lead_name} "
        "by e-mail or a Teams chat when you can.",
    )


def status_declined(requester: str) -> tuple[str, str]:
    return (
        "You declined",
        f"{requester} has been told, without a reason. "
        "You won't be asked about this person by them again.",
    )


def status_not_known(requester: str, lead_name: str) -> tuple[str, str]:
    return (
        "Thanks for saying so",
        f"{requester} has been told. Whoknows will rank your connection with "
        f"{lead_name} lower from now on.",
    )


def notice_accepted(colleague: str, lead_name: str) -> tuple[str, str]:
    return (
        f"{colleague} is happy to introduce you",
        f"{colleague} agreed to introduce you to {lead_name}. "
        "Expect to hear from them, or follow up in a chat.",
    )


def notice_declined(colleague: str, lead_name: str) -> tuple[str, str]:
    return (
        f"{colleague} can't introduce you",
        f"{colleague} declined the introduction to {lead_name}. See who else knows them.",
    )


def notice_not_known(colleague: str, lead_name: str) -> tuple[str, str]:
    return (
        f"{colleague} doesn't know {lead_name} well",
        f"{colleague} says they don't know {lead_name} well enough to introduce you. "
        "See who else knows them.",
    )


SEE_WHO_ELSE = "See who else knows them"
OPEN_CHAT_WITH = "Open a chat"
YOUR_MESSAGE = "Your message"

# --- choice and no match ------------------------------------------------------------------


def choice_title(query: str) -> str:
    return f"Several matches for “{query}”"


CHOICE_HINT = "Which one do you mean?"
CHOOSE = "Choose"


def no_match_title(query: str) -> str:
    return f"No one found for “{query}”"


def too_long_title(limit: int) -> str:
    return f"That is longer than a name ({limit} characters at most)"


TOO_LONG_HINT = (
    "Ask with the lead's name, e-mail address or company only, for example "
    "“who knows Yvonne McKay”."
)
NO_MATCH_HINT = (
    "Whoknows looks for names, e-mail addresses and companies seen in the mailboxes analysed "
    "and in the CRM. Check the spelling, or try the e-mail address or the company."
)
CLOSEST_NAMES = "Did you mean"
NO_SUGGESTIONS = "No similar names either."

# --- search extension, link unfurling, new-lead heads-up ---------------------------------


def knows_line(colleague: str, lead_name: str, tier: Tier) -> str:
    """One colleague and how well they know the lead, for previews and the heads-up."""
    first = lead_name.split()[0] if lead_name.split() else lead_name
    if tier == "Strong":
        return f"{colleague} knows {first} well"
    if tier == "Moderate":
        return f"{colleague} knows {first}"
    return f"{colleague} has been in touch with {first}"


def search_preview_text(
    colleague: str | None, lead_name: str, tier: Tier | None, total: int
) -> str:
    if colleague is None or tier is None:
        return f"No colleague has been in touch with {lead_name} yet"
    line = knows_line(colleague, lead_name, tier)
    return line if total <= 1 else f"{line} (+{total - 1} more)"


SEARCH_HINT = "Type a lead's name, e-mail address or company, e.g. Yvonne McKay or Fourth Coffee."


def search_nothing(query: str) -> str:
    return f"No lead called \u201c{query}\u201d. Try a name, an e-mail address or a company."


SEARCH_NOT_A_COLLEAGUE = (
    "Whoknows answers colleagues in your organisation's directory only. "
    "Your administrator can check that your account is synced."
)
UNFURL_TEXT = (
    "Everyone here can read this card, so it names nobody. To see who knows this lead, ask "
    "Whoknows in your 1:1 chat, or insert a card with Who knows in the compose box: it shows "
    "each colleague who may see connections their own answer."
)
INSERTED_TITLE = "Who knows this lead?"
INSERTED_TEXT = (
    "Whoknows shows each colleague who may see connections their own answer here. "
    "If it doesn't appear, select Show me."
)
INSERTED_SHOW = "Show me"
ANONYMOUS_UNFURL_TITLE = "Who knows this lead?"
ANONYMOUS_UNFURL_TEXT = (
    "Whoknows shows which colleagues know this Dynamics 365 lead or contact, and how well. "
    "Add the Whoknows app in Teams to see them."
)


def heads_up_title(lead_name: str, company: str | None) -> str:
    return f"New lead: {lead_name}, {company}" if company else f"New lead: {lead_name}"


def heads_up_nobody(lead_name: str) -> str:
    return f"No colleague has been in touch with {lead_name} yet."


def heads_up_you_know(lead_name: str) -> str:
    return f"You have been in touch with {lead_name} before."


HEADS_UP_ASSIGNED = "Assigned to you in Dynamics 365."
HEADS_UP_FOOTER = "Type notify off to stop these heads-ups, notify on to get them again."
SEE_WHO_KNOWS = "See who knows them"
NOTIFY_OFF_DONE = (
    "Done: no more heads-ups about new leads assigned to you. Type notify on to get them again."
)
NOTIFY_ON_DONE = (
    "Done: when a new lead is assigned to you, I'll tell you who knows them. "
    "Type notify off to stop."
)

# --- welcome and help -------------------------------------------------------------------------


def welcome_title(user_name: str | None) -> str:
    return f"Welcome, {user_name}" if user_name else "Welcome to Whoknows"


HELP_TITLE = "Whoknows: who knows your lead"
WHAT_IT_DOES = (
    "Ask about a lead and Whoknows shows which colleagues have been in contact with them, "
    "how strong each connection is and why, and gets you a warm introduction in two clicks."
)
COMMANDS_HEADING = "Commands"
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("who knows", "name, e-mail or company", "colleagues who know that person, or anyone there"),
    ("my data", "", "what Whoknows stores about you (counts only)"),
    ("opt out", "", "leave the connection graph and delete your data"),
    ("opt in", "", "join again, for future data"),
    ("notify off", "", "no heads-up when a new lead is assigned to you (notify on: again)"),
    ("help", "", "this card"),
)
"""(command, argument, what it does)."""


def command_line(command: str, argument: str, meaning: str) -> str:
    arg = f" *{argument}*" if argument else ""
    return f"**{command}**{arg}: {meaning}"


PRIVACY_STANCE = (
    "Privacy: only who contacted whom and when is analysed, never the content; "
    "you can see your data and opt out at any time."
)
TRY_EXAMPLE = "Try it: type who knows and a lead's name, e-mail address or company."
MY_DATA = "My data"
HELP = "Help"

# --- privacy ------------------------------------------------------------------------------

OPT_OUT_CONFIRM_TITLE = "Opt out of Whoknows?"
OPT_OUT_CONFIRM_TEXT = (
    "Your mailbox will no longer be analysed, you won't be suggested as an introducer, "
    "and this will be deleted now:"
)
OPT_OUT_KEEPS = (
    "Introduction requests you made or answered, and the audit log, are kept. "
    "You can opt in again at any time; nothing dated before that comes back."
)
CONFIRM_OPT_OUT = "Opt out and delete"
KEEP_MY_DATA = "Cancel"
OPTED_OUT_TITLE = "You have opted out"
OPTED_OUT_TEXT = "Your mailbox is no longer analysed and you won't be suggested. Deleted:"
OPTED_OUT_NOTHING = "Nothing about you was stored."
OPTED_IN_TITLE = "Welcome back"
OPTED_IN_TEXT = (
    "You're part of the connection graph again. Your mail and calendar metadata will be "
    "analysed from the next sync; nothing dated before now comes back, from any source."
)
MY_DATA_TITLE = "What Whoknows stores about you"
MY_DATA_INTRO = "Counts only: Whoknows never stores the content of your mail, meetings or chats."
MY_DATA_OPTED_OUT = "You have opted out: nothing new is analysed."
OPT_OUT = "Opt out"
OPT_IN = "Opt in"


def mailbox_analysed(day: date | None, today: date) -> str:
    if day is None:
        return "Your mailbox has not been analysed yet."
    return f"Your mailbox was last analysed {days_ago(day, today)}."


def records_span(first: date, last: date) -> str:
    return f"Records from {short_date(first)} to {short_date(last)}."


def count_lines(counts: DataCounts) -> list[tuple[str, str]]:
    """The counts as (label, value) facts, in a fixed order."""
    return [
        ("E-mails", str(counts.emails)),
        ("Meetings", str(counts.meetings)),
        ("Calls", str(counts.calls)),
        ("Chats", str(counts.chats)),
        ("External contacts", str(counts.contacts)),
        ("Connection scores", str(counts.scores)),
        ("Requests made", str(counts.requests_made)),
        ("Requests received", str(counts.requests_received)),
    ]


def deletion_lines(counts: DataCounts) -> list[str]:
    """What an opt-out deletes, as bullet lines (only what there is)."""
    lines = [
        plural(counts.emails, "e-mail record"),
        plural(counts.meetings, "meeting record"),
        plural(counts.calls, "call record"),
        plural(counts.chats, "chat record"),
        plural(counts.scores, "connection score"),
    ]
    kept = [
        line
        for line, n in zip(
            lines,
            (counts.emails, counts.meetings, counts.calls, counts.chats, counts.scores),
            strict=True,
        )
        if n
    ]
    return kept


# --- errors ---------------------------------------------------------------------------------

ERROR_TITLE = "Something went wrong"
ERROR_TEXT = "Sorry, that didn't work. Please try again in a moment."


def error_reference(reference: str) -> str:
    return f"If it keeps happening, give your administrator this reference: **{reference}**"


# --- no access ------------------------------------------------------------------------------

NO_ACCESS_TITLE = f"{APP_NAME} isn't available to you"
NO_ACCESS_TEXT = (
    f"{APP_NAME} answers colleagues in your organisation's directory who have been given "
    "access, and your account isn't one of them."
)
NO_ACCESS_DEFAULT_CONTACT = "your IT administrator"


def no_access_contact(contact: str | None) -> str:
    return f"To ask for access, contact {contact or NO_ACCESS_DEFAULT_CONTACT}."


# -- Messages the bot sends as plain text -------------------------------------------------

ASK_FOR_NAME = (
    "Who would you like to reach? Type who knows and a name, an e-mail address or a company, "
    "for example: who knows Yvonne McKay"
)
LEAD_GONE = "I can't find that lead any more. Ask again with who knows and their name."
NOT_A_CONNECTION = (
    "That colleague isn't listed as knowing this lead any more. Ask again to see who is."
)
NOT_A_COLLEAGUE = (
    "I can't find you in your organisation's directory, so I can't send requests for you. "
    "Your administrator can check that your account is synced."
)
OPTED_OUT_CANNOT_REQUEST = (
    "You have opted out, so you can't ask colleagues for introductions. Type opt in to rejoin."
)
NOTE_TOO_LONG = "That message is too long. Please keep it under 4,000 characters."
REQUEST_GONE = "That request no longer exists."
NOT_YOUR_REQUEST = "This request isn't yours to answer or change."
BAD_ACTION = "Sorry, I didn't understand that button. Type help to see what I can do."
UNSUPPORTED_INVOKE = "This kind of request isn't supported."
NOTHING_STORED = "Whoknows holds no data about you: your account isn't in its directory."
SENT_PRIVATELY = "I've sent you the answer in our 1:1 chat."
ASK_PRIVATELY = "Ask me in a 1:1 chat so that only you see the answer."
EMAIL_NOT_CONFIGURED = "Sending by e-mail isn't set up here. Use Open in Teams chat instead."


def daily_limit(limit: int) -> str:
    return (
        f"You have sent {limit} introduction requests today, the daily limit. "
        "Please try again tomorrow."
    )


def colleague_busy(name: str) -> str:
    return (
        f"{name} already has several requests waiting for an answer. "
        "Please try another colleague, or ask again in a few days."
    )


def email_subject() -> str:
    return f"Could you introduce me? (sent with {APP_NAME})"


FOREIGN_TENANT = "Sorry, Whoknows isn't available for your organisation."
HOST_FAILURE = "Sorry, something went wrong on my side (reference {reference}). Please try again."
WORKING_TEXT = "This is taking a moment; the answer will appear here."


def working_title(query: str) -> str:
    return f"Looking up {query}…"
