"""bfloat16 against float32, and the L-BFGS guard on and off, on real pairs.

For each content x style pair, the default stylization runs in float32 and in bfloat16
(``--precision``), each with the optimiser's divergence guard (the default) and, with
``--guard both``, without it.  Every output is scored by ``benchmarks/score.py`` (style
distance, content distance, recognizability); the table gives each score of bf16 relative to
fp32, the seconds per run, and how many steps the guard rejected.

Usage: python benchmarks/precision_check.py [--size 512] [--device cpu|cuda]
       [--pairs tubingen:starry_night ...] [--guard on|both] [--images DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import painterly  # noqa: E402
from benchmarks import score  # noqa: E402
from painterly import engine, optim  # noqa: E402

DEFAULT_PAIRS = ["tubingen:starry_night", "hoovertowernight:the_scream",
                 "tubingen:shipwreck", "hoovertowernight:woman-with-hat-matisse"]


class _Counted(optim.LBFGS):
    """The engine's L-BFGS, remembering every instance (to count rejections)."""

    made: list[optim.LBFGS] = []
    guard: float | None = 1.5

    def __init__(self, x, lr=1.0, history=50, reject=None):
        super().__init__(x, lr, history, reject=self.guard)
        self.made.append(self)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="cpu")
    p.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--guard", choices=["on", "both"], default="on")
    p.add_argument("--images", default=str(ROOT.parent / "shared" / "images"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "precision"))
    a = p.parse_args()
    images, out = Path(a.images), Path(a.out)
    if not images.is_dir():
        print(f"precision_check: {images} not found; skipped")
        return
    out.mkdir(parents=True, exist_ok=True)
    engine.LBFGS = _Counted  # count rejections, switch the guard
    st = painterly.Stylizer(device=a.device)
    guards = [1.5] if a.guard == "on" else [1.5, None]
    rows = []
    for pair in a.pairs:
        c, s = pair.split(":")
        cp, sp = images / f"{c}.jpg", images / f"{s}.jpg"
        base = None
        for guard in guards:
            for prec in a.precisions:
                _Counted.guard, _Counted.made = guard, []
                opts = painterly.Options(size=a.size, precision=prec)
                if a.device == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                img = st.run(str(cp), [str(sp)], opts)
                if a.device == "cuda":
                    torch.cuda.synchronize()
                secs = time.perf_counter() - t
                name = f"{c}__{s}__{prec}__{'guard' if guard else 'plain'}.png"
                img.save(out / name)
                sc = score.score(out / name, cp, sp)
                rej = sum(o.rejected for o in _Counted.made)
                if base is None:
                    base = sc
                rows.append((c, s, prec, "on" if guard else "off", sc, base, secs, rej))
                print(rows[-1][:4], {k: round(v, 4) for k, v in sc.items()},
                      f"{secs:.1f}s rejected={rej}", flush=True)
    dev = torch.cuda.get_device_name(0) if a.device == "cuda" else platform.processor() \
        or "cpu"
    lines = [f"{a.size} px, default options, device {a.device} ({dev}), torch "
             f"{torch.__version__}; ratios against the pair's first row (fp32, guard on).", "",
             "| content | style | precision | guard | style | content | recog | style ratio | "
             "content ratio | recog ratio | s | rejected steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, s, prec, g, sc, b, secs, rej in rows:
        r = {k: sc[k] / b[k] if b.get(k) else float("nan") for k in sc}
        lines.append(f"| {c} | {s} | {prec} | {g} | {sc['style']:.4f} | {sc['content']:.4f} | "
                     f"{sc.get('recog', float('nan')):.3f} | {r['style']:.3f} | "
                     f"{r['content']:.3f} | {r.get('recog', float('nan')):.3f} | {secs:.2f} | "
                     f"{rej} |")
    (out / "precision.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
