"""The perceptual objective: batch-consistent losses, fixed normalisation, extra terms."""

from __future__ import annotations

import pytest
import torch

from painterly import losses, vgg
from painterly.config import Options
from painterly.objective import PerceptualLoss, content_norm
from painterly.statistics import Gram, gram, guided_gram
from painterly.weights import random_weights

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


@pytest.fixture(scope="module")
def net() -> vgg.VGGFeatures:
    return vgg.build(random_weights(width=1 / 16), LAYERS)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _same(batch: torch.Tensor, one: torch.Tensor) -> None:
    """A batch of B identical images has the loss of one (the batch mean)."""
    torch.testing.assert_close(batch, one, rtol=1e-5, atol=1e-8)


def _objective(net, regions=None, **kw) -> PerceptualLoss:
    opts = Options(precision="fp32", tv_weight=0.01, **kw)
    obj = PerceptualLoss.from_options(net, opts)
    obj.set_content(_rand(1, 3, 32, 40, seed=1))
    n = 1 if regions is None else regions.shape[1]
    obj.set_style([_rand(1, 3, 36, 36, seed=2 + i) for i in range(n)], side=40,
                  regions=regions)
    return obj


def test_each_loss_is_the_batch_mean_of_identical_images(net):
    x = _rand(1, 3, 32, 40, seed=3)
    xb = x.expand(4, -1, -1, -1).contiguous()
    f, fb = net(x, ["relu2_1"])["relu2_1"], net(xb, ["relu2_1"])["relu2_1"]
    p = torch.rand_like(f)
    a = gram(torch.rand_like(f))
    _same(losses.content_layer_loss(fb, p.expand_as(fb)), losses.content_layer_loss(f, p))
    _same(Gram().distance(fb, a, 1.0), Gram().distance(f, a, 1.0))
    _same(losses.tv_loss(xb), losses.tv_loss(x))
    m = torch.rand(1, 2, *f.shape[-2:])
    g, gb = guided_gram(f, m), guided_gram(fb, m)
    assert gb.shape == (4, 2, f.shape[1], f.shape[1])
    _same(gb, g.expand_as(gb))
    coef = torch.tensor([0.3, 0.7])
    target = torch.rand(2, f.shape[1], f.shape[1])
    _same(Gram().distance(fb, target, coef, m), Gram().distance(f, target, coef, m))


@pytest.mark.parametrize("guided", [False, True])
def test_objective_is_batch_consistent(net, guided):
    regions = None
    if guided:
        regions = torch.zeros(1, 2, 32, 40)
        regions[:, 0, :, :20], regions[:, 1, :, 20:] = 1, 1
    obj = _objective(net, regions)
    x = _rand(1, 3, 32, 40, seed=4)
    one = obj(x)
    batch = obj(x.expand(3, -1, -1, -1).contiguous())
    assert set(one.terms) == {"content", "style", "tv"}
    for k in one.terms:
        _same(batch.terms[k], one.terms[k])
    _same(batch.total, one.total)


def test_a_full_guide_is_the_plain_gram(net):
    f = net(_rand(2, 3, 24, 24), ["relu1_1"])["relu1_1"]
    g = guided_gram(f, torch.ones(1, 1, 24, 24))
    torch.testing.assert_close(g[:, 0], gram(f), rtol=1e-5, atol=1e-7)


def test_training_content_normalisation_is_fixed_once(net):
    # a shallow content layer: the tiny random network's deep features are nearly zero
    obj = PerceptualLoss.from_options(net, Options(precision="fp32", tv_weight=0,
                                                   content_layers=["relu2_1"]))
    obj.set_style([_rand(1, 3, 36, 36, seed=2)], side=32)
    photos = [_rand(2, 3, 32, 32, seed=10 + i) * (0.2 + i) for i in range(3)]
    out = obj(photos[0].clone().requires_grad_(True), content=photos[0])
    coef = dict(obj.content_coef)
    assert coef == content_norm(obj.content_layers, obj.features(photos[0]))
    assert float(out.terms["content"].detach()) == 0.0  # the photos are their own content target
    x = _rand(2, 3, 32, 32, seed=20).requires_grad_(True)
    for p in photos[1:]:
        loss = obj(x, content=p)
        assert obj.content_coef == coef  # not recomputed from later batches
        loss.total.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    obj.calibrate_content(photos[2])
    assert obj.content_coef != coef  # only an explicit calibration changes it


def test_extra_terms_are_weighted_and_reported(net):
    obj = _objective(net)
    x = _rand(1, 3, 32, 40, seed=5)
    base = obj(x)
    obj.add_term("temporal", 2.0, lambda y: (y - 0.5).pow(2).mean())
    out = obj(x)
    want = 2.0 * (x - 0.5).pow(2).mean()
    torch.testing.assert_close(out.terms["temporal"], want)
    torch.testing.assert_close(out.total, base.total + want)
    assert list(out.values()) == ["content", "style", "tv", "temporal", "total"]
    with pytest.raises(ValueError):
        obj.add_term("style", 1.0, lambda y: y.sum())


@pytest.mark.parametrize("fast_products", [True, False])
def test_the_bf16_style_term_is_the_same_with_either_product(net, monkeypatch, fast_products):
    """In bfloat16 the Gram matrices are multiplied in bfloat16 where that is fast (AMX, GPUs)
    and in float32 elsewhere: the loss is the same within bfloat16's rounding."""
    from painterly import device

    monkeypatch.setattr(device, "_cpu_flags", lambda: "amx_bf16" if fast_products else "")
    assert device.fast_bf16_products(torch.device("cpu")) is fast_products
    x = _rand(1, 3, 32, 40, seed=7).requires_grad_(True)
    ref = _objective(net)(x).values()["style"]
    obj = PerceptualLoss.from_options(net, Options(precision="bf16", tv_weight=0.01))
    assert obj.bf16_products is fast_products
    obj.set_content(_rand(1, 3, 32, 40, seed=1))
    obj.set_style([_rand(1, 3, 36, 36, seed=2)], side=40)
    out = obj(x)
    out.total.backward()
    assert abs(out.values()["style"] - ref) < 0.05 * ref
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_the_style_side_is_capped():
    """--style-scale 8 at 2048 px asked for a painting of 16k px (tens of GB)."""
    from painterly.objective import MAX_STYLE_SIDE, style_size

    assert max(style_size((60, 96), 2048, 8.0)) == MAX_STYLE_SIDE
    assert style_size((60, 96), 256, 2.0) == (320, 512)
