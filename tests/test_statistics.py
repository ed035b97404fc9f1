"""Style statistics: the Gram matrix (the numbers of Gatys et al.) and the per-channel mean
and standard deviation, plain and guided, and the objective built on either."""

from __future__ import annotations

import pytest
import torch

from painterly import objective, vgg
from painterly.config import Options
from painterly.statistics import STATISTICS, Gram, MeanStd, gram, guided_gram, mean_std
from painterly.weights import random_weights

from .test_imports import imports

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- Gram matrices ---------------------------------------------------------------------------

def test_gram_matches_hand_computed_values():
    # one image, N=2 channels, M=3 positions (1 x 3)
    f = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])
    # F F^T = [[1+4+9, 0+2-3], [.., 0+1+1]] = [[14, -1], [-1, 2]], divided by N*M = 6
    expected = torch.tensor([[14.0, -1.0], [-1.0, 2.0]]) / 6.0
    assert torch.allclose(gram(f)[0], expected)
    assert torch.allclose(Gram().target(f)[0], expected)


def test_gram_and_its_gradient_do_not_depend_on_the_memory_layout():
    f = torch.randn(1, 6, 5, 7, dtype=torch.float64)
    a = f.clone().requires_grad_(True)
    b = f.clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert not b.is_contiguous()
    ga, gb = gram(a), gram(b)
    assert torch.allclose(ga, gb)
    (ga.pow(2).sum()).backward()
    (gb.pow(2).sum()).backward()
    assert torch.allclose(a.grad, b.grad)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_bf16_gram_follows_fp32(channels_last):
    """A bfloat16 map (the network ran in bfloat16) is multiplied in bfloat16 with one
    rounding at the end: the Gram matrix is float32 and within bfloat16's rounding of the
    float32 one, and so is its gradient, which comes back in bfloat16."""
    f = torch.rand(2, 16, 12, 10, generator=torch.Generator().manual_seed(4))
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    a = f.clone().requires_grad_(True)
    b = f.to(torch.bfloat16).requires_grad_(True)
    ga, gb = gram(a), gram(b)
    assert gb.dtype == torch.float32
    torch.testing.assert_close(gb, ga, rtol=2e-2, atol=1e-3)
    w = torch.randn(ga.shape, generator=torch.Generator().manual_seed(5))
    (ga * w).sum().backward()
    (gb * w).sum().backward()
    assert b.grad.dtype == torch.bfloat16
    torch.testing.assert_close(b.grad.float(), a.grad, rtol=5e-2, atol=2e-3)


def test_gram_distance_is_gatys_normalisation():
    f, s = _randn(1, 3, 4, 5, seed=0), _randn(1, 3, 4, 5, seed=1)
    n, m = 3, 20
    big_g = f.reshape(3, 20) @ f.reshape(3, 20).T
    big_a = s.reshape(3, 20) @ s.reshape(3, 20).T
    expected = ((big_g - big_a) ** 2).sum() / (4 * n**2 * m**2)
    got = Gram().distance(f, Gram().target(s), 1.0)
    assert torch.allclose(got, expected, rtol=1e-5)
    assert torch.allclose(Gram().distance(f, Gram().target(s), 0.5), 0.5 * expected, rtol=1e-5)


def test_gram_gradient_is_the_analytic_one():
    # E = 1/4 sum (g - a)^2 with g = F F^T / (N M): dE/dF = (g - a) F / (N M)
    f = _randn(1, 3, 4, 5, seed=2).requires_grad_(True)
    a = gram(_randn(1, 3, 4, 5, seed=3))
    Gram().distance(f, a, 1.0).backward()
    x = f.detach().reshape(3, 20)
    want = ((gram(f.detach())[0] - a[0]) @ x / 60).reshape(1, 3, 4, 5)
    torch.testing.assert_close(f.grad, want, rtol=1e-4, atol=1e-7)


def test_the_guided_gram_of_a_full_mask_is_the_plain_gram():
    f = _randn(1, 5, 6, 7)
    assert torch.allclose(guided_gram(f, torch.ones(1, 1, 6, 7)), gram(f), atol=1e-6)
    half = torch.zeros(1, 1, 6, 7)
    half[..., :3] = 1
    assert torch.allclose(Gram().target(f, half), gram(f[..., :3]), atol=1e-6)


# --- the interface, for every statistic ---------------------------------------------------------

STATS = [Gram(), MeanStd()]
IDS = [s.name for s in STATS]


