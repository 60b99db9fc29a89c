"""View models: the small, immutable facts each card shows.

The bot fills these from the store and the ranking; the card builders turn them into
card dicts without touching a database, a clock or a bot object. Dates are
``datetime.date`` and every view that shows a relative date ("12 days ago") carries
``today`` so that rendering stays a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Tier = Literal["Strong", "Moderate", "Weak"]
TIERS: tuple[Tier, ...] = ("Strong", "Moderate", "Weak")

IntroState = Literal[
    "sent",  # requester: the request went to the colleague
    "already_requested",  # requester: an open request exists for this colleague and lead
    "cancelled",  # requester: the compose card was discarded
    "unreachable",  # requester: the colleague can't be reached in Teams
    "accepted",  # colleague: they agreed to introduce
    "declined",  # colleague: they declined
    "not_known",  # colleague: they don't know the lead well
    "notice_accepted",  # requester: the colleague agreed
    "notice_declined",  # requester: the colleague declined
    "notice_not_known",  # requester: the colleague doesn't know the lead well
]
INTRO_STATES: tuple[IntroState, ...] = (
    "sent", "already_requested", "cancelled", "unreachable", "accepted", "declined",
    "not_known", "notice_accepted", "notice_declined", "notice_not_known",
)  # fmt: skip


@dataclass(frozen=True)
class PersonRef:
    """Someone named on a card: a colleague, the requester or a lead's contact."""

    name: str
    email: str | None = None
    person_id: int | None = None
    upn: str | None = None
    """Teams sign-in name for chat deep links; the e-mail is used when absent."""


@dataclass(frozen=True)
class LeadView:
    """Whom the user asked about: a person (lead or contact) or, for company queries, a company.

    ``lead_id`` is the person id, or the company id when ``is_company`` is true; cards put
    it into action data as ``lead`` or ``company`` accordingly.
    """

    lead_id: int
    name: str
    company: str | None = None
    emails: tuple[str, ...] = ()
    topic: str | None = None
    is_company: bool = False


@dataclass(frozen=True)
class EvidenceView:
    """Why a colleague is listed: counts per channel and direction, and the key dates.

    For company queries ``known_contacts`` names whom at the company the colleague knows,
    strongest first; the first one is the person Get Introduced asks about.
    """

    emails_to_lead: int = 0
    emails_from_lead: int = 0
    replies: int = 0
    meetings: int = 0
    calls: int = 0
    chats: int = 0
    last_two_way: date | None = None
    first_contact: date | None = None
    last_contact: date | None = None
    known_contacts: tuple[PersonRef, ...] = ()
    heard: bool = True
    """The lead wrote to, met, called or chatted with the colleague at least once."""
    bulk: int = 0
    """Left out: automated, bulk or list mail (newsletters)."""
    crowd: int = 0
    """Left out: mail or meetings with more people than the audience cap (webinars)."""
    other_left_out: int = 0
    """Left out: declined or cancelled meetings, calls under a minute."""


@dataclass(frozen=True)
class ColleagueView:
    """One colleague who knows the lead, as ranked by scoring."""

    person_id: int
    name: str
    email: str
    tier: Tier
    score: float
    evidence: EvidenceView
    title: str | None = None
    department: str | None = None
    phone: str | None = None
    upn: str | None = None
    requested: bool = False
    """The requester already has an open request to this colleague for this lead."""


@dataclass(frozen=True)
class CoverageView:
    """How complete the answer is: mailboxes analysed out of all, and opt-outs."""

    mailboxes_analysed: int
    mailboxes_total: int
    opted_out: int = 0


@dataclass(frozen=True)
class FreshnessView:
    """How current the answer's data is; ``age_minutes`` is None when there is no mail."""

    age_minutes: int | None
    stale: bool = False
    failing: int = 0
    """Mail sync sources whose last run failed."""


@dataclass(frozen=True)
class ResultView:
    """The summary card: who knows the lead.

    ``colleagues`` is the ranked list (at least the top ones; more are ignored by the
    summary); ``total`` is how many colleagues know the lead in all.
    """

    query: str
    lead: LeadView
    colleagues: tuple[ColleagueView, ...]
    total: int
    coverage: CoverageView
    today: date
    requester_knows_lead: bool = False
    requester_evidence: EvidenceView | None = None
    freshness: FreshnessView | None = None


