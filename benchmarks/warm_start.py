"""Does ``stylize --init fast`` (the optimiser starts from the fast model's picture) reach the
default's quality in half its time?  On every development pair (each photo x painting of
../shared/images) at 512 px: the default run and each warm-start plan, interleaved in one
process (one VGG, one fast model, weights loaded once, one warm-up run first), timed whole
(the fast picture included), then scored with benchmarks/score.py (texture distance,
recognizability, leak).

    python benchmarks/warm_start.py --out DIR [--plans 1x10 1x20] [--size 512]

A plan ``SxN`` is ``--init fast --scales S --steps N``.  The table says, per plan, whether
every pair is equal or better on all three measures (within ``--tolerance``) in at most
half the default's time: the rule for making the warm start the default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
CONTENTS = ("tubingen.jpg", "hoovertowernight.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg", "shipwreck.jpg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--plans", nargs="+", default=["1x10", "1x20"])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--tolerance", type=float, default=0.02,
                    help="relative slack on 'equal or better' [default: 0.02]")
    a = ap.parse_args()
    images = Path(a.shared) / "images"
    if not images.is_dir():
        print(f"warm_start: {images} not found; nothing to measure", file=sys.stderr)
        raise SystemExit(0)

    import painterly
    from benchmarks.score import default_scorer
    from painterly.fast.method import FastMethod

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    st = painterly.Stylizer(start_with=FastMethod())
    plans = {"default": painterly.Options(size=a.size)}
    for p in a.plans:
        s, n = (int(v) for v in p.split("x"))
        plans[f"fast {p}"] = painterly.Options(size=a.size, init="fast", scales=s, steps=n)
    pairs = [(images / c, images / s) for c in CONTENTS for s in STYLES]
    st.run(str(pairs[0][0]), [str(pairs[0][1])], painterly.Options(size=64))  # warm-up
    rows = []
    for c, s in pairs:
        name = f"{c.stem}__{s.stem}"
        row = {"pair": name}
        for label, opts in plans.items():
            t0 = time.perf_counter()
            im = st.run(str(c), [str(s)], opts)
            row[label] = {"seconds": time.perf_counter() - t0}
            im.save(out / f"{name}__{label.replace(' ', '_')}.png")
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    scorer = default_scorer()
    for row, (c, s) in zip(rows, pairs):
        for label in plans:
            r = scorer.score(out / f"{row['pair']}__{label.replace(' ', '_')}.png", c, s)
            row[label].update(texture=r["texture"], recog=r["recog"], leak=r["leak"])
    (out / "warm_start.json").write_text(json.dumps(rows, indent=1))
    report(rows, list(plans), a.tolerance)


def report(rows: list[dict], labels: list[str], tol: float) -> None:
    keys = ("texture", "recog", "leak", "seconds")
    print("| pair | " + " | ".join(f"{m} {k}" for m in labels for k in keys) + " |")
    print("|---" * (len(labels) * len(keys) + 1) + "|")
    for r in rows:
        print(f"| {r['pair']} | " + " | ".join(
            f"{r[m][k]:.1f}" if k == "seconds" else f"{r[m][k]:.3f}" if k == "texture"
            else f"{r[m][k]:.2f}" for m in labels for k in keys) + " |")
    med = {m: {k: statistics.median(r[m][k] for r in rows) for k in keys} for m in labels}
    print("| **median** | " + " | ".join(
        f"{med[m][k]:.1f}" if k == "seconds" else f"{med[m][k]:.3f}" if k == "texture"
        else f"{med[m][k]:.2f}" for m in labels for k in keys) + " |")
    print()
    def ok(r: dict, m: str, k: str) -> bool:  # lower is better for all three; leak: a floor
        return r[m][k] <= r["default"][k] * (1 + tol) + (0.01 if k == "leak" else 0)

    for m in labels[1:]:
        better = sum(all(ok(r, m, k) for k in ("texture", "recog", "leak")) for r in rows)
        ratio = statistics.median(r[m]["seconds"] / r["default"]["seconds"] for r in rows)
        print(f"- {m}: equal or better on all three measures in {better} of {len(rows)} pairs; "
              f"median time {ratio:.2f}x the default's -> "
              f"{'meets' if better == len(rows) and ratio <= 0.5 else 'does not meet'} "
              "the rule for the default")


if __name__ == "__main__":
    main()
