"""Draw the web app's icons: an LED matrix of glowing dots on a dark tile.

One design, written twice from the same numbers: as SVG (``icon.svg``, the favicon) and
with Pillow as PNG (``icon-192.png``, ``icon-512.png`` for the manifest, and
``icon-maskable-512.png`` whose dots stay inside the maskable safe zone). The PNGs are
committed; run this again after changing the design::

    .venv/bin/python tools/make_icons.py
"""

from __future__ import annotations

import colorsys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parents[1] / "src" / "lightbox" / "web" / "app" / "icons"

BACKGROUND = (11, 13, 18)
UNLIT = (31, 37, 51)
GRID = 7
# A heart drawn by the lit dots; the rest stay dark, as on a real matrix.
HEART = (
    ".......",
    ".##.##.",
    "#######",
    "#######",
    ".#####.",
    "..###..",
    "...#...",
)


def dot_color(x: int, y: int) -> tuple[int, int, int]:
    """Lit dots run from cyan (top left) to magenta (bottom right)."""
    t = (x + y) / (2 * (GRID - 1))
    hue = (190 + 130 * t) / 360
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, 0.8, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def dots(size: float, scale: float) -> list[tuple[float, float, float, tuple[int, int, int], bool]]:
    """(cx, cy, radius, colour, lit) of every dot; ``scale`` shrinks the grid (maskable)."""
    grid = size * 0.72 * scale
    cell = grid / GRID
    origin = (size - grid) / 2
    result = []
    for y in range(GRID):
        for x in range(GRID):
            lit = HEART[y][x] == "#"
            cx = origin + (x + 0.5) * cell
            cy = origin + (y + 0.5) * cell
            result.append((cx, cy, cell * 0.36, dot_color(x, y) if lit else UNLIT, lit))
    return result


def hex_color(c: tuple[int, int, int]) -> str:
    return f"#{c[0]:02x}{c[1]:02x}{c[2]:02x}"


def svg(size: int = 512) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size}" height="{size}">',
        '<defs><filter id="glow" x="-50%" y="-50%" width="200%" height="200%">'
        f'<feGaussianBlur stdDeviation="{size * 0.022:.1f}"/></filter></defs>',
        f'<rect width="{size}" height="{size}" rx="{size * 0.22:.0f}" '
        f'fill="{hex_color(BACKGROUND)}"/>',
    ]
    all_dots = dots(size, 1.0)
    glow = [
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r * 1.25:.1f}" fill="{hex_color(c)}"/>'
        for cx, cy, r, c, lit in all_dots
        if lit
    ]
    parts.append(f'<g filter="url(#glow)" opacity="0.8">{"".join(glow)}</g>')
    parts.extend(
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{hex_color(c)}"/>'
        for cx, cy, r, c, _ in all_dots
    )
    parts.append("</svg>\n")
    return "\n".join(parts)


def png(size: int, *, maskable: bool = False) -> Image.Image:
    """The icon at ``size`` px, drawn 4x larger and scaled down (smooth edges)."""
    big = size * 4
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:  # full bleed: the platform cuts its own shape out of it
        draw.rectangle((0, 0, big, big), fill=BACKGROUND)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=BACKGROUND)
    all_dots = dots(big, 0.78 if maskable else 1.0)
    glow = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    glow_draw = ImageDraw.Draw(glow)
    for cx, cy, r, c, lit in all_dots:
        if lit:
            rr = r * 1.25
            glow_draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=(*c, 200))
    glow = glow.filter(ImageFilter.GaussianBlur(big * 0.022))
    image = Image.alpha_composite(image, glow)
    draw = ImageDraw.Draw(image)
    for cx, cy, r, c, _ in all_dots:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=c)
    if not maskable:  # keep the glow inside the rounded tile
        mask = Image.new("L", (big, big), 0)
        ImageDraw.Draw(mask).rounded_rectangle(
            (0, 0, big - 1, big - 1), radius=big * 0.22, fill=255
        )
        image.putalpha(mask)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon.svg").write_text(svg(), encoding="utf-8")
    for size in (192, 512):
        png(size).save(OUT / f"icon-{size}.png", optimize=True)
    png(512, maskable=True).save(OUT / "icon-maskable-512.png", optimize=True)
    png(180, maskable=True).convert("RGB").save(OUT / "apple-touch-icon.png", optimize=True)
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
