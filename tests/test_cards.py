"""Cards: every gallery card is valid for Teams, small enough, routable, and says no more
than the data shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import adaptive_cards
import jsonschema
import pytest
from adaptive_cards.card import AdaptiveCard
from adaptive_cards.validation import CardValidatorFactory

from cards import texts, verbs
from cards.build import build_card
from cards.gallery import build_gallery, sample_views, write_gallery
from cards.introduction import (
    chat_deep_link,
    compose_card,
    fill_template,
    introduction_text,
)
from cards.listview import MAX_PAGE_SIZE, list_card, page_view
from cards.result import result_card
from cards.settings import DEFAULT_INTRO_TEMPLATE, LIST_PAGE_SIZE
from cards.views import (
    ComposeView,
    DetailsView,
    EvidenceView,
    FreshnessView,
    LeadView,
    ResultView,
)

TODAY = date(2025, 6, 16)
SAMPLES = sample_views(TODAY)
GALLERY = build_gallery(SAMPLES)
SCHEMAS = {
    version: json.loads(
        (Path(adaptive_cards.__file__).parent / "schemas" / f"schema-{version}.json").read_text(
            "utf-8"
        )
    )
    for version in ("1.3", "1.5")
}
SCHEMA = SCHEMAS["1.5"]
UNFURLED = {"unfurl.json", "unfurl_anonymous.json"}
"""Link unfurling takes Adaptive Cards up to 1.3 only."""


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in walk(card) if n.get("type") == "Action.Execute"]


def all_text(card: dict[str, Any]) -> str:
    return "\n".join(
        str(n.get("text", "")) + str(n.get("title", "")) + str(n.get("value", ""))
        for n in walk(card)
    )


def size_kb(card: dict[str, Any]) -> float:
    return len(json.dumps(card, ensure_ascii=False).encode("utf-8")) / 1024


def test_gallery_covers_every_card_family() -> None:
    expected = {
        "welcome.json", "help.json", "result.json", "result_requester_knows.json",
        "result_company.json", "result_nobody.json", "details.json", "details_company.json",
        "details_one_way.json",
        "list_page1.json", "list_page2.json", "list_longest.json", "compose.json",
        "request.json", "status_sent.json", "status_already_requested.json",
        "status_cancelled.json", "status_unreachable.json", "status_accepted.json",
        "status_declined.json", "status_not_known.json", "notice_accepted.json",
        "notice_declined.json", "notice_not_known.json", "choice.json", "no_match.json",
        "no_match_empty.json", "optout_confirm.json", "opted_out.json", "opted_in.json",
        "my_data.json", "error.json", "working.json", "note.json", "no_access.json",
        "shared_result.json", "inserted.json", "unfurl.json", "unfurl_anonymous.json",
        "heads_up.json", "heads_up_nobody.json",
    }  # fmt: skip
    assert set(GALLERY) == expected


@pytest.mark.parametrize("name", sorted(GALLERY))
def test_card_validates_for_teams(name: str) -> None:
    card = GALLERY[name]
    assert card["version"] == ("1.3" if name in UNFURLED else "1.5")
    validator = CardValidatorFactory.create_validator_microsoft_teams()
    # adaptive-cards-py 0.4.3 types refresh.action as a string: the official schema
    # (test_card_matches_official_schema) checks the refresh instead.
    model = AdaptiveCard.model_validate({k: v for k, v in card.items() if k != "refresh"})
    result = validator.validate(model, debug=False)
    assert result.is_ok(), [(f.message, f.message_additional) for f in validator.details()]


@pytest.mark.parametrize("name", sorted(GALLERY))
def test_card_matches_official_schema(name: str) -> None:
    card = GALLERY[name]
    errors = list(jsonschema.Draft6Validator(SCHEMAS[card["version"]]).iter_errors(card))
    assert not errors, [e.message for e in errors]


def test_unfurled_cards_keep_to_what_link_unfurling_accepts() -> None:
    """Version 1.3, so no Universal Actions and no refresh; the 1.3 schema catches a 1.5
    feature (the heading style) slipping in."""
    for name in UNFURLED:
        card = GALLERY[name]
        assert not executes(card) and "refresh" not in card and "actions" not in card
        assert '"heading"' not in json.dumps(card)
    # Everyone in the conversation reads them, and they cannot refresh: they name nobody.
    for name in UNFURLED:
        shown = json.dumps(GALLERY[name])
        for person in ("Yvonne", "Tricia", "Alex", "Fourth Coffee", "Strong"):
            assert person not in shown, name
    assert texts.UNFURL_TEXT in all_text(GALLERY["unfurl.json"])
    upgraded = {**GALLERY["result.json"], "version": "1.3"}
    assert list(jsonschema.Draft6Validator(SCHEMAS["1.3"]).iter_errors(upgraded))


def test_shared_summary_refreshes_for_its_viewers() -> None:
    card = GALLERY["shared_result.json"]
    refresh = card["refresh"]
    assert refresh["userIds"] == ["29:alex-wilber"]
    assert refresh["action"]["type"] == "Action.Execute"
    assert refresh["action"]["data"] == {"verb": verbs.SHARED, "lead": 501}
    assert {k: v for k, v in card.items() if k != "refresh"} == GALLERY["result.json"]


def test_an_inserted_card_names_nobody_until_refreshed() -> None:
    """The search extension's card as everyone in the conversation sees it: no colleague,
    no lead, no strength; the refresh and Show me ask for the viewer's own card."""
    card = GALLERY["inserted.json"]
    shown = json.dumps(card)
    for word in ("Yvonne", "Tricia", "Fourth Coffee", "Strong", "Moderate", "Weak"):
        assert word not in shown
    assert card["refresh"] == GALLERY["shared_result.json"]["refresh"]
    assert [(a["verb"], a["data"]) for a in card["actions"]] == [
        (verbs.SHARED, {"verb": verbs.SHARED, "lead": 501})
    ]


