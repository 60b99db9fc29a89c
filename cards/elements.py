"""Thin helpers over adaptive-cards-py so card modules read like the card they build.

Every card is schema 1.5 (the highest Teams renders for bot messages) and is returned
as a plain JSON dict (enums turned into strings), ready for an activity attachment or
an invoke response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from adaptive_cards import types as t
from adaptive_cards.card import (
    ActionExecute,
    ActionOpenUrl,
    ActionSet,
    AdaptiveCard,
    Column,
    ColumnSet,
    Container,
    Fact,
    FactSet,
    InputText,
    RichTextBlock,
    TextBlock,
    TextRun,
)

from cards import verbs
from cards.views import LeadView, Tier

VERSION: Literal["1.5"] = "1.5"
UNFURL_VERSION: Literal["1.3"] = "1.3"
"""Link unfurling takes Adaptive Cards up to 1.3 only: no Action.Execute, no refresh."""

Element = TextBlock | RichTextBlock | ColumnSet | Container | FactSet | ActionSet | InputText
Action = ActionExecute | ActionOpenUrl
Size = Literal["small", "default", "medium", "large", "extraLarge"]
Color = Literal["default", "accent", "good", "warning", "attention", "dark", "light"]
Spacing = Literal["none", "small", "default", "medium", "large", "extraLarge", "padding"]
Style = Literal["default", "emphasis", "good", "attention", "warning", "accent"]

TIER_COLORS: dict[Tier, Color] = {"Strong": "good", "Moderate": "accent", "Weak": "default"}


def text(
    value: str,
    *,
    size: Size | None = None,
    bold: bool = False,
    color: Color | None = None,
    subtle: bool | None = None,
    spacing: Spacing | None = None,
    separator: bool | None = None,
    max_lines: int | None = None,
    heading: bool = False,
) -> TextBlock:
    """A wrapping text block."""
    return TextBlock(
        text=value,
        wrap=True,
        size=t.FontSize(size) if size else None,
        weight=t.FontWeight.BOLDER if bold else None,
        color=t.Colors(color) if color else None,
        is_subtle=subtle,
        spacing=t.Spacing(spacing) if spacing else None,
        separator=separator,
        max_lines=max_lines,
        style=t.TextBlockStyle.HEADING if heading else None,
    )


def title(value: str) -> TextBlock:
    """The card's heading."""
    return text(value, size="large", bold=True, heading=True)


def subtitle(value: str) -> TextBlock:
    return text(value, subtle=True, spacing="none")


def tier_text(tier: Tier, label: str, *, size: Size | None = None) -> TextBlock:
    """The strength label in its colour; the label carries bars so colour is never alone."""
    return TextBlock(
        text=label,
        weight=t.FontWeight.BOLDER,
        color=t.Colors(TIER_COLORS[tier]),
        size=t.FontSize(size) if size else None,
        horizontal_alignment=t.HorizontalAlignment.RIGHT,
    )


def name_with_tier(name: str, tier: Tier, badge: str) -> RichTextBlock:
    """A bold name followed by the coloured strength label, wrapping as one paragraph."""
    return RichTextBlock(
        inlines=[
            TextRun(text=name, weight=t.FontWeight.BOLDER),
            TextRun(
                text="\u2002" + badge.replace(" ", "\u00a0"),
                weight=t.FontWeight.BOLDER,
                color=t.Colors(TIER_COLORS[tier]),
                size=t.FontSize.SMALL,
            ),
        ]
    )


def column(
    items: Sequence[Element],
    *,
    width: str = "stretch",
    align: Literal["top", "center", "bottom"] | None = None,
    spacing: Spacing | None = None,
    select: ActionExecute | None = None,
) -> Column:
    """A column; ``select`` makes the whole column a button (e.g. a name opening details)."""
    return Column(
        items=list(items),
        select_action=select,
        width=width,
        vertical_content_alignment=t.VerticalAlignment(align) if align else None,
        spacing=t.Spacing(spacing) if spacing else None,
    )


