"""The measures of a stylized picture (painterly/scoring.py): one copy of the maths, shared
by benchmarks/score.py and a style network's quality figure."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from benchmarks import nets_quality, score
from painterly import scoring
from painterly.weights import load_weights

from .conftest import gradient_image, save_png, stripes_image


def test_grid_strength_sees_a_pattern_at_the_networks_stride(tmp_path):
    """The measure behind the network's faint grid; a file, a PIL image and a grey array
    give the same number."""
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.uniform(0, 255, (29, 37)).astype(np.uint8))
    smooth = np.asarray(noise.resize((256, 192), Image.BICUBIC),  # not 8x: 8x has a grid
                        dtype=np.float64)
    ridged = smooth.copy()
    ridged[:, 3::8] += 20  # a column every 8 pixels, off the origin
    striped = smooth.copy()
    striped[5::8] += 20  # a row every 8 pixels
    got = {}
    for name, a in {"smooth": smooth, "ridged": ridged, "striped": striped}.items():
        p = tmp_path / f"{name}.png"
        im = Image.fromarray(a.clip(0, 255).astype(np.uint8))
        im.save(p)
        got[name] = scoring.grid_strength(p)
        assert scoring.grid_strength(im) == got[name]
        assert scoring.grid_strength(np.asarray(im, np.float64) / 255) == got[name]
    assert got["smooth"] < 1.1 < 1.4 < min(got["ridged"], got["striped"]), got


def test_grid_strength_takes_periods_4_8_and_16():
    """A network with two halving stages leaves its pattern at 4 pixels, one with four at 16:
    the measure takes the largest over the periods 4, 8 and 16 (the issue's definition)."""
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.uniform(0, 255, (29, 37)).astype(np.uint8))
    smooth = np.asarray(noise.resize((256, 192), Image.BICUBIC), dtype=np.float64) / 255
    for period in (4, 16):
        a = smooth.copy()
        a[:, 1::period] += 0.08
        assert scoring.grid_strength(a) > 1.3
        assert scoring.grid_strength(a) == max(scoring.grid_strength(a, periods=(p,))
                                               for p in (4, 8, 16))
    assert scoring.grid_strength(a, periods=(8,)) < scoring.grid_strength(a) - 0.1  # 16 px
    assert scoring.grid_strength(smooth) < 1.1


def test_the_benchmarks_score_with_the_packages_maths(tmp_path, tiny_weights):
    """benchmarks/score.py is the package's measures plus the recognizability: the same
    numbers, from the same functions."""
    assert score.texture_distance is scoring.texture_distance
    assert nets_quality.grid_strength is scoring.grid_strength
    content = save_png(gradient_image(48, 40, seed=3), tmp_path / "c.png")
    style = save_png(stripes_image(40, 40), tmp_path / "s.png")
    out = save_png(0.5 * gradient_image(48, 40, seed=3) + 0.5 * stripes_image(48, 40),
                   tmp_path / "o.png")
    w = load_weights(tiny_weights)
    got = score.Scorer(w, "cpu", None).score(out, content, style)
    net = scoring.scorer_net(w)
    o = scoring.read(out)
    hw = tuple(o.shape[-2:])
    fo, fc = scoring.features(net, o), scoring.features(net, scoring.read(content, hw))
    fs = scoring.features(net, scoring.read(style, longest=max(hw)))
    assert got == scoring.measures(fo, fc, fs)
    assert got["texture"] > 0 and got["content"] > 0


def test_an_image_against_itself_is_at_distance_zero(tiny_weights):
    net = scoring.scorer_net(load_weights(tiny_weights))
    x = torch.from_numpy(gradient_image(40, 32)).permute(2, 0, 1)[None]
    f = scoring.features(net, x)
    m = scoring.measures(f, f, f)
    assert m["style"] == m["texture"] == m["content"] == m["leak"] == 0.0
    assert scoring.style_like(torch.rand(1, 3, 20, 60), (32, 40)).shape[-2:] == (13, 40)
