"""Winograd's F(4x4, 3x3) against the direct convolution: values, gradients, odd sides,
batches, both layouts, bands, and when the path is taken."""

import pytest
import torch
import torch.nn.functional as F

from painterly import winograd


def _case(n, c, o, h, w, seed=0, channels_last=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    wt = torch.randn(o, c, 3, 3, generator=g) / (3 * c ** 0.5)
    b = torch.randn(o, generator=g)
    return x, wt, b


@pytest.mark.parametrize("n,c,o,h,w,cl", [
    (1, 8, 16, 16, 16, True),    # whole blocks
    (2, 5, 3, 13, 7, False),     # odd sides: partial blocks at the bottom and right
    (1, 64, 32, 9, 30, True),
    (3, 16, 16, 1, 1, False),    # a single pixel
])
def test_matches_direct_convolution(n, c, o, h, w, cl):
    x, wt, b = _case(n, c, o, h, w, channels_last=cl)
    ref = F.conv2d(x, wt, b, padding=1)
    got = winograd.conv3x3(x, winograd.kernel(wt), b)
    assert got.shape == ref.shape
    scale = ref.abs().max()
    assert (got - ref).abs().max() / scale < 2e-5


def test_bands_give_the_same_result():
    """Any band height (one block row at a time up to the whole map) gives the same sums."""
    x, wt, b = _case(1, 12, 10, 37, 21, seed=1)
    u = winograd.kernel(wt)
    whole = winograd.correlate(x, u, b, band_bytes=1 << 40)
    for band_bytes in (1, 36 * 6 * 12 * 4 * 3):  # one block row; three
        assert torch.allclose(winograd.correlate(x, u, b, band_bytes=band_bytes), whole,
                              atol=1e-6)


def test_gradient_to_the_input_matches():
    x, wt, b = _case(2, 6, 7, 11, 14, seed=2)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    gy = torch.randn(2, 7, 11, 14, generator=torch.Generator().manual_seed(3))
    (F.conv2d(x1, wt, b, padding=1) * gy).sum().backward()
    y = winograd.conv3x3(x2, winograd.kernel(wt), b)
    (y * gy).sum().backward()
    assert (x2.grad - x1.grad).abs().max() / x1.grad.abs().max() < 2e-5


def test_the_backward_is_the_adjoint():
    """The backward is the adjoint of the forward: <A x, g> = <x, A^T g> to rounding."""
    x, wt, _ = _case(2, 4, 5, 9, 10, seed=4)
    gy = torch.randn(2, 5, 9, 10, generator=torch.Generator().manual_seed(5))
    fwd = winograd.correlate(x, winograd.kernel(wt))
    back = winograd.correlate_adjoint(gy, winograd.kernel(wt))
    lhs, rhs = (fwd * gy).sum(), (x * back).sum()
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))


def test_when_the_path_applies():
    x = torch.zeros(1, 128, 16, 8)
    w = torch.zeros(64, 128, 3, 3)
    assert winograd.applies(x, w)
    assert not winograd.applies(x.bfloat16(), w.bfloat16())
    assert not winograd.applies(x, w.clone().requires_grad_())  # the weight is trained
    assert not winograd.applies(x[:, :64], torch.zeros(64, 64, 3, 3))  # too few channels in
    assert not winograd.applies(x, torch.zeros(64, 128, 1, 1))
    assert not winograd.applies(x[..., :4, :4], w)  # a map too small to gain
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not winograd.applies(x, w)


@pytest.mark.parametrize("h,w", [(8, 8), (10, 10), (7, 8), (8, 7)])
def test_output_can_be_changed_in_place(h, w):
    """A ReLU in place after the convolution (VGG's own) keeps the gradient right."""
    x, wt, b = _case(1, 4, 4, h, w, seed=6, channels_last=True)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    F.relu(F.conv2d(x1, wt, b, padding=1), inplace=True).square().sum().backward()
    y = winograd.conv3x3(x2, winograd.kernel(wt), b)
    F.relu(y, inplace=True).square().sum().backward()
    assert (x2.grad - x1.grad).abs().max() / x1.grad.abs().max() < 2e-5


def test_vgg_features_and_gradients_match_the_direct_convolutions():
    """VGG-19 at half width (128-256 channels from block 3 on take Winograd's path) on an
    odd-sized picture: the features a stylization reads and their gradient to the picture
    agree with the direct convolutions' to float32 rounding."""
    from painterly.vgg import VGGFeatures
    from painterly.weights import random_weights

    w = random_weights(width=0.5, seed=3)
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    picture = torch.rand(1, 3, 75, 100, generator=torch.Generator().manual_seed(7))
    out = {}
    for fast in (False, True):
        vgg = VGGFeatures(w, "relu5_1", winograd_convs=fast)
        x = picture.clone().contiguous(memory_format=torch.channels_last).requires_grad_()
        f = vgg(x, layers)
        sum(v.square().mean() for v in f.values()).backward()
        out[fast] = f, x.grad
        # conv3_2 (128 channels in at half width) took the path, conv3_1 (64 in) did not
        assert ("conv3_2" in vgg._kernels, "conv3_1" in vgg._kernels) == (fast, False)
    for name in layers:
        ref, got = out[False][0][name], out[True][0][name]
        assert (got - ref).abs().max() <= 1e-4 * ref.abs().max(), name
    g0, g1 = out[False][1], out[True][1]
    assert (g1 - g0).abs().max() <= 1e-4 * g0.abs().max()
    # made on first use, once for the weights: a second extractor (other layers) shares them
    assert len(VGGFeatures(random_weights(width=0.5, seed=3), "relu5_1")._kernels) == 0
    again = VGGFeatures(w, "relu4_2")
    assert again._kernels is vgg._kernels and "conv4_2" in again._kernels


def test_the_scorer_keeps_the_direct_convolutions():
    """The fixed scorer's figures stay comparable with earlier runs: no Winograd there."""
    from painterly import scoring
    from painterly.weights import random_weights

    net = scoring.scorer_net(random_weights(width=0.5))
    scoring.features(net, torch.rand(1, 3, 64, 64))
    assert not net.winograd and not net._kernels


def test_a_network_painting_in_float32_takes_the_path_and_follows_its_training():
    """The fast model (128 channels at its deepest level here) paints the same picture as
    the direct convolutions (float64, which never takes the path); a training step between
    two paintings makes the kernels again."""
    from painterly.fast.model import FastArch, FastNet

    torch.manual_seed(0)
    net = FastNet(FastArch(widths=(8, 16, 32, 128)))
    x = torch.rand(1, 3, 64, 96)  # the deepest maps 12 x 16 (with the margin)
    with torch.no_grad():
        fast = net(x)
        assert net.encoder.kernels._made and net.decoder.kernels._made  # took the path
        ref = net.double()(x.double()).float()
        net.float()
    assert (fast - ref).abs().max() <= 1e-4 * ref.abs().max()

    net(x).square().mean().backward()  # training: gradients to the weights, direct layers
    top = net.decoder.top
    deep = net.encode(x)[-1].detach()
    with torch.no_grad():
        before = winograd.conv(top, deep, net.decoder.kernels)
        for p in net.parameters():
            p -= 0.1 * p.grad  # in place, as an optimiser's step
        after = winograd.conv(top, deep, net.decoder.kernels)
        plain = F.conv2d(deep, top.weight, top.bias, padding=1)
    assert not torch.allclose(after, before)
    assert (after - plain).abs().max() <= 1e-4 * plain.abs().max()  # made again