def columns(
    cols: Sequence[Column], *, spacing: Spacing | None = None, separator: bool | None = None
) -> ColumnSet:
    return ColumnSet(
        columns=list(cols),
        spacing=t.Spacing(spacing) if spacing else None,
        separator=separator,
    )


def container(
    items: Sequence[Element],
    *,
    style: Style | None = None,
    spacing: Spacing | None = None,
    separator: bool | None = None,
    bleed: bool | None = None,
) -> Container:
    return Container(
        items=list(items),
        style=t.ContainerStyle(style) if style else None,
        spacing=t.Spacing(spacing) if spacing else None,
        separator=separator,
        bleed=bleed,
    )


def facts(pairs: Iterable[tuple[str, str]], *, spacing: Spacing | None = None) -> FactSet:
    return FactSet(
        facts=[Fact(title=k, value=v) for k, v in pairs],
        spacing=t.Spacing(spacing) if spacing else None,
    )


def bullets(lines: Iterable[str], *, spacing: Spacing | None = None) -> TextBlock:
    """A markdown bullet list in one text block."""
    return text("\n".join(f"- {line}" for line in lines), spacing=spacing)


def data(verb: str, **ids: int) -> dict[str, Any]:
    """Action data: the verb and ids only (see :mod:`cards.verbs`)."""
    if verb not in verbs.ALL:
        raise ValueError(f"unknown verb {verb!r}")
    unknown = set(ids) - verbs.DATA_KEYS
    if unknown:
        raise ValueError(f"unexpected data keys {sorted(unknown)}")
    return {"verb": verb, **ids}


def subject_ids(lead: LeadView) -> dict[str, int]:
    """Ids naming what was asked about: ``lead`` for a person, ``company`` for a company."""
    return {"company": lead.lead_id} if lead.is_company else {"lead": lead.lead_id}


def execute(
    title_: str,
    verb: str,
    *,
    ids: Mapping[str, int] | None = None,
    style: Literal["positive", "destructive"] | None = None,
    inputs: Literal["auto", "none"] | None = None,
) -> ActionExecute:
    """A Universal Action button; ``inputs="none"`` keeps the card's inputs out (Cancel)."""
    return ActionExecute(
        title=title_,
        verb=verb,
        data=data(verb, **dict(ids or {})),
        style=t.ActionStyle(style) if style else None,
        associated_inputs=t.AssociatedInputs(inputs) if inputs else None,
    )


def open_url(title_: str, url: str) -> ActionOpenUrl:
    return ActionOpenUrl(title=title_, url=url)


def action_set(actions: Sequence[Action], *, spacing: Spacing | None = None) -> ActionSet:
    return ActionSet(actions=list(actions), spacing=t.Spacing(spacing) if spacing else None)


def card(
    body: Sequence[Element],
    actions: Sequence[Action] = (),
    *,
    full_width: bool = False,
    fallback_text: str | None = None,
    version: Literal["1.3", "1.5"] = VERSION,
) -> dict[str, Any]:
    """Assemble a card (schema 1.5 unless told) and return it as a plain JSON dict."""
    builder = AdaptiveCard.new().version(version).add_items(list(body))
    if actions:
        builder = builder.add_actions(list(actions))
    if full_width:
        builder = builder.width(t.MSTeamsCardWidth.FULL)
    if fallback_text:
        builder = builder.fallback_text(fallback_text)
    result: dict[str, Any] = _drop_defaults(json.loads(builder.create().to_json()))
    return result


def _drop_defaults(node: Any) -> Any:
    """Remove the ``mode: primary`` the library adds to every action (it is the default)."""
    if isinstance(node, dict):
        return {
            k: _drop_defaults(v)
            for k, v in node.items()
            if not (
                k == "mode" and v == "primary" and str(node.get("type", "")).startswith("Action.")
            )
        }
    if isinstance(node, list):
        return [_drop_defaults(v) for v in node]
    return node
