"""One entry point from any view model to its card, for the bot and the gallery."""

from __future__ import annotations

from typing import Any

from cards.choice import choice_card, no_match_card
from cards.details import details_card
from cards.error import error_card
from cards.extension import heads_up_card, inserted_card, shared_result_card, unfurl_card
from cards.help import help_card
from cards.introduction import compose_card, request_card
from cards.listview import list_card
from cards.notice import no_access_card, notice_card
from cards.privacy import my_data_card, privacy_card
from cards.result import result_card
from cards.status import status_card
from cards.views import (
    ChoiceView,
    ComposeView,
    DetailsView,
    ErrorView,
    HeadsUpView,
    HelpView,
    InsertedView,
    IntroductionView,
    ListPageView,
    MyDataView,
    NoAccessView,
    NoMatchView,
    NoticeView,
    PrivacyView,
    RequestView,
    ResultView,
    SharedResultView,
    UnfurlView,
)

View = (
    ResultView
    | DetailsView
    | ListPageView
    | ComposeView
    | RequestView
    | IntroductionView
    | ChoiceView
    | NoMatchView
    | HelpView
    | PrivacyView
    | MyDataView
    | ErrorView
    | NoticeView
    | NoAccessView
    | SharedResultView
    | InsertedView
    | UnfurlView
    | HeadsUpView
)


def build_card(view: View) -> dict[str, Any]:
    """The card dict for ``view``, whichever card family it belongs to."""
    match view:
        case ResultView():
            return result_card(view)
        case DetailsView():
            return details_card(view)
        case ListPageView():
            return list_card(view)
        case ComposeView():
            return compose_card(view)
        case RequestView():
            return request_card(view)
        case IntroductionView():
            return status_card(view)
        case ChoiceView():
            return choice_card(view)
        case NoMatchView():
            return no_match_card(view)
        case HelpView():
            return help_card(view)
        case PrivacyView():
            return privacy_card(view)
        case MyDataView():
            return my_data_card(view)
        case ErrorView():
            return error_card(view)
        case NoticeView():
            return notice_card(view)
        case NoAccessView():
            return no_access_card(view)
        case SharedResultView():
            return shared_result_card(view)
        case InsertedView():
            return inserted_card(view)
        case UnfurlView():
            return unfurl_card(view)
        case HeadsUpView():
            return heads_up_card(view)
    raise TypeError(f"no card for {type(view).__name__}")
