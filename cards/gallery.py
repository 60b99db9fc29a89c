"""The card gallery: every card in every state, for review, rendering and tests.

``sample_views(today)`` holds fictional sample view models keyed by gallery file name;
``build_gallery`` turns any such mapping into cards and ``write_gallery`` writes them as
JSON files. The CLI feeds the same functions with views built from the demo organisation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cards.build import View, build_card
from cards.listview import MAX_PAGE_SIZE, page_view
from cards.views import (
    ChoiceView,
    ColleagueView,
    ComposeView,
    CoverageView,
    DataCounts,
    DetailsView,
    ErrorView,
    EvidenceView,
    FreshnessView,
    HeadsUpView,
    HelpView,
    InsertedView,
    IntroductionView,
    LeadView,
    MatchChoice,
    MyDataView,
    NoAccessView,
    NoMatchView,
    NoticeView,
    PersonRef,
    PrivacyView,
    RequestView,
    ResultView,
    SharedResultView,
    Tier,
    UnfurlView,
)

REQUESTER = PersonRef(name="Alex Wilber", email="alex.wilber@contoso.com", person_id=1)
YVONNE = LeadView(
    lead_id=501,
    name="Yvonne McKay",
    company="Fourth Coffee",
    emails=("yvonne.mckay@fourthcoffee.com",),
    topic="espresso machines for 40 branches",
)
FOURTH_COFFEE = LeadView(
    lead_id=77, name="Fourth Coffee", emails=("fourthcoffee.com",), is_company=True
)

_PEOPLE: tuple[tuple[str, str, str, Tier], ...] = (
    ("Tricia Potter", "Account Executive", "Sales", "Strong"),
    ("Diego Siciliani", "Solutions Engineer", "Presales", "Strong"),
    ("Megan Bowen", "Marketing Manager", "Marketing", "Moderate"),
    ("Lee Gu", "Director of Partnerships", "Business Development", "Moderate"),
    ("Isaiah Langer", "Sales Representative", "Sales", "Weak"),
    ("Lidia Holloway", "Product Manager", "Product", "Weak"),
    ("Nestor Wilke", "Director", "Operations", "Weak"),
    ("Pradeep Gupta", "Accountant", "Finance", "Weak"),
    ("Grady Archie", "Designer", "Product", "Weak"),
    ("Johanna Lorenz", "Senior Engineer", "Engineering", "Weak"),
    ("Joni Sherman", "Paralegal", "Legal", "Weak"),
    ("Lynne Robbins", "Planner", "Operations", "Weak"),
)


def _colleague(index: int, today: date, *, company: bool = False) -> ColleagueView:
    name, title, department, tier = _PEOPLE[index % len(_PEOPLE)]
    strength = len(_PEOPLE) - index
    known: tuple[PersonRef, ...] = ()
    if company:
        contacts = ("Yvonne McKay", "Ravi Patel", "Ana Souza", "Kenji Watanabe")
        known = tuple(
            PersonRef(name=n, person_id=501 + i) for i, n in enumerate(contacts[: 1 + index % 4])
        )
    received = max(strength - 3, 0) if index != 4 else 0
    meetings = max(3 - index, 0)
    calls = 1 if index in (0, 3) else 0
    two_way = received or meetings or calls
    evidence = EvidenceView(
        emails_to_lead=strength,
        emails_from_lead=received,
        replies=max(received - 2, 0),
        meetings=meetings,
        calls=calls,
        chats=0,
        last_two_way=today - timedelta(days=12 + 30 * index) if two_way else None,
        last_contact=today - timedelta(days=12 + 29 * index),
        first_contact=today - timedelta(days=400 + 20 * index),
        known_contacts=known,
        heard=bool(two_way),
    )
    local = name.lower().replace(" ", ".")
    return ColleagueView(
        person_id=100 + index,
        name=name,
        email=f"{local}@contoso.com",
        tier=tier,
        score=round(9.5 - index * 0.8, 2),
        evidence=evidence,
        title=title,
        department=department,
        phone="+1 425 555 01" + f"{index:02d}" if index % 3 != 2 else None,
    )


def _longest_colleague(index: int, today: date) -> ColleagueView:
    """The widest row there can be: long names, every channel, several contacts."""
    long_name = f"Maximilian-Alexander von Hohenstein-Wittgenstein {index:02d}"
    contacts = tuple(
        PersonRef(name=f"Bartholomew Featherstonehaugh-Cholmondeley {i}", person_id=900 + i)
        for i in range(6)
    )
    evidence = EvidenceView(
        emails_to_lead=12345,
        emails_from_lead=11234,
        replies=9876,
        meetings=987,
        calls=654,
        chats=4321,
        last_two_way=today - timedelta(days=1),
        first_contact=today - timedelta(days=3650),
        last_contact=today,
        known_contacts=contacts,
    )
    return ColleagueView(
        person_id=10_000 + index,
        name=long_name,
        email=f"maximilian.von.hohenstein.wittgenstein.{index:02d}@contoso.com",
        tier="Moderate",
        score=1234.56,
        evidence=evidence,
        title="Senior Principal Strategic Enterprise Account Director, EMEA North",
        department="Global Strategic Enterprise Accounts and Partnerships",
        phone="+44 20 7946 0000 ext. 12345",
    )


def sample_views(today: date) -> dict[str, View]:
    """Fictional view models for every card and state, keyed by gallery file name."""
    ranked = tuple(_colleague(i, today) for i in range(len(_PEOPLE)))
    company_ranked = tuple(_colleague(i, today, company=True) for i in range(6))
    coverage = CoverageView(mailboxes_analysed=31, mailboxes_total=40, opted_out=3)
    tricia = ranked[0]
    lead_ev = EvidenceView(
        emails_to_lead=4, emails_from_lead=2, last_two_way=today - timedelta(days=20)
    )
    longest_rows = tuple(_longest_colleague(i, today) for i in range(MAX_PAGE_SIZE * 3))
    fresh = FreshnessView(age_minutes=120)
    stale = FreshnessView(age_minutes=3 * 24 * 60 + 200, stale=True, failing=2)
    # Thirty unanswered e-mails: at most Weak, listed below everyone she answered.
    one_way = replace(
        ranked[4],
        tier="Weak",
        evidence=replace(ranked[4].evidence, emails_to_lead=30, heard=False, bulk=2, crowd=1),
    )
    long_lead = LeadView(
        lead_id=88,
        name="Featherstonehaugh-Cholmondeley International Holdings (Europe) Limited",
        emails=("featherstonehaugh-cholmondeley-international.example.com",),
        is_company=True,
    )
    sent_on = today - timedelta(days=2)
    note = (
        "Hi Tricia,\n\nI'd like to get in touch with Yvonne McKay at Fourth Coffee about "
        "espresso machines for 40 branches. Would you be willing to introduce me?\n\n"
        "Thanks,\nAlex Wilber"
    )
    colleague_ref = PersonRef(
        name=tricia.name, email=tricia.email, person_id=tricia.person_id, upn=tricia.email
    )

    def status(state: Any, **extra: Any) -> IntroductionView:
        return IntroductionView(
            state=state,
            requester=REQUESTER,
            colleague=colleague_ref,
            lead=YVONNE,
            today=today,
            request_id=42,
            note=note,
            requested_on=sent_on,
            **extra,
        )

    counts = DataCounts(
        emails=1832, meetings=214, calls=37, chats=0, contacts=412, scores=389,
        requests_made=3, requests_received=1,
    )  # fmt: skip
    result = ResultView(
        query="Yvonne McKay", lead=YVONNE, colleagues=ranked[:5], total=len(ranked),
        coverage=coverage, today=today, freshness=fresh,
    )  # fmt: skip
    new_lead = LeadView(
        lead_id=503, name="Ana Souza", company="Fourth Coffee",
        emails=("ana.souza@fourthcoffee.com",), topic="coffee for the new Lisbon office",
    )  # fmt: skip
    return {
        "welcome.json": HelpView(welcome=True, user_name="Alex"),
        "help.json": HelpView(),
        "result.json": result,
        "result_requester_knows.json": ResultView(
            query="yvonne.mckay@fourthcoffee.com", lead=YVONNE, colleagues=ranked[:3], total=3,
            coverage=coverage, today=today, requester_knows_lead=True, requester_evidence=lead_ev,
            freshness=stale,
        ),
        "result_company.json": ResultView(
            query="Fourth Coffee", lead=FOURTH_COFFEE, colleagues=company_ranked[:5],
            total=len(company_ranked), coverage=coverage, today=today,
        ),
        "result_nobody.json": ResultView(
            query="Ravi Patel",
            lead=LeadView(lead_id=502, name="Ravi Patel", company="Fourth Coffee"),
            colleagues=(), total=0, coverage=CoverageView(40, 40, 0), today=today,
        ),
        "details.json": DetailsView(lead=YVONNE, colleague=tricia, today=today, freshness=fresh),
        "details_one_way.json": DetailsView(
            lead=YVONNE, colleague=one_way, today=today, freshness=fresh
        ),
        "details_company.json": DetailsView(
            lead=FOURTH_COFFEE, colleague=company_ranked[3], today=today
        ),
        "list_page1.json": replace(
            page_view(YVONNE, ranked, 1, today, page_size=10), freshness=fresh
        ),
        "list_page2.json": page_view(YVONNE, ranked, 2, today, page_size=10),
        "list_longest.json": page_view(
            long_lead, longest_rows, 2, today, page_size=MAX_PAGE_SIZE
        ),
        "compose.json": ComposeView(requester=REQUESTER, colleague=tricia, lead=YVONNE),
        "request.json": RequestView(
            request_id=42, requester=REQUESTER, lead=YVONNE, note=note, today=today,
            sent_on=today, evidence=tricia.evidence,
        ),
        "status_sent.json": status("sent"),
        "status_already_requested.json": status("already_requested"),
        "status_cancelled.json": status("cancelled"),
        "status_unreachable.json": status("unreachable", email_available=True),
        "status_accepted.json": status("accepted"),
        "status_declined.json": status("declined"),
        "status_not_known.json": status("not_known"),
        "notice_accepted.json": status("notice_accepted"),
        "notice_declined.json": status("notice_declined"),
        "notice_not_known.json": status("notice_not_known"),
        "choice.json": ChoiceView(
            query="Yvonne",
            matches=(
                MatchChoice(501, "Yvonne McKay", "Fourth Coffee", "yvonne.mckay@fourthcoffee.com"),
                MatchChoice(611, "Yvonne Miller", "Litware", "ymiller@litware.example.com"),
                MatchChoice(612, "Yvonne Mc Kay", None, "yvonne.mckay@adatum.example.com"),
            ),
        ),
        "no_match.json": NoMatchView(
            query="Yvone McKey",
            suggestions=(
                MatchChoice(501, "Yvonne McKay", "Fourth Coffee", "yvonne.mckay@fourthcoffee.com"),
                MatchChoice(77, "Fourth Coffee", None, "fourthcoffee.com", is_company=True),
            ),
        ),
        "no_match_empty.json": NoMatchView(query="Zebulon Quux"),
        "optout_confirm.json": PrivacyView(state="confirm", counts=counts),
        "opted_out.json": PrivacyView(state="opted_out", counts=counts),
        "opted_in.json": PrivacyView(state="opted_in"),
        "my_data.json": MyDataView(
            name=REQUESTER.name, email=REQUESTER.email or "", counts=counts, today=today,
            mailbox_analysed_on=today - timedelta(days=1),
            first_record=today - timedelta(days=365), last_record=today - timedelta(days=1),
        ),
        "shared_result.json": SharedResultView(result=result, viewer_ids=("29:alex-wilber",)),
        "inserted.json": InsertedView(lead=result.lead, viewer_ids=("29:alex-wilber",)),
        "unfurl.json": UnfurlView(colleague=True),
        "unfurl_anonymous.json": UnfurlView(),
        "heads_up.json": HeadsUpView(lead=YVONNE, colleague=tricia, today=today),
        "heads_up_nobody.json": HeadsUpView(
            lead=new_lead, colleague=None, today=today, owner_knows_lead=True
        ),
        "error.json": ErrorView(reference="E-7F3A2C"),
        "working.json": NoticeView(text="Fourth Coffee", working=True),
        "note.json": NoticeView(text="Who would you like to reach? Type who knows and a name."),
        "no_access.json": NoAccessView(contact="the Sales Operations team"),
    }  # fmt: skip


def build_gallery(samples: Mapping[str, View]) -> dict[str, dict[str, Any]]:
    """Cards for every view, keyed by the same file names."""
    return {name: build_card(view) for name, view in samples.items()}


def write_gallery(out_dir: Path, samples: Mapping[str, View]) -> list[Path]:
    """Write each card as indented JSON into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, card in build_gallery(samples).items():
        path = out_dir / name
        path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