def test_the_statistics_are_named_for_the_cache():
    assert {k: type(v()) for k, v in STATISTICS.items()} == {"gram": Gram, "meanstd": MeanStd}


def test_statistics_stand_on_torch_alone():
    """The bottom of the objective: a new statistic needs no other module of painterly."""
    graph = imports()
    assert graph["painterly.statistics"] == set()
    assert "painterly.statistics" in graph["painterly.objective"]


@pytest.mark.parametrize("stat", STATS, ids=IDS)
def test_a_batch_of_identical_images_has_the_distance_of_one(stat):
    f = _rand(1, 6, 9, 8, seed=1)
    fb = f.expand(4, -1, -1, -1).contiguous()
    t = stat.target(_rand(1, 6, 9, 8, seed=2))
    torch.testing.assert_close(stat.distance(fb, t, 0.7), stat.distance(f, t, 0.7))
    regions = _rand(1, 2, 9, 8, seed=3)
    ts = torch.cat([stat.target(_rand(1, 6, 9, 8, seed=4 + r)) for r in range(2)])
    coef = torch.tensor([0.3, 0.9])
    torch.testing.assert_close(stat.distance(fb, ts, coef, regions),
                               stat.distance(f, ts, coef, regions))


@pytest.mark.parametrize("stat", STATS, ids=IDS)
def test_the_distance_is_zero_at_the_target_and_positive_elsewhere(stat):
    f = _rand(2, 6, 9, 8, seed=1)
    for i in range(2):
        assert float(stat.distance(f[i:i + 1], stat.target(f[i:i + 1]), 1.0)) == 0.0
    other = stat.target(_rand(1, 6, 9, 8, seed=5))
    assert float(stat.distance(f, other, 1.0)) > 0
    regions = torch.zeros(1, 2, 9, 8)
    regions[..., :4], regions[..., 4:] = 1, 1  # left | right
    left, right = regions[:, :1], regions[:, 1:]
    ts = torch.cat([stat.target(f[:1], left), stat.target(f[:1], right)])
    assert float(stat.distance(f[:1], ts, torch.tensor([1.0, 2.0]), regions)) < 1e-10


