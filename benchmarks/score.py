"""One fixed scorer for stylized images (painterly's and other tools' alike).

For an output image O, its content photo C and its style image S, all resized to O's size
(the style to O's longest side, keeping its aspect) and seen through the original Caffe
VGG-19 in float32 (TF32 off on GPUs, so a GPU scores like the CPU up to rounding):

* style distance    = sum over relu1_1..relu5_1 of ||G(O) - G(S)||^2 / ||G(S)||^2
  with G the Gram matrix normalised by N*M (independent of the image size);
* texture distance  = the same sum over relu1_1..relu4_1 only: the brushwork, without the
  deepest layer whose Gram matrix also describes the painting's objects;
* content distance  = ||F(O) - F(C)||^2 / ||F(C)||^2 at relu4_2;
* recognizability   = content distance of O to C divided by the smallest content distance of
  O to other photos (the first 24, sorted by name, of ../shared/photos or of the folder
  given, stretched to O's size).  Well below 1 means O is still clearly a picture of C;
* leak fraction     = the share of the painting's own objects pasted into O, at relu5_1.
  With o_p, c_p the feature vectors of O and C at position p of the relu5_1 map (O and C
  have the same size, so the same positions) and s_q those of S at all of its positions q:
  position p leaks when  max_q cos(o_p, s_q) > cos(o_p, c_p) + 0.1,  i.e. some place of the
  painting explains O there better than the photo at the same place does, by a margin of
  0.1 in cosine.  The leak fraction is the number of leaking positions over all positions
  of O's relu5_1 map (cosines of an all-zero vector count as 0).  O = C gives 0; O a copy of
  the painting gives nearly 1.

The measures themselves are :mod:`painterly.scoring` (one copy of the maths, which a style
network's quality figure uses too); this module adds the recognizability ratio, the photos
and the command line.  Library: ``score(out, content, style, photos=DIR)`` (images as
paths, PIL images, arrays or tensors) or a :class:`Scorer` kept between calls (its network
and the photos' features are loaded once).  Command line::

    python benchmarks/score.py OUT.png [OUT2.png ...] --content C.jpg --style S.jpg
        [--photos DIR] [--n-photos 24] [--no-recog] [--device cpu|cuda]

prints one JSON line per image.  The weights are painterly's (``PAINTERLY_WEIGHTS`` or the
cached original VGG-19); run from the repository root with ``PYTHONPATH=.``.
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from painterly.images import ImageLike, LoadedImage
from painterly.scoring import (  # noqa: F401  (the measures, named here for the benchmarks)
    CONTENT_LAYER,
    LEAK_LAYER,
    LEAK_MARGIN,
    STYLE_LAYERS,
    TEXTURE_LAYERS,
    content_distance,
    features,
    gram,
    gram_distances,
    grid_strength,
    leak_fraction,
    measures,
    read,
    relative,
    scorer_net,
    style_distance,
    texture_distance,
)
from painterly.vgg import VGGFeatures
from painterly.weights import VGGWeights, load_weights, resolve

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"
N_PHOTOS = 24
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def _photo_paths(folder: Path, n: int) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)[:n]


@dataclass
class Scorer:
    """The fixed VGG-19 (float32) on one device, and the photos' features per output size.

    ``weights``: a :class:`~painterly.weights.VGGWeights`, a path, or None for painterly's
    default (``PAINTERLY_WEIGHTS`` or the cache).  ``photos``: the folder of other photos for
    the recognizability ratio (None: no ratio)."""

    weights: VGGWeights | str | Path | None = None
    device: str = "cpu"
    photos: str | Path | None = None
    n_photos: int = N_PHOTOS
    net: VGGFeatures = field(init=False, repr=False)
    dev: torch.device = field(init=False, repr=False)
    photo_paths: list[Path] = field(init=False, repr=False, default_factory=list)
    _photo_cache: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        w = self.weights
        if not isinstance(w, VGGWeights):
            w = load_weights(w) if w else resolve()
        self.dev = torch.device(self.device)
        self.net = scorer_net(w, self.dev)
        if self.photos is not None and Path(self.photos).is_dir():
            self.photo_paths = _photo_paths(Path(self.photos), self.n_photos)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return features(self.net, x)

    def _photo_features(self, hw: tuple[int, int]) -> list[torch.Tensor]:
        if hw not in self._photo_cache:
            self._photo_cache[hw] = [self.features(read(p, hw))[CONTENT_LAYER]
                                     for p in self.photo_paths]
        return self._photo_cache[hw]

    def score(self, out: ImageLike | LoadedImage, content: ImageLike | LoadedImage,
              style: ImageLike | LoadedImage,
              recog: bool = True) -> dict[str, float]:
        """All measures of ``out`` (recog only with photos), plus the Gram distance at each
        style layer (``gram_relu1_1`` ...)."""
        o = read(out)
        hw = (o.shape[-2], o.shape[-1])
        fo = self.features(o)
        fc = self.features(read(content, hw))
        fs = self.features(read(style, longest=max(hw)))
        res = measures(fo, fc, fs)
        if not (recog and self.photo_paths):
            return res
        others = [relative(fo[CONTENT_LAYER], p) for p in self._photo_features(hw)]
        grams = {k: v for k, v in res.items() if k.startswith("gram_")}
        main = {k: v for k, v in res.items() if k not in grams}
        return {**main, "recog": main["content"] / min(others), **grams}


@functools.cache
def default_scorer(device: str = "cpu", photos: str | None = str(PHOTOS),
                   n_photos: int = N_PHOTOS) -> Scorer:
    """One scorer per (device, photos, count), made on first use."""
    return Scorer(None, device, photos, n_photos)


def score(out: ImageLike, content: ImageLike, style: ImageLike,
          photos: str | Path | None = PHOTOS, recog: bool = True, device: str = "cpu",
          n_photos: int = N_PHOTOS) -> dict[str, float]:
    """Style, texture and content distances, leak fraction and recognizability of ``out``
    (the last only when ``photos`` is a folder and ``recog``)."""
    s = default_scorer(device, str(photos) if photos is not None else None, n_photos)
    return s.score(out, content, style, recog)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--photos", default=str(PHOTOS), help="folder of other photos (recog)")
    p.add_argument("--n-photos", type=int, default=N_PHOTOS)
    p.add_argument("--no-recog", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    a = p.parse_args()
    for im in a.images:
        res = score(im, a.content, a.style, a.photos, not a.no_recog, a.device, a.n_photos)
        print(json.dumps({"image": im, **res}))


if __name__ == "__main__":
    main()
