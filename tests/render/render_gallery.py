"""Render the card gallery to PNG in headless Chromium and report renderer errors.

    .venv/bin/python -m tests.render.render_gallery --out build/cards [--gallery DIR] [--docs]

Without ``--gallery`` it writes the sample gallery (cards.gallery.sample_views) first;
with it, it renders an existing gallery such as the one ``whoknows cards --out DIR``
writes. ``--docs`` copies the main pictures to docs/cards/. Exit status 1 when the
renderer reports an error for any card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("render_cards.mjs")
CHROMIUM = Path("/usr/bin/chromium")
RENDERER = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
DOCS = ROOT / "docs" / "cards"
DOC_PICTURES = {
    "result.png": "result.png",
    "details.png": "details.png",
    "list_page1.png": "list.png",
    "compose.png": "compose.png",
    "request.png": "request.png",
    "optout_confirm.png": "privacy.png",
    "my_data.png": "my_data.png",
    "help.png": "help.png",
    "result_company.png": "result_company.png",
    "notice_accepted.png": "notice.png",
    "choice.png": "choice.png",
    "heads_up.png": "heads_up.png",
    "unfurl_anonymous.png": "unfurl_anonymous.png",
}
"""Gallery picture -> name under docs/cards/."""


def missing_tools() -> str | None:
    """Why rendering can't run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not RENDERER.exists():
        return "node_modules is missing (npm install)"
    if shutil.which("node") is None:
        return "node is not on PATH"
    return None


def render(gallery: Path, out: Path, *, only: list[str] | None = None) -> dict[str, Any]:
    """Run the node renderer over ``gallery``; returns its report {"cards": {name: {...}}}."""
    command = ["node", str(SCRIPT), "--in", str(gallery), "--out", str(out)]
    if only:
        command += ["--only", ",".join(only)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"renderer failed ({done.returncode}): {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--gallery", type=Path, help="existing gallery folder of card JSON")
    parser.add_argument("--docs", action="store_true", help="copy the main PNGs to docs/cards/")
    args = parser.parse_args(argv)
    if reason := missing_tools():
        print(f"cannot render: {reason}", file=sys.stderr)
        return 2
    gallery = args.gallery
    if gallery is None:
        from cards.gallery import sample_views, write_gallery

        gallery = args.out / "json"
        write_gallery(gallery, sample_views(date.today()))
    report = render(gallery, args.out)
    failed = {name: c["errors"] for name, c in report["cards"].items() if c["errors"]}
    for name, card in sorted(report["cards"].items()):
        status = "ERROR " + "; ".join(card["errors"]) if card["errors"] else "ok"
        print(f"{name:34} {card['width']}x{card['height']}  {status}")
    if args.docs:
        DOCS.mkdir(parents=True, exist_ok=True)
        for source, target in DOC_PICTURES.items():
            if (args.out / source).exists():
                shutil.copyfile(args.out / source, DOCS / target)
        print(f"copied {len(DOC_PICTURES)} pictures to {DOCS}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
