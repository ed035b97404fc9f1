"""The refining steps of ``--method fast`` (painterly/fast/refine.py), on a tiny model and
a tiny VGG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.config import Options, make
from painterly.errors import Interrupted, UsageError
from painterly.fast import refine as R
from painterly.fast.method import FastMethod
from painterly.images import image_tensor, load_image
from painterly.objective import build
from painterly.weights import load_weights

from .conftest import gradient_image, run_cli, save_png, stripes_image
from .test_fast import tiny_model


@pytest.fixture()
def pair(tmp_path):
    return (load_image(save_png(gradient_image(48, 36), tmp_path / "c.png")),
            load_image(save_png(stripes_image(40, 40), tmp_path / "s.png")))


def _method(tiny) -> FastMethod:
    return FastMethod(tiny_model(), device="cpu", precision="fp32", weights=tiny)


def _fast(**kw) -> Options:
    return make(Options, size=48, method="fast", precision="fp32", **kw)


def _style_loss(tiny, img, pair, opts: Options) -> float:
    """The objective's style term of ``img`` at its own size."""
    c, s = pair
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    from painterly.objective import feature_net

    net = feature_net(load_weights(tiny), opts, torch.device("cpu"), {})
    obj = build(net, opts, image_tensor(c, max(x.shape[-2:])), [image_tensor(s, 40)])(
        tuple(x.shape[-2:]))
    return obj(x).values()["style"]


def test_refining_brings_the_picture_nearer_the_painting(tiny, pair):
    m = _method(tiny)
    c, s = pair
    alone = m.picture(c, [s], _fast(refine=0))
    refined = m.picture(c, [s], _fast(refine=6))
    again = m.picture(c, [s], _fast(refine=6))
    assert refined.size == alone.size == (48, 36)
    assert np.array_equal(np.asarray(refined), np.asarray(again))  # the same on the CPU
    assert not np.array_equal(np.asarray(refined), np.asarray(alone))
    opts = _fast()
    assert _style_loss(tiny, refined, pair, opts) < 0.9 * _style_loss(tiny, alone, pair, opts)


def test_a_large_picture_is_refined_small_and_keeps_its_fine_detail(tiny, pair, monkeypatch):
    """Above REFINE_SIDE the optimiser works on the shrunk picture and only its change,
    enlarged, is added: the full-size picture's own fine detail stays."""
    monkeypatch.setattr(R, "REFINE_SIDE", 16)
    m = _method(tiny)
    c, s = pair
    seen = []
    alone = np.asarray(m.picture(c, [s], _fast(refine=0)), dtype=np.float32)
    out = np.asarray(m.picture(c, [s], _fast(refine=4), lambda p: seen.append(p)),
                     dtype=np.float32)
    assert out.shape == alone.shape
    assert seen and {(p.height, p.width) for p in seen} == {(12, 16)}  # the callback: 16 px
    change = out - alone
    # the change is smooth (enlarged from 16 px): its neighbour steps are small beside the
    # picture's own
    step = np.abs(np.diff(change, axis=1)).mean()
    assert step < 0.5 * np.abs(np.diff(alone, axis=1)).mean() and np.abs(change).mean() > 0.5


def test_stopping_while_refining_gives_the_picture_so_far(tiny, pair):
    m = _method(tiny)
    c, s = pair

    def stop(p):
        if p.step == 2:
            raise Interrupted()

    with pytest.raises(Interrupted) as e:
        m.picture(c, [s], _fast(refine=6), stop)
    assert e.value.image is not None and e.value.image.size == (48, 36)


def test_refine_is_refused_for_the_optimiser(tmp_path, images, cli_env):
    with pytest.raises(UsageError, match="--refine"):
        make(Options, refine=3)
    assert make(Options, refine=3, init="fast").refine == 3  # the warm start's picture
    r = run_cli(["stylize", *images, "-o", tmp_path / "o.png", "--refine", "3"], cli_env)
    assert r.returncode == 2 and "--refine" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_without_vgg_weights_the_error_names_refine_0(tmp_path, images, cli_env):
    """The refining steps need VGG-19; without it (offline, nothing cached) the one-line error
    says so, and --refine 0 paints the model's picture alone."""
    env = {k: v for k, v in cli_env.items() if k != "PAINTERLY_WEIGHTS"}
    out = tmp_path / "o.png"
    r = run_cli(["stylize", *images, "-o", out, "--method", "fast", "--size", "40"], env)
    assert r.returncode == 2 and "--refine 0" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    r = run_cli(["stylize", *images, "-o", out, "--method", "fast", "--size", "40",
                 "--refine", "0"], env)
    assert r.returncode == 0, r.stderr
    assert load_image(out).size == (40, 32)
