"""The painting's band histograms given to the fast picture (painterly.fast.bands)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.config import Options, make
from painterly.fast import bands as B
from painterly.fast.method import FastMethod
from painterly.fast.stats import feature_stats
from painterly.images import load_image, to_tensor

from .conftest import gradient_image, save_png, stripes_image
from .test_fast import tiny_model


def _painting(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """Strong strokes in a few colours: a histogram unlike a smooth photo's."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 4, w // 4, generator=g)
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="nearest")
    return (0.6 * x + 0.4 * (torch.rand(1, 3, h, w, generator=g) > 0.7).float()).clamp(0, 1)


def _frame(style: torch.Tensor) -> B.Frame:
    return B.Frame.of(feature_stats(style))


def test_the_pyramid_gives_the_picture_back():
    y = torch.rand(1, 3, 67, 90, generator=torch.Generator().manual_seed(1))
    bands, low = B.pyramid(y, 3)
    assert [b.shape[-2:] for b in bands] == [(67, 90), (34, 45), (17, 23)]
    assert low.shape[-2:] == (9, 12)
    torch.testing.assert_close(B.collapse(bands, low), y, atol=1e-5, rtol=0)
    assert len(B.pyramid(torch.rand(1, 3, 20, 20), 3)[0]) == 1  # no band below 16 px


def test_match_gives_the_target_histogram_and_keeps_the_order():
    g = torch.Generator().manual_seed(2)
    y = (torch.randn(1, 2, 40, 40, generator=g) * 0.5).exp()  # skewed, as a band's tails
    target = torch.randn(1, 2, 30, 30, generator=g) * 0.2 + 0.5
    out = B.match(y, B.quantiles(target))
    torch.testing.assert_close(B.quantiles(out)[:, 8:-8], B.quantiles(target)[:, 8:-8],
                               atol=0.02, rtol=0)
    for c in range(2):  # monotone: the order of the values is kept
        a, b = y[0, c].flatten(), out[0, c].flatten()
        o = a.argsort()
        assert (b[o].diff() >= -1e-6).all()


def test_a_flat_picture_takes_one_value():
    out = B.match(torch.full((1, 1, 20, 20), 0.3), B.quantiles(torch.rand(1, 1, 20, 20)))
    assert torch.isfinite(out).all() and float(out.std()) < 1e-6


def test_the_painting_given_its_own_bands_is_nearly_itself():
    s = _painting()
    bands = B.band_stats(s, _frame(s))
    assert (B.apply_bands(s, bands) - s).abs().mean() < 0.01


def test_a_smooth_picture_takes_the_painting_s_contrast_at_every_scale():
    s = _painting()
    x = to_tensor(gradient_image(64, 48))  # smooth, little contrast in its fine bands
    frame = _frame(s)
    out = B.apply_bands(x, B.band_stats(s, frame))

    def band_std(p):
        bands, _ = B.pyramid(frame.into(p), B.LEVELS)
        return torch.stack([b.std() for b in bands])

    want, before, after = band_std(s), band_std(x), band_std(out)
    assert ((after - want).abs() < (before - want).abs() / 2).all(), (want, before, after)
    assert abs(after[0] - want[0]) < 0.1 * want[0], (want, before, after)
    # and keeps what the picture shows: its coarse layout stays correlated with the input's
    coarse = torch.nn.functional.avg_pool2d
    r = np.corrcoef(coarse(x, 8).flatten(), coarse(out, 8).flatten())[0, 1]
    assert r > 0.5


def test_strength_mixes_with_the_picture():
    s, x = _painting(), to_tensor(gradient_image(64, 48))
    bands = B.band_stats(s, _frame(s))
    full = B.apply_bands(x, bands)
    assert torch.equal(B.apply_bands(x, bands, 0.0), x)
    torch.testing.assert_close(B.apply_bands(x, bands, 0.5), (x + full) / 2, atol=1e-5,
                               rtol=0)


