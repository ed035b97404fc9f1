"""One fixed scorer for stylized images (painterly's and other tools' alike).

For an output image O, its content photo C and its style image S, all resized to O's size
(the style to O's longest side) and seen through the original Caffe VGG-19 in float32:

* style distance    = sum over relu1_1..relu5_1 of ||G(O) - G(S)||^2 / ||G(S)||^2
  with G the Gram matrix normalised by N*M (independent of the image size);
* content distance  = ||F(O) - F(C)||^2 / ||F(C)||^2 at relu4_2;
* recognizability   = content distance of O to C divided by the smallest content distance of
  O to 24 other photos (the first 24 of ../shared/photos, stretched to O's size).  Well below
  1 means O is still clearly a picture of C.

Usage: python benchmarks/score.py OUT.png --content C.jpg --style S.jpg [--no-recog]
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import torch

from painterly.images import fit_longest, load_image, resize_tensor, to_tensor
from painterly.vgg import VGGFeatures, build
from painterly.weights import resolve

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"
N_PHOTOS = 24


@functools.cache
def network() -> VGGFeatures:
    return build(resolve(), [*STYLE_LAYERS, CONTENT_LAYER]).float()


def read(path: str | Path, hw: tuple[int, int] | None = None, longest: int = 0) -> torch.Tensor:
    """An image file as 1 x 3 x H x W in 0..1, resized to hw (exact) or to a longest side."""
    img = load_image(str(path))
    x = to_tensor(img.rgb)
    if hw is None:
        w, h = fit_longest(*img.size, longest)
        hw = (h, w)
    return resize_tensor(x, hw)


def _gram(f: torch.Tensor) -> torch.Tensor:
    _, n, h, w = f.shape
    x = f.reshape(n, h * w).double()
    return x @ x.T / (n * h * w)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).pow(2).sum() / b.double().pow(2).sum())


@torch.no_grad()
def features(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return network()(x, [*STYLE_LAYERS, CONTENT_LAYER])


def style_distance(fo: dict[str, torch.Tensor], fs: dict[str, torch.Tensor]) -> float:
    return sum(_rel(_gram(fo[k]), _gram(fs[k])) for k in STYLE_LAYERS)


def content_distance(fo: dict[str, torch.Tensor], fc: dict[str, torch.Tensor]) -> float:
    return _rel(fo[CONTENT_LAYER], fc[CONTENT_LAYER])


@functools.cache
def _photo_features(hw: tuple[int, int]) -> list[torch.Tensor]:
    paths = sorted(PHOTOS.glob("*.jpg"))[:N_PHOTOS]
    return [features(read(p, hw))[CONTENT_LAYER] for p in paths]


def score(out: str | Path, content: str | Path, style: str | Path,
          recog: bool = True) -> dict[str, float]:
    """Style and content distances of ``out`` (and its recognizability ratio)."""
    o = read(out, longest=max(load_image(str(out)).size))
    hw = (o.shape[-2], o.shape[-1])
    fo = features(o)
    fc = features(read(content, hw))
    fs = features(read(style, longest=max(hw)))
    res = {"style": style_distance(fo, fs), "content": content_distance(fo, fc)}
    if recog and PHOTOS.is_dir():
        others = [_rel(fo[CONTENT_LAYER], p) for p in _photo_features(hw)]
        res["recog"] = res["content"] / min(others)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--no-recog", action="store_true")
    a = p.parse_args()
    for im in a.images:
        print(json.dumps({"image": im, **score(im, a.content, a.style, not a.no_recog)}))


if __name__ == "__main__":
    main()
