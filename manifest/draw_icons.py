"""Draw the Teams app icons: ``python manifest/draw_icons.py [OUT_DIR]``.

The PNGs are committed; this script is how they were made, so that the artwork can be
changed in review like code. Motif: two colleagues side by side, linked at the shoulder
by an amber badge holding a graph edge (the introduction). Everything is drawn large and
reduced, which gives clean anti-aliased edges at 192 and 32 pixels.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

BRAND = (16, 110, 130)  # deep teal; also the manifest's accentColor #106E82
BRAND_DARK = (9, 78, 94)
BACK_PERSON = (163, 222, 229)  # pale teal: the colleague who knows the lead
SPARK = (255, 184, 77)  # warm amber: the introduction

COLOR_SIZE = 192
OUTLINE_SIZE = 32


def _bust(
    draw: ImageDraw.ImageDraw,
    cx: float,
    top: float,
    scale: float,
    fill: int | tuple[int, ...],
) -> None:
    """A head and shoulders whose head top is at ``top``, centred on ``cx``."""
    head_r = 17 * scale
    head_cy = top + head_r
    draw.ellipse((cx - head_r, top, cx + head_r, top + 2 * head_r), fill=fill)
    shoulder_w = 31 * scale
    shoulder_top = head_cy + head_r + 5 * scale
    # Shoulders: a tall ellipse whose lower part the caller crops flat.
    draw.ellipse(
        (cx - shoulder_w, shoulder_top, cx + shoulder_w, shoulder_top + 2.2 * shoulder_w),
        fill=fill,
    )


def draw_color(size: int = COLOR_SIZE, supersample: int = 4) -> Image.Image:
    """The 192x192 colour icon: the symbol sits inside the central 112 px."""
    s = size * supersample
    unit = s / 192  # design units are pixels of the final 192 px icon
    img = Image.new("RGB", (s, s), BRAND)
    draw = ImageDraw.Draw(img)

    # A soft diagonal band gives depth without a gradient that would band when reduced.
    draw.polygon([(0, s * 0.78), (s * 0.78, 0), (s, 0), (s, s), (0, s)], fill=BRAND_DARK)
    draw.polygon(
        [(0, s * 0.92), (s * 0.92, 0), (s, 0), (s, s), (0, s)],
        fill=tuple(int(c * 0.9) for c in BRAND_DARK),
    )

    # The symbol is drawn on a layer and cropped at the bottom of the safe area.
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    ld = ImageDraw.Draw(layer)
    bottom = 150 * unit
    # Back person (right), pale.
    _bust(ld, 116 * unit, 50 * unit, unit * 1.0, (*BACK_PERSON, 255))
    # Gap ring around the front person so that the overlap reads clearly.
    gap = Image.new("L", (s, s), 0)
    gd = ImageDraw.Draw(gap)
    front_cx, front_top = 78 * unit, 58 * unit
    _bust(gd, front_cx, front_top - 5 * unit, unit * 1.15, 255)
    layer.paste((0, 0, 0, 0), (0, 0), gap)
    # Front person (left), white.
    _bust(ld, front_cx, front_top, unit * 1.0, (255, 255, 255, 255))

    # Crop the shoulders flat at the bottom of the safe area.
    ld.rectangle((0, bottom, s, s), fill=(0, 0, 0, 0))
    img.paste(layer, (0, 0), layer)

    # The link: a spark between the two, with a dark ring that separates it from both.
    d = ImageDraw.Draw(img)
    sx, sy, r = 100 * unit, 118 * unit, 15 * unit
    d.ellipse(
        (sx - r - 5 * unit, sy - r - 5 * unit, sx + r + 5 * unit, sy + r + 5 * unit), fill=BRAND
    )
    d.ellipse((sx - r, sy - r, sx + r, sy + r), fill=SPARK)
    _edge(d, sx, sy, unit, BRAND_DARK)

    return img.resize((size, size), Image.Resampling.LANCZOS)


def _edge(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, unit: float, fill: tuple[int, int, int]
) -> None:
    """Two nodes joined by a line, rising to the right: one person linked to another."""
    ax, ay, r = cx - 6.5 * unit, cy + 5 * unit, 4.2 * unit
    bx, by = cx + 6.5 * unit, cy - 5 * unit
    draw.line((ax, ay, bx, by), fill=fill, width=round(3.2 * unit))
    draw.ellipse((ax - r, ay - r, ax + r, ay + r), fill=fill)
    draw.ellipse((bx - r, by - r, bx + r, by + r), fill=fill)


def draw_outline(size: int = OUTLINE_SIZE, supersample: int = 8) -> Image.Image:
    """The 32x32 outline icon: white strokes on a fully transparent background."""
    s = size * supersample
    u = s / 32  # design units are pixels of the final 32 px icon
    mask = Image.new("L", (s, s), 0)
    d = ImageDraw.Draw(mask)
    w = round(2.0 * u)  # a 2 px stroke stays crisp at 32 px

    # Back person (right): head and shoulders as outlines.
    d.ellipse((17 * u, 4 * u, 26 * u, 13 * u), outline=255, width=w)
    d.arc((13 * u, 15 * u, 31 * u, 35 * u), 180, 360, fill=255, width=w)
    # Clear the area of the front person so the strokes do not cross.
    d.ellipse((2.5 * u, 6.5 * u, 14.5 * u, 18.5 * u), fill=0)
    d.pieslice((-1 * u, 16 * u, 21 * u, 40 * u), 180, 360, fill=0)
    # Front person (left).
    d.ellipse((4 * u, 8 * u, 13 * u, 17 * u), outline=255, width=w)
    d.arc((1 * u, 19 * u, 19 * u, 39 * u), 180, 360, fill=255, width=w)
    # The spark: a small filled dot where the two meet.
    d.ellipse((19.5 * u, 20.5 * u, 25.5 * u, 26.5 * u), fill=0)
    d.ellipse((20.5 * u, 21.5 * u, 24.5 * u, 25.5 * u), fill=255)
    d.rectangle((0, 29.5 * u, s, s), fill=0)  # flat bottom, inside the canvas

    small = mask.resize((size, size), Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    out.putalpha(small)
    return out


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    draw_color().save(out_dir / "color.png", optimize=True)
    draw_outline().save(out_dir / "outline.png", optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