def test_heads_up_names_the_lead_and_who_knows_them() -> None:
    card = GALLERY["heads_up.json"]
    text = all_text(card)
    assert "New lead: Yvonne McKay, Fourth Coffee" in text
    assert "Tricia Potter knows Yvonne well" in text
    assert "notify off" in text
    assert set(verbs_of(card)) == {verbs.DETAILS, verbs.INTRODUCE, verbs.SUMMARY}
    nobody = GALLERY["heads_up_nobody.json"]
    assert verbs_of(nobody) == []
    assert "No colleague has been in touch with Ana Souza yet" in all_text(nobody)


def test_schema_check_catches_a_broken_card() -> None:
    broken = json.loads(json.dumps(GALLERY["result.json"]))
    broken["body"][0]["size"] = "gigantic"
    assert list(jsonschema.Draft6Validator(SCHEMA).iter_errors(broken))


def test_sizes_stay_well_under_the_teams_limit() -> None:
    longest = GALLERY["list_longest.json"]
    rows = [n for n in longest["body"] if n.get("type") == "ColumnSet"]
    assert len(rows) == MAX_PAGE_SIZE
    assert size_kb(longest) < 28
    for name, card in GALLERY.items():
        assert size_kb(card) <= size_kb(longest), name


@pytest.mark.parametrize("name", sorted(GALLERY))
def test_buttons_use_known_verbs_and_ids_only(name: str) -> None:
    card = GALLERY[name]
    assert not [n for n in walk(card) if n.get("type") == "Action.Submit"]
    for action in executes(card):
        assert action["verb"] in verbs.ALL
        data = action["data"]
        assert data["verb"] == action["verb"]
        assert set(data) <= verbs.DATA_KEYS
        assert all(isinstance(v, int) for k, v in data.items() if k != "verb")


def verbs_of(card: dict[str, Any]) -> list[str]:
    return [a["verb"] for a in executes(card)]


def test_summary_shows_top_five_with_details_and_introduce_each() -> None:
    card = GALLERY["result.json"]
    view = SAMPLES["result.json"]
    assert isinstance(view, ResultView)
    found = verbs_of(card)
    assert found.count(verbs.DETAILS) == 5
    assert found.count(verbs.INTRODUCE) == 5
    list_button = [a for a in executes(card) if a["verb"] == verbs.LIST]
    assert list_button[0]["title"] == f"List view ({view.total})"
    assert list_button[0]["data"] == {"verb": "list", "lead": view.lead.lead_id, "page": 1}
    intro = next(a for a in executes(card) if a["verb"] == verbs.INTRODUCE)
    top = view.colleagues[0]
    assert intro["data"] == {"verb": "introduce", "lead": 501, "colleague": top.person_id}
    body = all_text(card)
    assert "Based on 31 of 40 mailboxes; 3 colleagues opted out" in body
    assert "21 e-mails both ways · 3 meetings · 1 call · last two-way 12 days ago" in body