def test_blended_histograms_average_the_quantile_functions():
    a, b = _painting(seed=1), _painting(seed=2) * 0.5
    frame = _frame(a)
    ba, bb = B.band_stats(a, frame), B.band_stats(b, frame)
    for h1, h2 in zip(B.blend_bands([ba, bb], [1.0, 0.0]).hist, ba.hist):
        torch.testing.assert_close(h1, h2)
    for h, p, q in zip(B.blend_bands([ba, bb], [1.0, 3.0]).hist, ba.hist, bb.hist):
        torch.testing.assert_close(h, 0.25 * p + 0.75 * q)


def test_a_picture_smaller_than_the_painting_uses_the_bands_it_has():
    s = _painting(96, 128)
    bands = B.band_stats(s, _frame(s))
    assert len(bands.hist) == B.LEVELS + 2
    for hw in [(20, 30), (8, 8), (1, 5)]:
        out = B.apply_bands(torch.rand(1, 3, *hw), bands)
        assert out.shape[-2:] == hw and torch.isfinite(out).all()


@pytest.fixture()
def method(tiny) -> FastMethod:
    return FastMethod(tiny_model(), device="cpu", precision="fp32", weights=tiny)


def test_the_method_applies_the_bands_once_computed(method, tmp_path, monkeypatch, precision):
    c = load_image(save_png(gradient_image(40, 30), tmp_path / "c.png"))
    s = load_image(save_png(stripes_image(), tmp_path / "s.png"))
    opts = make(Options, size=40, method="fast", refine=0, precision=precision)
    calls = []
    real = B.band_stats
    monkeypatch.setattr("painterly.fast.method.band_stats",
                        lambda *a: calls.append(1) or real(*a))
    with_bands = np.asarray(method.picture(c, [s], opts), dtype=float)
    method.picture(c, [s], opts)
    assert len(calls) == 1  # cached by the style's pixels and the colour frame
    monkeypatch.setattr("painterly.fast.method.apply_bands", lambda x, b, k: x)
    without = np.asarray(method.picture(c, [s], opts), dtype=float)
    assert np.abs(with_bands - without).mean() > 1


def test_regions_are_painted_without_bands(method, tmp_path, monkeypatch):
    c = load_image(save_png(gradient_image(32, 32), tmp_path / "c.png"))
    a = load_image(save_png(stripes_image(), tmp_path / "a.png"))
    b = load_image(save_png(gradient_image(20, 20, seed=4), tmp_path / "b.png"))
    labels = np.zeros((32, 32, 3), np.float32)
    labels[:, 16:] = 1.0
    mask = save_png(labels, tmp_path / "mask.png")
    monkeypatch.setattr("painterly.fast.method.apply_bands",
                        lambda *a: pytest.fail("bands applied with regions"))
    method.picture(c, [a, b], make(Options, size=32, method="fast", refine=0), mask=str(mask))


def test_a_picture_the_refining_steps_paint_whole_takes_no_bands(method, tmp_path,
                                                                 monkeypatch):
    """Up to 256 px the steps optimise the picture at its own size: the bands there took
    its texture further from the painting's (measured at 256 px), so they are left out."""
    from painterly.fast.refine import REFINE_SIDE, Refiner

    assert Refiner.whole(make(Options, method="fast", refine=6), (REFINE_SIDE, 100))
    assert not Refiner.whole(make(Options, method="fast", refine=6), (REFINE_SIDE + 1, 100))
    assert not Refiner.whole(make(Options, method="fast", refine=0), (32, 32))
    c = load_image(save_png(gradient_image(40, 30), tmp_path / "c.png"))
    s = load_image(save_png(stripes_image(), tmp_path / "s.png"))
    calls = []
    real = B.apply_bands
    monkeypatch.setattr("painterly.fast.method.apply_bands",
                        lambda *a: calls.append(1) or real(*a))
    method.picture(c, [s], make(Options, size=40, method="fast", refine=1))
    assert calls == []
    method.picture(c, [s], make(Options, size=40, method="fast", refine=0))
    assert calls == [1]
