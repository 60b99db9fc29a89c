"""The gallery renders in the official Adaptive Cards renderer (Teams light host config,
headless Chromium) without the renderer reporting a single error."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from cards.gallery import build_gallery, sample_views, write_gallery
from tests.render.render_gallery import missing_tools, render

pytestmark = pytest.mark.skipif(
    missing_tools() is not None, reason=f"cannot render cards: {missing_tools()}"
)


def test_every_gallery_card_renders_without_errors(tmp_path: Path) -> None:
    samples = sample_views(date(2025, 6, 16))
    written = write_gallery(tmp_path / "json", samples)
    report = render(tmp_path / "json", tmp_path / "png")
    assert set(report["cards"]) == {p.name for p in written}
    for name, card in report["cards"].items():
        assert card["errors"] == [], name
        with Image.open(card["png"]) as picture:
            assert picture.width >= 480 and picture.height >= 100, name
    # the longest list page really is the tallest picture
    tallest = max(report["cards"], key=lambda n: report["cards"][n]["height"])
    assert tallest == "list_longest.json"


def test_renderer_reports_errors_it_finds(tmp_path: Path) -> None:
    good = build_gallery(sample_views(date(2025, 6, 16)))["error.json"]
    bad = json.loads(json.dumps(good))
    bad["body"].append({"type": "Chart.Unknown"})
    bad["body"][0]["size"] = "gigantic"
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    report = render(tmp_path / "json", tmp_path / "png")
    errors = report["cards"]["bad.json"]["errors"]
    assert any("Chart.Unknown" in e for e in errors)
    assert any("gigantic" in e for e in errors)