def test_summary_without_more_colleagues_has_no_list_button() -> None:
    card = GALLERY["result_requester_knows.json"]
    assert verbs.LIST not in verbs_of(card)
    assert "You have been in contact with Yvonne McKay yourself" in all_text(card)
    assert "yourself" not in all_text(GALLERY["result.json"])


def test_summary_size_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHOKNOWS_CARDS_SUMMARY_SIZE", "3")
    view = SAMPLES["result.json"]
    assert isinstance(view, ResultView)
    assert verbs_of(result_card(view)).count(verbs.DETAILS) == 3


def test_nobody_knows_says_so() -> None:
    text = all_text(GALLERY["result_nobody.json"])
    assert "No colleague has been in contact with Ravi Patel" in text
    assert "Based on 40 of 40 mailboxes" in text


def test_tier_is_never_colour_alone() -> None:
    for name in ("result.json", "list_page1.json", "details.json", "result_company.json"):
        coloured = [
            n for n in walk(GALLERY[name])
            if n.get("color") and any(t in str(n.get("text", "")) for t in texts.TIER_LABELS)
        ]  # fmt: skip
        assert coloured, name
        for node in coloured:
            label = node["text"].strip()
            tier = next(t for t in texts.TIER_LABELS if t in label)
            assert texts.TIER_BARS[tier] in label.replace("\u00a0", " ")
            assert tier in label


def test_company_rows_name_whom_they_know_and_introduce_to_that_person() -> None:
    card = GALLERY["result_company.json"]
    text = all_text(card)
    assert "Who knows anyone at Fourth Coffee" in text
    assert "Knows Yvonne McKay, Ravi Patel" in text
    intros = [a for a in executes(card) if a["verb"] == verbs.INTRODUCE]
    assert intros[0]["title"] == "Get Introduced to Yvonne"
    assert intros[0]["data"]["lead"] == 501
    details = [a for a in executes(card) if a["verb"] == verbs.DETAILS]
    assert all(a["data"]["company"] == 77 and "lead" not in a["data"] for a in details)


def test_details_shows_evidence_and_contact() -> None:
    card = GALLERY["details.json"]
    text = all_text(card)
    for fact in ("tricia.potter@contoso.com", "+1 425 555 0100", "12 days ago (4 Jun 2025)"):
        assert fact in text
    facts = {f["title"]: f["value"] for n in walk(card) for f in n.get("facts", [])}
    assert facts[texts.FACT_EMAILS_TO] == "12"
    assert facts[texts.FACT_EMAILS_FROM] == "9"
    assert facts[texts.FACT_MEETINGS] == "3"
    assert verbs.INTRODUCE in verbs_of(card)


def test_details_explain_what_counted_and_what_did_not() -> None:
    text = all_text(GALLERY["details.json"])
    assert texts.WHY_HEADING in text
    assert "Counted: 12 e-mails to Yvonne and 9 back (7 of them replies), 3 meetings, 1 call" in (
        text
    )
    assert "Not counted" not in text and "Stronger with" not in text  # Strong, nothing left out
    assert "Mail up to 2 hours ago" in text


def test_a_one_way_weak_tie_says_never_answered_and_what_would_help() -> None:
    card = GALLERY["details_one_way.json"]
    text = all_text(card)
    assert "30 e-mails sent, never answered" in text
    assert (
        "Not counted: 2 newsletters or list e-mails and 1 e-mail or meeting with over 50 people"
        in text
    )
    assert "Yvonne McKay has never written back, met or called" in text
    assert "Stronger with: a reply from Yvonne, a meeting or a call" in text


def test_every_answer_says_how_fresh_and_plainly_when_stale() -> None:
    for name in ("result.json", "details.json", "list_page1.json"):
        assert "Mail up to 2 hours ago" in all_text(GALLERY[name]), name
    stale = GALLERY["result_requester_knows.json"]
    line = next(n for n in walk(stale) if str(n.get("text", "")).startswith("Stale:"))
    assert line["text"] == "Stale: mail up to 3 days ago; mail sync failing (2 sources)"
    assert line["color"] == "warning"


