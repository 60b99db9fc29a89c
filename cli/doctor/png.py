"""Just enough PNG reading to check Teams icons: size, and whether an outline icon is white
on transparent. No imaging library is a runtime dependency, so this decodes the common
8-bit, non-interlaced forms itself and says when it cannot."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PngError(ValueError):
    pass


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    pixels: list[tuple[int, int, int, int]] | None
    """RGBA pixels row by row; None for forms not decoded here (16-bit, interlaced)."""


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return out


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    stride = width * bpp
    rows: list[bytearray] = []
    prior = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prior[i]
            corner = prior[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
            elif kind != 0:
                raise PngError(f"unknown PNG filter {kind}")
        rows.append(line)
        prior = line
    return rows


def read(data: bytes) -> Image:
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file")
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR":
        raise PngError("a PNG without a header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or interlace or colour not in CHANNELS:
        return Image(width, height, None)
    palette = next((body for kind, body in chunks if kind == b"PLTE"), b"")
    alpha = next((body for kind, body in chunks if kind == b"tRNS"), b"")
    try:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
        rows = _unfilter(raw, width, height, CHANNELS[colour])
    except (zlib.error, IndexError) as exc:
        raise PngError(f"damaged PNG data: {exc}") from exc
    pixels: list[tuple[int, int, int, int]] = []
    for row in rows:
        for x in range(width):
            if colour == 6:
                r, g, b, a = row[4 * x : 4 * x + 4]
            elif colour == 2:
                r, g, b = row[3 * x : 3 * x + 3]
                a = 255
            elif colour == 4:
                r = g = b = row[2 * x]
                a = row[2 * x + 1]
            elif colour == 0:
                r = g = b = row[x]
                a = 255
            else:
                i = row[x]
                r, g, b = palette[3 * i : 3 * i + 3]
                a = alpha[i] if i < len(alpha) else 255
            pixels.append((r, g, b, a))
    return Image(width, height, pixels)