@dataclass(frozen=True)
class SharedResultView:
    """The summary card one viewer of an inserted card (:class:`InsertedView`) gets by
    refresh: only that viewer sees it; its Universal Actions ``refresh`` keeps it current
    for ``viewer_ids`` (Teams user ids), and its buttons act for whoever clicks them.
    """

    result: ResultView
    viewer_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class InsertedView:
    """The card the search extension inserts into a conversation: its base content names
    nobody (guests and colleagues who may not ask see it too); its ``refresh`` and its
    Show me button fetch each viewer's own :class:`SharedResultView`, or the no-access
    card. Only ``lead``'s ids go on the card."""

    lead: LeadView
    viewer_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnfurlView:
    """A pasted Dynamics 365 lead or contact link, unfurled into a card that names nobody:
    everyone in the conversation reads it, and an unfurled card (1.3) cannot refresh for
    each viewer. ``colleague``: pasted by a colleague who may ask (else by someone for
    whom the app is not installed, or who may not ask)."""

    colleague: bool = False


@dataclass(frozen=True)
class HeadsUpView:
    """A lead newly assigned to a colleague, with the colleague who knows them best."""

    lead: LeadView
    colleague: ColleagueView | None
    today: date
    owner_knows_lead: bool = False


@dataclass(frozen=True)
class DetailsView:
    """One colleague's details for one lead."""

    lead: LeadView
    colleague: ColleagueView
    today: date
    freshness: FreshnessView | None = None


@dataclass(frozen=True)
class ListPageView:
    """One page of the list view; ``colleagues`` holds this page's rows only.

    ``page`` is 1-based; ``page_size`` the size used for paging (rows are numbered
    ``(page - 1) * page_size + 1`` onwards).
    """

    lead: LeadView
    colleagues: tuple[ColleagueView, ...]
    page: int
    page_size: int
    total: int
    today: date
    freshness: FreshnessView | None = None


@dataclass(frozen=True)
class ComposeView:
    """The compose card: the request text pre-filled, ready to edit and send.

    ``note`` is the text to pre-fill; leave it ``None`` to fill the introduction template.
    """

    requester: PersonRef
    colleague: ColleagueView
    lead: LeadView
    note: str | None = None


@dataclass(frozen=True)
class RequestView:
    """The request as the colleague receives it."""

    request_id: int
    requester: PersonRef
    lead: LeadView
    note: str
    today: date
    sent_on: date | None = None
    evidence: EvidenceView | None = None
    """The colleague's own contact with the lead, shown to help them decide."""


@dataclass(frozen=True)
class IntroductionView:
    """A status card for one introduction request (see :data:`IntroState`)."""

    state: IntroState
    requester: PersonRef
    colleague: PersonRef
    lead: LeadView
    today: date
    request_id: int | None = None
    note: str | None = None
    requested_on: date | None = None
    email_available: bool = False
    """For ``unreachable``: the bot can send the request by e-mail as the requester."""


@dataclass(frozen=True)
class MatchChoice:
    """One candidate when a query matches several leads (or a suggestion on no match)."""

    lead_id: int
    name: str
    company: str | None = None
    email: str | None = None
    is_company: bool = False


@dataclass(frozen=True)
class ChoiceView:
    """Several leads match the query: pick one."""

    query: str
    matches: tuple[MatchChoice, ...]


@dataclass(frozen=True)
class NoMatchView:
    """Nothing matches the query; ``suggestions`` are the closest names."""

    query: str
    suggestions: tuple[MatchChoice, ...] = ()
    too_long: int = 0  # the question was over this many characters: not looked up


@dataclass(frozen=True)
class HelpView:
    """Welcome (on install) or help; ``user_name`` greets the user on welcome."""

    welcome: bool = False
    user_name: str | None = None


@dataclass(frozen=True)
class DataCounts:
    """What the store holds about one user: counts, never contents."""

    emails: int
    meetings: int
    calls: int
    chats: int
    contacts: int
    """Distinct external people the user has been in contact with."""
    scores: int
    """Connection scores (colleague-lead pairs) computed for the user."""
    requests_made: int = 0
    requests_received: int = 0


@dataclass(frozen=True)
class PrivacyView:
    """Opt-out confirmation (``confirm``), done (``opted_out``) or rejoined (``opted_in``).

    For ``confirm`` the counts are what will be deleted; for ``opted_out`` what was deleted.
    """

    state: Literal["confirm", "opted_out", "opted_in"]
    counts: DataCounts | None = None


@dataclass(frozen=True)
class MyDataView:
    """The "my data" card."""

    name: str
    email: str
    counts: DataCounts
    today: date
    opted_out: bool = False
    mailbox_analysed_on: date | None = None
    first_record: date | None = None
    last_record: date | None = None


@dataclass(frozen=True)
class ErrorView:
    """Something went wrong; ``reference`` lets the administrator find it in the log."""

    reference: str
    message: str | None = None


@dataclass(frozen=True)
class NoAccessView:
    """The one card a person who may not ask gets: names nobody, says whom to ask."""

    contact: str | None = None


@dataclass(frozen=True)
class NoticeView:
    """A one-line card: ``working`` shows "Looking up <text>…" while an answer is prepared."""

    text: str
    working: bool = False