@pytest.mark.parametrize(
    ("minutes", "stale", "failing", "line"),
    [
        (1, False, 0, "Mail up to just now"),
        (25, False, 0, "Mail up to 25 minutes ago"),
        (120, False, 0, "Mail up to 2 hours ago"),
        (26 * 60, True, 0, "Stale: mail up to 26 hours ago"),
        (5 * 24 * 60, True, 0, "Stale: mail up to 5 days ago"),
        (None, True, 0, "No mail synced or imported yet"),
        (None, True, 3, "Stale: mail sync failing (3 sources), no mail yet"),
    ],
)
def test_freshness_line(minutes: int | None, stale: bool, failing: int, line: str) -> None:
    assert texts.freshness_line(FreshnessView(minutes, stale, failing)) == line


def test_requested_colleague_gets_no_second_introduce_button() -> None:
    view = SAMPLES["result.json"]
    assert isinstance(view, ResultView)
    first = replace(view.colleagues[0], requested=True)
    card = result_card(replace(view, colleagues=(first, *view.colleagues[1:])))
    intros = [a for a in executes(card) if a["verb"] == verbs.INTRODUCE]
    assert len(intros) == 4
    assert first.person_id not in [a["data"]["colleague"] for a in intros]
    assert texts.REQUESTED in all_text(card)


def test_list_paging() -> None:
    view = SAMPLES["result.json"]
    assert isinstance(view, ResultView)
    ranked = tuple(view.colleagues) * 5  # 25 rows
    first = list_card(page_view(view.lead, ranked, 1, TODAY, page_size=10))
    middle = list_card(page_view(view.lead, ranked, 2, TODAY, page_size=10))
    last = list_card(page_view(view.lead, ranked, 99, TODAY, page_size=10))
    pages = {a["title"]: a["data"].get("page") for a in executes(middle) if a["verb"] == "list"}
    assert pages == {texts.PREVIOUS: 1, texts.NEXT: 3}
    assert texts.PREVIOUS not in [a["title"] for a in executes(first)]
    assert texts.NEXT not in [a["title"] for a in executes(last)]
    assert "page 3 of 3" in all_text(last)
    assert "21. Tricia Potter" in all_text(last)
    assert verbs_of(middle).count(verbs.INTRODUCE) == 10


def test_list_page_size_is_a_clamped_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    view = SAMPLES["result.json"]
    assert isinstance(view, ResultView)
    ranked = tuple(view.colleagues) * 10
    monkeypatch.setenv(LIST_PAGE_SIZE.env, "3")
    assert len(page_view(view.lead, ranked, 1, TODAY).colleagues) == 3
    monkeypatch.setenv(LIST_PAGE_SIZE.env, "500")
    assert len(page_view(view.lead, ranked, 1, TODAY).colleagues) == MAX_PAGE_SIZE


# --- the introduction text --------------------------------------------------------------

OVERCLAIMS = (
    "know her well", "know him well", "know them well", "close", "friend", "good relationship",
    "strong relationship", "you know", "worked closely", "trust",
)  # fmt: skip


def compose_view(**lead_changes: Any) -> ComposeView:
    view = SAMPLES["compose.json"]
    assert isinstance(view, ComposeView)
    return replace(view, lead=replace(view.lead, **lead_changes))


def test_default_template_fills_every_placeholder_and_claims_nothing_more() -> None:
    text = introduction_text(compose_view())
    assert text.startswith("Hi Tricia,")
    assert "Yvonne McKay at Fourth Coffee about espresso machines for 40 branches?" in text
    assert text.endswith("Alex Wilber")
    assert "{" not in text and "[" not in text
    lowered = text.lower()
    for claim in OVERCLAIMS:
        assert claim not in lowered.replace("don't know them well enough", ""), claim
    assert "have been in contact" in lowered


def test_template_drops_optional_parts_without_data() -> None:
    text = introduction_text(compose_view(company=None, topic=None))
    assert "Could you introduce me to Yvonne McKay? " in text
    assert " at " not in text.split("?")[0]


