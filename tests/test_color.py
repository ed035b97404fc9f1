"""Colour preservation: luminance-only transfer and colour histogram matching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly import color, stylize
from painterly.images import rgb_to_yiq, to_tensor


def _image(seed: int, h: int, w: int, tint) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.3 * np.sin(7 * xx + 4 * yy + seed)[..., None]
    return np.clip(base * np.array(tint) + 0.15 * rng.random((h, w, 3)), 0, 1).astype(np.float32)


def test_match_histogram_moves_style_statistics_to_content():
    content = to_tensor(_image(0, 40, 48, (0.9, 0.5, 0.2)))
    style = to_tensor(_image(1, 32, 32, (0.2, 0.4, 0.9)))
    out = color.match_histogram(style, content)
    mu_c, cov_c = color.stats(content)
    mu_s, cov_s = color.stats(style)
    mu_o, cov_o = color.stats(out)
    assert torch.allclose(mu_o, mu_c, atol=0.02)
    assert torch.allclose(cov_o, cov_c, atol=2e-3)
    assert (mu_s - mu_c).abs().max() > 0.1  # it really moved


def test_match_colors_gives_the_photo_the_palette_of_the_styles_mixed_by_weight():
    content = to_tensor(_image(0, 40, 48, (0.9, 0.5, 0.2)))
    a = to_tensor(_image(1, 32, 32, (0.3, 0.4, 0.6)))  # palettes that need no clipping
    b = to_tensor(_image(2, 32, 32, (0.6, 0.5, 0.2)))
    one = color.match_colors(content, [a])
    mu_a, cov_a = color.stats(a)
    mu_o, cov_o = color.stats(one)
    assert torch.allclose(mu_o, mu_a, atol=0.02) and torch.allclose(cov_o, cov_a, atol=2e-3)
    # weights 1:3 are the pixels of a once and of b three times, taken together
    pooled = torch.cat([a, b, b, b], dim=-1)
    mixed = color.match_colors(content, [a, b], [1.0, 3.0])
    mu_p, cov_p = color.stats(pooled)
    mu_m, cov_m = color.stats(mixed)
    assert torch.allclose(mu_m, mu_p, atol=0.02) and torch.allclose(cov_m, cov_p, atol=3e-3)
    assert (color.stats(content)[0] - mu_p).abs().max() > 0.1  # it really moved
    # the photo's own structure stays: one affine map of its colours (where nothing clips)
    ones = torch.ones(1, 40 * 48, dtype=torch.float64)
    src = torch.cat([content.reshape(3, -1).double(), ones]).T
    dst = one.reshape(3, -1).double().T
    inside = ((dst > 0) & (dst < 1)).all(1)
    fit = torch.linalg.lstsq(src[inside], dst[inside]).solution
    assert float((src[inside] @ fit - dst[inside]).abs().max()) < 1e-4


def test_match_luminance_matches_mean_and_std():
    cy = color.luminance(to_tensor(_image(0, 30, 30, (0.9, 0.9, 0.9))))
    sy = color.luminance(to_tensor(_image(2, 30, 30, (0.2, 0.2, 0.3))))
    out = color.match_luminance(sy, cy)
    assert abs(float(out.mean() - cy.mean())) < 1e-4
    assert abs(float(out.std() - cy.std())) < 1e-4


def test_recombine_keeps_chroma():
    content = to_tensor(_image(0, 24, 24, (0.8, 0.4, 0.3)))
    y = torch.rand(1, 1, 24, 24) * 0.3 + 0.35
    out = color.recombine(y, content)
    iq_o, iq_c = rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:]
    assert float((iq_o - iq_c).abs().max()) < 0.02


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_modes_run_with_two_styles_and_two_scales(tiny, mode, precision):
    content = _image(0, 48, 64, (0.9, 0.5, 0.2))
    styles = [_image(1, 40, 40, (0.2, 0.4, 0.9)), _image(2, 40, 40, (0.3, 0.9, 0.3))]
    out = stylize(content, styles, weights=tiny, size=64, scales=2, steps=6, device="cpu",
                  style_weight=1e4, preserve_color=mode, precision=precision)
    o = to_tensor(np.asarray(out, np.float32) / 255)
    c = to_tensor(content)
    iq_o, iq_c = rgb_to_yiq(o)[:, 1:], rgb_to_yiq(c)[:, 1:]
    if mode == "luminance":  # chroma of the content, unchanged (8-bit rounding, clipping)
        assert float((iq_o - iq_c).abs().mean()) < 0.01
    else:  # colours stay near the content's, far from the styles' blues and greens
        assert float((o.mean((2, 3)) - c.mean((2, 3))).abs().max()) < 0.12


def test_luminance_differs_from_plain_transfer_in_colour(tiny, precision):
    content = _image(0, 32, 32, (0.9, 0.5, 0.2))
    style = _image(1, 32, 32, (0.1, 0.3, 0.9))
    kw = dict(weights=tiny, size=32, steps=8, device="cpu", style_weight=1e4,
              precision=precision)
    plain = to_tensor(np.asarray(stylize(content, style, **kw), np.float32) / 255)
    lum = to_tensor(np.asarray(stylize(content, style, preserve_color="luminance", **kw),
                               np.float32) / 255)
    iq_c = rgb_to_yiq(to_tensor(content))[:, 1:]
    d_plain = float((rgb_to_yiq(plain)[:, 1:] - iq_c).abs().mean())
    d_lum = float((rgb_to_yiq(lum)[:, 1:] - iq_c).abs().mean())
    assert d_lum < d_plain


def test_colour_statistics_are_per_image_of_a_batch():
    content = to_tensor(_image(0, 40, 48, (0.9, 0.5, 0.2)))
    style = to_tensor(_image(1, 32, 32, (0.2, 0.4, 0.9)))
    other = to_tensor(_image(3, 32, 32, (0.5, 0.9, 0.3)))
    mu, cov = color.stats(style)
    mu_b, cov_b = color.stats(torch.cat([style, other, style]))
    assert mu_b.shape == (3, 3) and cov_b.shape == (3, 3, 3)
    torch.testing.assert_close(mu_b[[0, 2]], mu.expand(2, 3))
    torch.testing.assert_close(cov_b[[0, 2]], cov.expand(2, 3, 3))
    one = color.match_histogram(style, content)
    batch = color.match_histogram(torch.cat([style, other, style]), content)
    torch.testing.assert_close(batch[[0, 2]], one.expand(2, -1, -1, -1))
    y, cy = color.luminance(style), color.luminance(content)
    yb = color.match_luminance(torch.cat([y, color.luminance(other), y]), cy)
    torch.testing.assert_close(yb[[0, 2]], color.match_luminance(y, cy).expand(2, -1, -1, -1))


def _halves(left, right, h=24, w=32) -> torch.Tensor:
    """A picture whose left half is one colour and right half another, with some noise."""
    a = np.empty((h, w, 3), np.float32)
    a[:, : w // 2], a[:, w // 2:] = left, right
    a += 0.05 * np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    return to_tensor(np.clip(a, 0, 1))


def _half_mask(h=24, w=32, right=False) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., w // 2:] = 1.0
    return m if right else 1 - m


def test_colours_matched_between_the_parts_that_meet():
    painting = _halves((0.8, 0.1, 0.1), (0.1, 0.1, 0.8))  # red sky | blue sea
    photo = _halves((0.1, 0.7, 0.1), (0.9, 0.9, 0.2), 30, 40)  # green | yellow
    donor, region = _half_mask(), _half_mask(30, 40, right=True)
    out = color.match_histogram(painting, photo, donor, region)
    mu_part, _ = color.stats(out, donor)
    mu_region, _ = color.stats(photo, region)
    assert torch.allclose(mu_part, mu_region, atol=0.02)  # the red part became yellow
    whole = color.match_histogram(painting, photo)  # the whole painting, the whole photo
    assert float((color.stats(whole, donor)[0] - mu_region).abs().max()) > 0.15
    # luminance: the donor's light matched to the region's
    y = color.match_luminance(color.luminance(painting), color.luminance(photo),
                              donor, region)
    my, _ = color._moments(y, donor)
    mr, _ = color._moments(color.luminance(photo), region)
    assert abs(float(my) - float(mr)) < 0.02
    # a part too small to hold a pixel at this size counts as the whole picture
    speck = torch.zeros(1, 1, 240, 320)
    speck[..., 0, 0] = 1
    torch.testing.assert_close(color.stats(photo, speck)[0], color.stats(photo)[0])


@pytest.mark.parametrize("method", ["optimise", "fast"])
def test_spatial_control_reaches_colour_keeping(tiny, method, monkeypatch, precision):
    seen = []
    real = color.match_styles

    def spy(mode, content, styles, style_masks=None, regions=None):
        seen.append((mode, style_masks, regions))
        return real(mode, content, styles, style_masks, regions)

    monkeypatch.setattr(color, "match_styles", spy)
    photo = np.asarray(_halves((0.1, 0.7, 0.1), (0.9, 0.9, 0.2)).squeeze(0).permute(1, 2, 0))
    painting = np.asarray(_halves((0.8, 0.1, 0.1), (0.1, 0.1, 0.8)).squeeze(0).permute(1, 2, 0))
    labels = np.zeros((24, 32), np.uint8)
    labels[:, 16:] = 255
    kw = dict(weights=tiny, size=32, steps=2, device="cpu", preserve_color="histogram",
              precision=precision)
    if method == "fast":
        kw.update(method="fast", refine=1)
    stylize(photo, [painting, painting], mask=labels,
            style_masks=[np.asarray(_half_mask().squeeze()) > 0.5, None], **kw)
    mode, donors, regions = seen[-1]
    assert mode == "histogram" and regions is not None and regions.shape[1] == 2
    assert donors[0] is not None and donors[1] is None
