"""Make the README's results figure: content | style | painterly result, one row per pair.

Reads the classic test images from ../shared/images when that folder exists (skips cleanly
otherwise) and writes docs/results.png.  Usage: python examples/figure.py [SIZE]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

import painterly

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
PAIRS = [("tubingen.jpg", "starry_night.jpg"), ("tubingen.jpg", "the_scream.jpg"),
         ("hoovertowernight.jpg", "woman-with-hat-matisse.jpg"),
         ("tubingen.jpg", "shipwreck.jpg")]


def main(size: int = 384) -> int:
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found")
        return 0
    s = painterly.Stylizer()
    opts = painterly.Options(size=size)
    rows = []
    for c, st in PAIRS:
        t = time.perf_counter()
        out = s.run(SHARED / c, [SHARED / st], opts)
        print(f"{c} x {st}: {time.perf_counter() - t:.1f} s")
        rows.append((Image.open(SHARED / c).convert("RGB"), Image.open(SHARED / st).convert("RGB"),
                     out.convert("RGB"), f"{Path(st).stem}"))
    h = 220
    font = ImageFont.load_default(size=16)
    widths = [0, 0, 0]
    scaled = []
    for row in rows:
        ims = [im.resize((round(im.width * h / im.height), h), Image.Resampling.LANCZOS)
               for im in row[:3]]
        widths = [max(w, im.width) for w, im in zip(widths, ims)]
        scaled.append(ims)
    pad, top = 8, 28
    sheet = Image.new("RGB", (sum(widths) + pad * 4, top + len(rows) * (h + pad) + pad), "white")
    d = ImageDraw.Draw(sheet)
    x = pad
    for title, w in zip(("content", "style", f"painterly, defaults, {size} px"), widths):
        d.text((x, 6), title, fill="black", font=font)
        x += w + pad
    for r, ims in enumerate(scaled):
        x = pad
        for im, w in zip(ims, widths):
            sheet.paste(im, (x + (w - im.width) // 2, top + r * (h + pad)))
            x += w + pad
    out = ROOT / "docs" / "results.png"
    out.parent.mkdir(exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else "384"
    if not arg.isdigit():
        print(f"painterly: error: SIZE is a number of pixels, not {arg!r} (usage: python "
              f"examples/figure.py [SIZE])", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(int(arg)))
    except painterly.PainterlyError as e:  # one clear line, as the CLI does
        print(f"painterly: error: {str(e).replace('size=', 'SIZE ', 1)}", file=sys.stderr)
        sys.exit(2)
