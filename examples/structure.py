"""Make the README's --structure figure: one pair at structure 0, 0.5 and 1.

Reads ../shared/images when it exists (skips cleanly otherwise; ``--images DIR`` names another
folder) and writes docs/structure.png.  Usage: python examples/structure.py [--size 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

import painterly

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = (0.0, 0.5, 1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=str(ROOT.parent / "shared" / "images"))
    p.add_argument("--content", default="hoovertowernight.jpg")
    p.add_argument("--style", default="woman-with-hat-matisse.jpg")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--out", default=str(ROOT / "docs" / "structure.png"))
    a = p.parse_args()
    images = Path(a.images)
    if not images.is_dir():
        print(f"skipped: {images} not found")
        return
    st = painterly.Stylizer()
    outs = []
    for s in SETTINGS:
        t = time.perf_counter()
        outs.append(st.run(images / a.content, [images / a.style],
                           painterly.Options(size=a.size, structure=s)).convert("RGB"))
        print(f"structure {s}: {time.perf_counter() - t:.1f} s")
    style = Image.open(images / a.style).convert("RGB")
    h, pad, top = 240, 8, 26
    ims = [im.resize((round(im.width * h / im.height), h), Image.Resampling.LANCZOS)
           for im in [style, *outs]]
    sheet = Image.new("RGB", (sum(im.width for im in ims) + pad * (len(ims) + 1), h + top + pad),
                      "white")
    d = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    x = pad
    for im, title in zip(ims, ["style", *(f"--structure {s:g}" for s in SETTINGS)]):
        d.text((x, 5), title, fill="black", font=font)
        sheet.paste(im, (x, top))
        x += im.width + pad
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(a.out, optimize=True)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    try:
        main()
    except painterly.PainterlyError as e:  # one clear line, as the CLI does
        print(f"painterly: error: {str(e).replace('size=', '--size ', 1)}", file=sys.stderr)
        sys.exit(2)
