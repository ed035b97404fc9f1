"""The numbers behind a style network's "far from converged" limit (painterly/network/
quality.py): the texture distance at 256 px, as the quality figure measures it, of pictures
that are clearly good and clearly not, on the same photos and paintings.

    python benchmarks/net_quality_limit.py [--styles a.jpg b.jpg] [--photos DIR] [--n 3]
        [--models starry=m.safetensors ...] [--no-stylize]

For each painting and each of the first N photos (sorted by name): the photo itself (a
network that does nothing), an untrained network (the default shape, seed 0), the any-
painting fast model that ships with painterly, ``painterly stylize`` at 256 px with the
default options (the picture a network is trained to approach), and any model files given
(``NAME=FILE``: the painting named NAME only).  Prints the median per painting and method
as a markdown table.  Run from the repository root with ``PYTHONPATH=.``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from painterly import scoring  # noqa: E402
from painterly.images import load_image  # noqa: E402
from painterly.weights import resolve  # noqa: E402

SHARED = ROOT.parent / "shared"
STYLES = ("starry_night.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg")
SIDE = 256


def painters(a) -> dict:
    """method -> fn(photo LoadedImage, style LoadedImage, style path) -> 1x3xHxW tensor."""
    import painterly
    from painterly import methods
    from painterly.config import Options
    from painterly.images import to_tensor
    from painterly.network.network import Network, photo_tensor
    from painterly.network.transform import Arch, TransformNet

    def tensor(im) -> torch.Tensor:
        return to_tensor(load_image(im.convert("RGB")).rgb)

    torch.manual_seed(0)
    untrained = TransformNet(Arch(16, 5, 3)).eval()
    fns = {"photo": lambda p, s, name: photo_tensor(p, SIDE),
           "untrained": lambda p, s, name: untrained(photo_tensor(p, SIDE)).detach().clamp(0, 1)}
    fast = methods.for_options(Options(method="fast"))
    fns["fast"] = lambda p, s, name: tensor(fast.picture(p, [s], Options(method="fast",
                                                                         size=SIDE)))
    if not a.no_stylize:
        st = painterly.Stylizer()
        fns["stylize"] = lambda p, s, name: tensor(st.picture(p, [s], Options(size=SIDE)))
    for spec in a.models:
        style_name, path = spec.split("=", 1)
        net = Network.load(path, "cpu", "fp32", "torch")
        fns[f"model {Path(path).name}"] = (
            lambda p, s, name, net=net, want=style_name:
            net.transform(photo_tensor(p, SIDE)) if Path(name).stem == want else None)
    return fns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--styles", nargs="+", default=[str(SHARED / "images" / s) for s in STYLES])
    ap.add_argument("--photos", default=str(SHARED / "photos"))
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=[], metavar="NAME=FILE")
    ap.add_argument("--no-stylize", action="store_true")
    a = ap.parse_args()
    photos = sorted(p for p in Path(a.photos).iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:a.n]
    vgg = scoring.scorer_net(resolve())
    fns = painters(a)
    rows: dict[str, dict[str, list[float]]] = {}
    for style in a.styles:
        s_img = load_image(style)
        fs: dict[int, dict[str, torch.Tensor]] = {}
        for photo in photos:
            p_img = load_image(photo)
            for method, fn in fns.items():
                t0 = time.perf_counter()
                y = fn(p_img, s_img, style)
                if y is None:
                    continue
                side = max(y.shape[-2:])
                if side not in fs:  # the painting at the picture's longest side
                    fs[side] = scoring.features(vgg, scoring.read(s_img, longest=side))
                t = scoring.texture_distance(scoring.features(vgg, y), fs[side])
                rows.setdefault(Path(style).stem, {}).setdefault(method, []).append(t)
                print(f"{Path(style).stem} {photo.name} {method}: texture {t:.3f} "
                      f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    methods = list(fns)
    print("| painting | " + " | ".join(methods) + " |")
    print("|---" * (len(methods) + 1) + "|")
    for style, per in rows.items():
        cells = [f"{statistics.median(per[m]):.3f}" if m in per else "" for m in methods]
        print(f"| {style} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