def test_admin_template_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "WHOKNOWS_INTRO_TEMPLATE",
        "Dear {colleague},\\nplease connect {requester} with {lead} ({company})"
        "[ re {topic}]. {oops}",
    )
    text = introduction_text(compose_view(topic=None))
    assert text == (
        "Dear Tricia Potter,\nplease connect Alex Wilber with Yvonne McKay (Fourth Coffee). {oops}"
    )


def test_fill_template_tidies_space_before_punctuation() -> None:
    assert fill_template("Meet {lead} {company}.", {"lead": "Ann", "company": None}) == "Meet Ann."


def test_default_template_is_the_declared_default() -> None:
    assert introduction_text(compose_view()) == introduction_text(
        compose_view(), template=DEFAULT_INTRO_TEMPLATE
    )


def test_compose_card_prefills_the_note_and_links_a_teams_chat() -> None:
    view = compose_view()
    card = compose_card(view)
    note = introduction_text(view)
    inputs = [n for n in walk(card) if n.get("type") == "Input.Text"]
    assert inputs[0]["id"] == verbs.NOTE_INPUT
    assert inputs[0]["isMultiline"] is True
    assert inputs[0]["value"] == note
    by_verb = {a["verb"]: a for a in executes(card)}
    assert by_verb[verbs.SEND]["data"] == {"verb": "send", "lead": 501, "colleague": 100}
    assert by_verb[verbs.CANCEL]["associatedInputs"] == "none"
    link = next(a for a in card["actions"] if a["type"] == "Action.OpenUrl")
    assert link["title"] == texts.OPEN_IN_TEAMS_CHAT
    parts = urlsplit(link["url"])
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "teams.microsoft.com",
        "/l/chat/0/0",
    )
    query = parse_qs(parts.query, strict_parsing=True)
    assert query == {"users": ["tricia.potter@contoso.com"], "message": [note]}


def test_deep_link_encodes_everything_that_could_break_the_url() -> None:
    message = "Hi & welcome?\nLine 2 #3 100% ü+é = ok/yes"
    url = chat_deep_link("ann.o'neil@contoso.com", message)
    assert " " not in url and "\n" not in url and "#" not in url
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert query == {"users": ["ann.o'neil@contoso.com"], "message": [message]}
    assert "message=Hi%20%26%20welcome%3F%0ALine%202%20%233%20100%25" in url
    assert chat_deep_link("a@b.com", "") == "https://teams.microsoft.com/l/chat/0/0?users=a@b.com"


def test_request_card_offers_the_three_answers() -> None:
    card = GALLERY["request.json"]
    assert verbs_of(card) == [verbs.ACCEPT, verbs.DECLINE, verbs.NOT_KNOWN]
    assert all(a["data"] == {"verb": a["verb"], "request": 42} for a in executes(card))
    text = all_text(card)
    assert "Alex Wilber asks for an introduction" in text
    assert "**Yvonne McKay** at Fourth Coffee" in text
    assert "I'd like to get in touch" in text


@pytest.mark.parametrize(
    ("name", "heading"),
    [
        ("status_sent.json", "Request sent"),
        ("status_already_requested.json", "Already requested"),
        ("status_cancelled.json", "Request discarded"),
        ("status_unreachable.json", "Tricia Potter can't be reached here"),
        ("status_accepted.json", "You're happy to introduce"),
        ("status_declined.json", "You declined"),
        ("status_not_known.json", "Thanks for saying so"),
        ("notice_accepted.json", "Tricia Potter is happy to introduce you"),
        ("notice_declined.json", "Tricia Potter can't introduce you"),
        ("notice_not_known.json", "Tricia Potter doesn't know Yvonne McKay well"),
    ],
)
def test_status_cards(name: str, heading: str) -> None:
    assert heading in GALLERY[name]["body"][0]["text"]


def test_status_next_steps() -> None:
    assert verbs_of(GALLERY["status_unreachable.json"]) == [verbs.SEND_EMAIL]
    assert verbs_of(GALLERY["notice_declined.json"]) == [verbs.SUMMARY]
    assert "2 days ago" in all_text(GALLERY["status_already_requested.json"])


