"""Convert PCF bitmap fonts into LightBox's compact font data (run once).

Sources: the X11 "misc-fixed" fonts (public domain) and Spleen (BSD-2-Clause).
Usage (needs the Debian packages below; the runtime and CI do not)::

    apt-get install -y xfonts-base fonts-spleen
    .venv/bin/python tools/build_fonts.py [--src /usr/share/fonts/X11/misc] \
        [--out src/lightbox/render/fonts/data]

For every font it writes ``<name>.npz`` holding:

- ``codepoints``: ``uint32[N]``, sorted Unicode code points;
- ``bits``: ``np.packbits`` of a ``bool[N, H, W]`` array of glyph cells (axis -1);
- ``metrics``: ``int32[4]`` = cell width, cell height, ascent, descent.

Each glyph is drawn into a fixed ``W x H`` cell (the font's advance width by its ascent +
descent, baseline at ``ascent``), so the renderer can place text by slicing. Only
single-width glyphs in the ranges below are kept. The PCF parser is our own (Pillow's
``PcfFontFile`` only exposes 256 code points).
"""

from __future__ import annotations

import argparse
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# LightBox font name -> PCF file under --src. The names are the wire contract
# (lightbox.protocol.fonts.FONT_NAMES, less the scalable font).
FONTS = {
    "5x7": "5x7.pcf.gz",  # X11 misc-fixed, public domain (xfonts-base)
    "6x10": "6x10.pcf.gz",  # X11 misc-fixed, public domain (xfonts-base)
    "8x16": "spleen-8x16.pcf.gz",  # Spleen by Frederic Cambus, BSD-2-Clause (fonts-spleen)
}

RANGES = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x00FF),  # Latin-1 Supplement
    (0x0100, 0x017F),  # Latin Extended-A
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x04FF),  # Cyrillic
    (0x2010, 0x205E),  # General Punctuation (dashes, quotes, bullet, ellipsis)
    (0x20A0, 0x20BF),  # Currency symbols (euro ...)
    (0x2190, 0x21FF),  # Arrows
    (0x2500, 0x259F),  # Box drawing, block elements
    (0x25A0, 0x25FF),  # Geometric shapes
    (0x2600, 0x266F),  # Miscellaneous symbols (sun, hearts, notes ...)
    (0xFFFD, 0xFFFD),  # Replacement character
)

PCF_PROPERTIES = 1 << 0
PCF_ACCELERATORS = 1 << 1
PCF_METRICS = 1 << 2
PCF_BITMAPS = 1 << 3
PCF_BDF_ENCODINGS = 1 << 5
PCF_BDF_ACCELERATORS = 1 << 8

PCF_BYTE_MSB = 1 << 2
PCF_BIT_MSB = 1 << 3
PCF_COMPRESSED_METRICS = 0x100


@dataclass
class Metric:
    left: int
    right: int
    width: int
    ascent: int
    descent: int


class Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.pos = offset
        (self.format,) = struct.unpack_from("<i", data, offset)
        self.pos += 4
        self.endian = ">" if self.format & PCF_BYTE_MSB else "<"

    def read(self, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from(self.endian + fmt, self.data, self.pos)
        self.pos += struct.calcsize(self.endian + fmt)
        return values


class PcfFont:
    def __init__(self, data: bytes) -> None:
        if data[:4] != b"\x01fcp":
            raise ValueError("not a PCF font")
        (count,) = struct.unpack_from("<i", data, 4)
        self.tables: dict[int, int] = {}
        for i in range(count):
            kind, _fmt, _size, offset = struct.unpack_from("<iiii", data, 8 + 16 * i)
            self.tables[kind] = offset
        self.data = data
        self.metrics = self._metrics()
        self.bitmaps, self.bitmap_format = self._bitmaps()
        self.encoding = self._encoding()
        self.ascent, self.descent = self._accelerators()

    def _metrics(self) -> list[Metric]:
        r = Reader(self.data, self.tables[PCF_METRICS])
        out = []
        if r.format & PCF_COMPRESSED_METRICS:
            (n,) = r.read("h")
            for _ in range(n):
                lb, rb, w, a, d = (v - 0x80 for v in r.read("BBBBB"))
                out.append(Metric(lb, rb, w, a, d))
        else:
            (n,) = r.read("i")
            for _ in range(n):
                lb, rb, w, a, d, _attr = r.read("hhhhhH")
                out.append(Metric(lb, rb, w, a, d))
        return out

    def _bitmaps(self) -> tuple[list[bytes], int]:
        r = Reader(self.data, self.tables[PCF_BITMAPS])
        (n,) = r.read("i")
        offsets = r.read(f"{n}i")
        sizes = r.read("4i")
        blob = self.data[r.pos : r.pos + sizes[r.format & 3]]
        ends = [*offsets[1:], len(blob)]
        return [blob[o:e] for o, e in zip(offsets, ends, strict=True)], r.format

    def _encoding(self) -> dict[int, int]:
        r = Reader(self.data, self.tables[PCF_BDF_ENCODINGS])
        min2, max2, min1, max1, _default = r.read("hhhhh")
        cols = max2 - min2 + 1
        n = cols * (max1 - min1 + 1)
        indices = r.read(f"{n}H")
        out = {}
        for i, glyph in enumerate(indices):
            if glyph != 0xFFFF:
                out[((min1 + i // cols) << 8) | (min2 + i % cols)] = glyph
        return out

    def _accelerators(self) -> tuple[int, int]:
        offset = self.tables.get(PCF_BDF_ACCELERATORS, self.tables.get(PCF_ACCELERATORS))
        assert offset is not None
        r = Reader(self.data, offset)
        r.read("8B")
        ascent, descent = r.read("ii")
        return ascent, descent

    def glyph(self, index: int) -> tuple[Metric, np.ndarray]:
        """The glyph's metric and its ink bitmap as ``bool[ascent + descent, right - left]``."""
        m = self.metrics[index]
        fmt = self.bitmap_format
        if (fmt >> 4) & 3 and bool(fmt & PCF_BYTE_MSB) != bool(fmt & PCF_BIT_MSB):
            raise ValueError("PCF scan units with mixed byte/bit order are not supported")
        pad = 1 << (fmt & 3)
        w, h = m.right - m.left, m.ascent + m.descent
        row_bytes = ((w + 7) // 8 + pad - 1) // pad * pad
        raw = np.frombuffer(self.bitmaps[index], dtype=np.uint8)[: row_bytes * h]
        bitorder = "big" if fmt & PCF_BIT_MSB else "little"
        bits = np.unpackbits(raw.reshape(h, row_bytes), axis=1, bitorder=bitorder)
        return m, bits[:, :w].astype(bool)


def convert(src: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    font = PcfFont(gzip.decompress(src.read_bytes()))
    space = font.metrics[font.encoding[0x20]]
    cell_w, cell_h = space.width, font.ascent + font.descent
    codepoints: list[int] = []
    cells: list[np.ndarray] = []
    for lo, hi in RANGES:
        for cp in range(lo, hi + 1):
            index = font.encoding.get(cp)
            if index is None:
                continue
            m, ink = font.glyph(index)
            if m.width != cell_w:
                continue  # double-width or zero-width glyph: not for a cell font
            cell = np.zeros((cell_h, cell_w), dtype=bool)
            top = font.ascent - m.ascent
            # Clip the ink box to the cell (misc-fixed glyphs stay inside it anyway).
            y0, y1 = max(top, 0), min(top + ink.shape[0], cell_h)
            x0, x1 = max(m.left, 0), min(m.left + ink.shape[1], cell_w)
            if y1 > y0 and x1 > x0:
                cell[y0:y1, x0:x1] = ink[y0 - top : y1 - top, x0 - m.left : x1 - m.left]
            codepoints.append(cp)
            cells.append(cell)
    metrics = np.array([cell_w, cell_h, font.ascent, font.descent], dtype=np.int32)
    return np.array(codepoints, dtype=np.uint32), np.stack(cells), metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("/usr/share/fonts/X11/misc"))
    parser.add_argument("--out", type=Path, default=Path("src/lightbox/render/fonts/data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, filename in FONTS.items():
        codepoints, cells, metrics = convert(args.src / filename)
        path = args.out / f"{name}.npz"
        np.savez_compressed(
            path, codepoints=codepoints, bits=np.packbits(cells, axis=-1), metrics=metrics
        )
        w, h, asc, desc = metrics.tolist()
        print(f"{name}: cell {w}x{h} (ascent {asc}, descent {desc}), {len(codepoints)} glyphs")


if __name__ == "__main__":
    main()
