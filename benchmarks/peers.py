"""painterly's defaults against pastiche 1.6.0's default (1000 L-BFGS steps), on any device.

For each content x style pair, pastiche runs in a subprocess (``--pastiche-python``, with
``--pastiche-path`` prepended to its PYTHONPATH when given) and painterly runs in-process
with its defaults (one :class:`painterly.Stylizer`, one warm-up run first).  Both outputs are
scored by ``benchmarks/score.py`` with all five measures (style, texture and content
distances, leak fraction, recognizability); the table (markdown) and a picture
content | pastiche | painterly per pair are written to ``--out``.

``benchmarks/bench.py`` is the CPU benchmark of record (timings under ``/usr/bin/time``); this
script is for scoring the two side by side, on a GPU in minutes where the CPU takes hours.

Usage: python benchmarks/peers.py --device cuda --images DIR --photos DIR
       [--pairs tubingen:starry_night ...] [--size 512] [--pastiche-python python3]
       [--pastiche-path DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import painterly  # noqa: E402
from benchmarks import score  # noqa: E402

PAIRS = ["tubingen:starry_night", "tubingen:the_scream",
         "hoovertowernight:woman-with-hat-matisse"]
MEASURES = ("style", "texture", "content", "leak", "recog")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_pastiche(a: argparse.Namespace, content: Path, style: Path, out: Path) -> float:
    env = dict(os.environ)
    if a.pastiche_path:
        env["PYTHONPATH"] = os.pathsep.join([a.pastiche_path, env.get("PYTHONPATH", "")])
    cmd = [a.pastiche_python, "-m", "pastiche", "--content", str(content), "--styles",
           str(style), "--output", str(out), "--size", str(a.size), "--num-steps",
           str(a.pastiche_steps), "--device", a.device, "--seed", "0", "--info-step",
           str(a.pastiche_steps)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", nargs="+", default=PAIRS)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--images", default=str(ROOT.parent / "shared" / "images"))
    p.add_argument("--photos", default=str(score.PHOTOS))
    p.add_argument("--pastiche-python", default=sys.executable)
    p.add_argument("--pastiche-path", default="")
    p.add_argument("--pastiche-steps", type=int, default=1000)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "peers"))
    a = p.parse_args()
    images, out = Path(a.images), Path(a.out)
    if not images.is_dir():
        print(f"peers: {images} not found; skipped")
        return
    out.mkdir(parents=True, exist_ok=True)
    scorer = score.Scorer(None, a.device, a.photos, score.N_PHOTOS)
    st = painterly.Stylizer(device=a.device)
    opts = painterly.Options(size=a.size)
    first = images / f"{a.pairs[0].split(':')[0]}.jpg"
    st.run(first, [images / f"{a.pairs[0].split(':')[1]}.jpg"], painterly.Options(size=128))
    rows, strip = [], []
    for pair in a.pairs:
        c, s = pair.split(":")
        cp, sp = images / f"{c}.jpg", images / f"{s}.jpg"
        po = out / f"pastiche_{c}_{s}.png"
        pt = run_pastiche(a, cp, sp, po)
        _sync(a.device)
        t = time.perf_counter()
        img = st.run(cp, [sp], opts)
        _sync(a.device)
        mt = time.perf_counter() - t
        mo = out / f"painterly_{c}_{s}.png"
        img.save(mo)
        for name, path, secs in (("pastiche 1.6.0 (1000 steps)", po, pt),
                                 ("painterly (defaults)", mo, mt)):
            sc = scorer.score(path, cp, sp)
            rows.append((c, s, name, sc, secs))
            print(c, s, name, {k: round(sc.get(k, float("nan")), 4) for k in MEASURES},
                  f"{secs:.1f}s", flush=True)
        strip.append([Image.open(cp).convert("RGB"), Image.open(po).convert("RGB"), img])
    dev = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu"
    lines = [f"{a.size} px, {dev}, torch {torch.__version__}; scores from "
             "`benchmarks/score.py` (fp32).", "",
             "| content | style | run | style dist. | texture dist. | content dist. | leak | "
             "recog | s |", "|---|---|---|---|---|---|---|---|---|"]
    for c, s, name, sc, secs in rows:
        lines.append(f"| {c} | {s} | {name} | " + " | ".join(
            f"{sc.get(k, float('nan')):.3f}" for k in MEASURES) + f" | {secs:.1f} |")
    (out / "peers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    h, pad = 200, 6
    rows_img = [[im.resize((round(im.width * h / im.height), h)) for im in r] for r in strip]
    width = max(sum(im.width for im in r) + pad * (len(r) + 1) for r in rows_img)
    sheet = Image.new("RGB", (width, 24 + len(rows_img) * (h + pad) + pad), "white")
    d = ImageDraw.Draw(sheet)
    d.text((pad, 6), "content | pastiche 1.6.0, 1000 steps | painterly, defaults", fill="black")
    for r, ims in enumerate(rows_img):
        x = pad
        for im in ims:
            sheet.paste(im, (x, 24 + r * (h + pad)))
            x += im.width + pad
    sheet.save(out / "peers.png", optimize=True)


if __name__ == "__main__":
    main()