@pytest.mark.parametrize("stat", STATS, ids=IDS)
def test_the_target_under_a_full_mask_is_the_plain_one(stat):
    f = _rand(2, 6, 9, 8, seed=6) * 3
    torch.testing.assert_close(stat.target(f, torch.ones(1, 1, 9, 8)), stat.target(f),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stat", STATS, ids=IDS)
def test_the_blend_of_one_style_is_that_style(stat):
    t = stat.target(_rand(1, 6, 9, 8, seed=7))
    assert torch.equal(stat.blend([t], [1.0]), t)
    u = stat.target(_rand(1, 6, 9, 8, seed=8))
    torch.testing.assert_close(stat.blend([t, u], [0.25, 0.75]), 0.25 * t + 0.75 * u)


@pytest.mark.parametrize("stat", STATS, ids=IDS)
def test_norm_makes_the_distance_of_blank_features_one(stat):
    """Normalised by the target's energy, the distance of an all-zero feature map is a
    relative error of one (Gram exactly; mean/std up to the eps under the root)."""
    t = stat.target(_rand(1, 6, 9, 8, seed=9) * 5)
    e = stat.distance(torch.zeros(1, 6, 9, 8), t, stat.norm(2.0, t))
    torch.testing.assert_close(e, torch.tensor(2.0), rtol=1e-2, atol=0)


@pytest.mark.parametrize("stat", STATS, ids=IDS)
@pytest.mark.parametrize("guided", [False, True])
def test_gradients_flow_to_the_features(stat, guided):
    f = _rand(2, 6, 9, 8, seed=10).requires_grad_(True)
    if guided:
        regions = _rand(1, 2, 9, 8, seed=11)
        t = torch.cat([stat.target(_rand(1, 6, 9, 8, seed=12 + r)) for r in range(2)])
        stat.distance(f, t, torch.tensor([0.5, 1.5]), regions).backward()
    else:
        stat.distance(f, stat.target(_rand(1, 6, 9, 8, seed=12)), 1.0).backward()
    assert torch.isfinite(f.grad).all() and float(f.grad.abs().sum()) > 0


# --- mean and standard deviation --------------------------------------------------------------

def test_mean_std_matches_hand_computed_values():
    f = torch.tensor([[[[1.0, 2.0, 3.0, 6.0]], [[-1.0, -1.0, -1.0, -1.0]]]])  # N=2, M=4
    got = mean_std(f)
    assert got.shape == (1, 2, 2)
    torch.testing.assert_close(got[0, 0], torch.tensor([3.0, -1.0]))
    # channel 0: deviations -2 -1 0 3, variance 14/4; channel 1: constant
    want = torch.tensor([3.5, 0.0]).add(1e-5).sqrt()
    torch.testing.assert_close(got[0, 1], want)
    half = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    torch.testing.assert_close(MeanStd().target(f, half), mean_std(f[..., :2]))


def test_mean_std_distance_is_the_squared_error_of_means_and_stds():
    f, s = _rand(1, 4, 6, 6, seed=1), _rand(1, 4, 6, 6, seed=2) * 2
    a, b = mean_std(f)[0], mean_std(s)[0]
    want = ((a - b) ** 2).sum()
    torch.testing.assert_close(MeanStd().distance(f, mean_std(s), 1.0), want)


def test_the_mean_std_blend_blends_means_and_stds():
    s1, s2 = _rand(1, 4, 6, 6, seed=3), _rand(1, 4, 6, 6, seed=4) * 3
    st = MeanStd()
    got = st.blend([st.target(s1), st.target(s2)], [0.2, 0.8])[0]
    m1, m2 = s1.mean((2, 3))[0], s2.mean((2, 3))[0]
    sd1, sd2 = (s1.var((2, 3), unbiased=False)[0] + 1e-5).sqrt(), \
        (s2.var((2, 3), unbiased=False)[0] + 1e-5).sqrt()
    torch.testing.assert_close(got[0], 0.2 * m1 + 0.8 * m2)
    torch.testing.assert_close(got[1], 0.2 * sd1 + 0.8 * sd2)


# --- the objective on a statistic -----------------------------------------------------------------

@pytest.fixture(scope="module")
def net() -> vgg.VGGFeatures:
    return vgg.build(random_weights(width=1 / 16), LAYERS)


@pytest.mark.parametrize("guided", [False, True])
def test_the_objective_on_mean_std_is_batch_consistent_and_differentiable(net, guided):
    opts = Options(precision="fp32", tv_weight=0.01)
    regions = None
    if guided:
        regions = torch.zeros(1, 2, 32, 40)
        regions[:, 0, :, :20], regions[:, 1, :, 20:] = 1, 1
    styles = [_rand(1, 3, 36, 36, seed=2 + i) for i in range(2)]
    if guided:
        obj = objective.PerceptualLoss.from_options(net, opts, statistic=MeanStd())
        obj.set_content(_rand(1, 3, 32, 40, seed=1))
        obj.set_style(styles, side=40, regions=regions)
    else:
        obj = objective.build(net, opts, _rand(1, 3, 32, 40, seed=1), styles,
                              statistic=MeanStd())((32, 40))
    assert isinstance(obj.statistic, MeanStd)
    x = _rand(1, 3, 32, 40, seed=4).requires_grad_(True)
    one = obj(x)
    batch = obj(x.detach().expand(3, -1, -1, -1).contiguous())
    for k in one.terms:
        torch.testing.assert_close(batch.terms[k], one.terms[k], rtol=1e-5, atol=1e-8)
    one.total.backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_the_style_of_its_own_target_costs_nothing(net):
    """An image whose features are the style's own has no style loss, whatever the
    statistic (the style used at the image's size)."""
    style = _rand(1, 3, 32, 32, seed=3)
    for stat in STATS:
        obj = objective.for_training(net, Options(precision="fp32"), style, 32, style,
                                     statistic=stat)
        assert float(obj(style, content=style).terms["style"]) < 1e-9, stat.name


def test_the_target_cache_keeps_each_statistic_apart(net):
    cache = objective.TargetCache()
    opts = Options(precision="fp32")
    content, styles = _rand(1, 3, 32, 32, seed=1), [_rand(1, 3, 36, 36, seed=2)]
    targets = {}
    for stat in STATS:
        obj = objective.build(net, opts, content, styles, cache=cache, statistic=stat)((32, 32))
        targets[stat.name] = obj.style.targets["relu1_1"]
    assert targets["gram"].shape != targets["meanstd"].shape
    assert len(cache._items) == 3  # the content features, and a style target per statistic
    again = objective.build(net, opts, content, styles, cache=cache)((32, 32))
    assert len(cache._items) == 3  # found again, not computed anew
    assert torch.equal(again.style.targets["relu1_1"], targets["gram"])