def test_choice_and_no_match() -> None:
    choice = GALLERY["choice.json"]
    assert [a["data"]["lead"] for a in executes(choice)] == [501, 611, 612]
    assert "yvonne.mckay@fourthcoffee.com" in all_text(choice)
    no_match = GALLERY["no_match.json"]
    assert "Yvone McKey" in all_text(no_match)
    assert [a["data"] for a in executes(no_match)] == [
        {"verb": "choose", "lead": 501},
        {"verb": "choose", "company": 77},
    ]
    assert texts.NO_SUGGESTIONS in all_text(GALLERY["no_match_empty.json"])


def test_help_lists_commands_and_privacy() -> None:
    for name in ("help.json", "welcome.json"):
        text = all_text(GALLERY[name])
        for command, _, _ in texts.COMMANDS:
            assert f"**{command}**" in text
        assert texts.PRIVACY_STANCE in text
    assert "Welcome, Alex" in all_text(GALLERY["welcome.json"])


def test_privacy_cards() -> None:
    confirm = GALLERY["optout_confirm.json"]
    assert "1832 e-mail records" in all_text(confirm)
    assert "chat record" not in all_text(confirm)  # nothing to delete is not listed
    styles = {a["verb"]: a.get("style") for a in executes(confirm)}
    assert styles == {verbs.OPT_OUT_CONFIRM: "destructive", verbs.OPT_OUT_CANCEL: None}
    assert "389 connection scores" in all_text(GALLERY["opted_out.json"])
    assert verbs_of(GALLERY["opted_out.json"]) == [verbs.OPT_IN]
    my_data = all_text(GALLERY["my_data.json"])
    assert "1832" in my_data and "last analysed yesterday" in my_data
    assert verbs_of(GALLERY["my_data.json"]) == [verbs.OPT_OUT]


def test_error_card_carries_the_reference() -> None:
    assert "E-7F3A2C" in all_text(GALLERY["error.json"])
    assert GALLERY["error.json"].get("actions") is None


# --- purity and phrases -------------------------------------------------------------------


def test_cards_depend_on_the_view_today_not_the_clock() -> None:
    later = build_gallery(sample_views(TODAY + timedelta(days=30)))
    assert build_gallery(sample_views(TODAY)) == GALLERY
    view = SAMPLES["details.json"]
    assert isinstance(view, DetailsView)
    moved = replace(view, today=view.today + timedelta(days=30))
    assert "42 days ago" in all_text(build_card(moved))
    # the samples are dated relative to today: relative phrases stay, absolute dates move
    assert "12 days ago (4 Jul 2025)" in all_text(later["details.json"])


@pytest.mark.parametrize(
    ("days", "phrase"),
    [
        (0, "today"), (1, "yesterday"), (12, "12 days ago"), (44, "44 days ago"),
        (60, "2 months ago"), (364, "12 months ago"), (365, "a year ago"),
        (400, "over a year ago"), (800, "over 2 years ago"), (-3, "on 19 Jun 2025"),
    ],
)  # fmt: skip
def test_days_ago(days: int, phrase: str) -> None:
    assert texts.days_ago(TODAY - timedelta(days=days), TODAY) == phrase


def test_evidence_line_states_only_what_happened() -> None:
    one_way = EvidenceView(emails_to_lead=3, last_contact=TODAY - timedelta(days=2))
    assert (
        texts.evidence_line(one_way, TODAY)
        == "3 e-mails sent, none received · last contact 2 days ago"
    )
    never = EvidenceView(emails_to_lead=30, heard=False)
    assert texts.evidence_line(never, TODAY) == "30 e-mails sent, never answered"
    received = EvidenceView(emails_from_lead=1)
    assert texts.evidence_line(received, TODAY) == "1 e-mail received"
    assert texts.evidence_line(EvidenceView(), TODAY) == "No recent contact on record"


def test_write_gallery_round_trips(tmp_path: Path) -> None:
    written = write_gallery(tmp_path, SAMPLES)
    assert {p.name for p in written} == set(GALLERY)
    for path in written:
        assert json.loads(path.read_text("utf-8")) == GALLERY[path.name]


def test_build_card_rejects_unknown_views() -> None:
    with pytest.raises(TypeError):
        build_card(LeadView(lead_id=1, name="x"))  # type: ignore[arg-type]
