"""The numbers behind a style network's "far from converged" limit (painterly/network/
quality.py): the quality figure's texture distance, measured exactly as training measures
it (the central 256 px squares of photos at --photo-size 512, against the painting as the
training loss sees it), for pictures that are clearly good and clearly not.

    python benchmarks/net_quality_limit.py --photos DIR [--names a.jpg b.jpg ...]
        [--styles a.jpg b.jpg] [--models starry_night=m.safetensors ...] [--no-stylize]

For each painting, on the same photos (``--names``, or the first four of the folder): the
photo itself (a network that does nothing), an untrained network (the default shape, seed
0), the any-painting fast model that ships with painterly, ``painterly stylize`` of the
square with the default options (the style seen at the training's scale: ``--style-scale
2`` for a 256 px square of a 512 px photo; what a network is trained to approach), and any
model files given (``NAME=FILE``: for the painting whose file is NAME.*).  Prints the
figure (median over the photos) per painting and method as a markdown table.  Run from the
repository root with ``PYTHONPATH=.``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from painterly import scoring  # noqa: E402
from painterly.images import image_tensor, load_image, to_tensor  # noqa: E402
from painterly.network.quality import SIDE, measures_of, seen_style  # noqa: E402
from painterly.objective import load_styles  # noqa: E402
from painterly.weights import resolve  # noqa: E402

SHARED = ROOT.parent / "shared"
STYLES = ("starry_night.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg")
PHOTO_SIZE = 512  # the default --photo-size


def painters(a) -> dict:
    """method -> (the painting it is for, or None for any; fn(square 1x3xSxS, painting
    LoadedImage) -> picture)."""
    import painterly
    from painterly import methods
    from painterly.config import Options
    from painterly.network.network import Network
    from painterly.network.transform import Arch, TransformNet

    def tensor(im) -> torch.Tensor:
        return to_tensor(load_image(im.convert("RGB")).rgb)

    def opts(x: torch.Tensor, **kw) -> Options:
        side = x.shape[-1]
        return Options(size=side, style_scale=PHOTO_SIZE / side, **kw)

    torch.manual_seed(0)
    untrained = TransformNet(Arch(16, 5, 3)).eval()
    fast = methods.for_options(Options(method="fast"))
    fns = {"photo": (None, lambda x, s: x), "untrained": (None, lambda x, s: untrained(x)),
           "fast": (None, lambda x, s: tensor(fast.picture(x, [s], opts(x, method="fast"))))}
    if not a.no_stylize:
        st = painterly.Stylizer()
        fns["stylize"] = (None, lambda x, s: tensor(st.picture(x, [s], opts(x))))
    for spec in a.models:
        want, path = spec.split("=", 1)
        net = Network.load(path, "cpu", "fp32", "torch")
        fns[Path(path).name] = (want, lambda x, s, net=net: net.transform(x))
    return fns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--styles", nargs="+", default=[str(SHARED / "images" / s) for s in STYLES])
    ap.add_argument("--photos", default=str(SHARED / "photos"))
    ap.add_argument("--names", nargs="*", default=[], help="photos of the folder to use")
    ap.add_argument("--models", nargs="*", default=[], metavar="NAME=FILE")
    ap.add_argument("--no-stylize", action="store_true")
    a = ap.parse_args()
    folder = Path(a.photos)
    names = a.names or sorted(p.name for p in folder.iterdir()
                              if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:4]
    photos = [image_tensor(load_image(folder / n), PHOTO_SIZE) for n in names]
    vgg = scoring.scorer_net(resolve())
    fns = painters(a)
    table: dict[str, dict[str, dict]] = {}
    for style in a.styles:
        s_img = load_image(style)
        seen = seen_style(load_styles([s_img], PHOTO_SIZE, 1.0)[0], PHOTO_SIZE, 1.0)
        for method, (want, fn) in fns.items():
            if want not in (None, Path(style).stem):
                continue
            t0 = time.perf_counter()
            with torch.no_grad():
                q = measures_of(lambda x, fn=fn, s=s_img: fn(x, s), photos, seen, vgg)
            table.setdefault(Path(style).stem, {})[method] = q
            print(f"{Path(style).stem} {method}: {q} ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
    methods = list(fns)
    print(f"texture distance (content distance), median of {len(photos)} photos "
          f"({', '.join(names)}), {SIDE} px squares at --photo-size {PHOTO_SIZE}\n")
    print("| painting | " + " | ".join(methods) + " |")
    print("|---" * (len(methods) + 1) + "|")
    for style, per in table.items():
        cells = [f"{per[m]['texture']:.3f} ({per[m]['content']:.2f})" if m in per else ""
                 for m in methods]
        print(f"| {style} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
