"""The optimisation loop on a tiny random VGG: losses fall, seeds repeat, options work."""

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly import device, engine
from painterly.config import Options
from painterly.errors import Interrupted, UsageError

from .conftest import gradient_image, stripes_image


def _run(tiny_weights, **kw):
    seen = []
    kw.setdefault("size", 40)
    kw.setdefault("steps", 15)
    img = painterly.stylize(gradient_image(), stripes_image(), weights=str(tiny_weights),
                            callback=seen.append, **kw)
    return img, seen


def test_loss_falls(tiny_weights, precision):
    _, seen = _run(tiny_weights, scales=1, steps=30, precision=precision)
    first, last = seen[0].losses, seen[-1].losses
    assert last["total"] < 0.5 * first["total"]
    assert last["style"] < first["style"]
    assert [p.step for p in seen] == list(range(1, 31))
    assert seen[-1].total == 30 and seen[-1].eta == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_both_optimizers_reduce_style_loss(tiny_weights, optimizer, precision):
    """From noise with the default weights, the loss must fall far and never end above
    where it started (without the guard, L-BFGS blew up on this network in bf16)."""
    img, seen = _run(tiny_weights, optimizer=optimizer, init="noise", scales=1, steps=20,
                     lr=0.05 if optimizer == "adam" else 0, precision=precision)
    first, last = seen[0].losses["total"], seen[-1].losses["total"]
    assert last < 0.5 * first
    assert np.isfinite(np.asarray(img, np.float32)).all()


def test_seed_is_bit_for_bit_repeatable(tiny_weights, precision):
    a, _ = _run(tiny_weights, init="noise", seed=7, precision=precision)
    b, _ = _run(tiny_weights, init="noise", seed=7, precision=precision)
    c, _ = _run(tiny_weights, init="noise", seed=8, precision=precision)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_coarse_to_fine_plan():
    scales = engine.plan(Options(size=512, steps=10, min_scale_size=100), (384, 512))
    assert [(s.height, s.width) for s in scales][-1] == (384, 512)
    assert len(scales) >= 3 and scales[0].width < scales[-1].width
    assert len(engine.plan(Options(scales=1), (30, 40))) == 1


def test_multiscale_progress_reports_scales(tiny_weights, precision):
    _, seen = _run(tiny_weights, size=64, scales=2, steps=4, precision=precision)
    assert {p.scale for p in seen} == {0, 1}
    assert seen[0].width == 32 and seen[-1].width == 64
    assert seen[-1].image().size == (64, 51)


def test_several_styles_and_blend_weights(tiny_weights):
    img = painterly.stylize(gradient_image(), [stripes_image(), stripes_image(seed=2)],
                            weights=str(tiny_weights), style_blend_weights=[1, 3], steps=5,
                            size=40)
    assert img.size == (40, 32)
    with pytest.raises(UsageError, match="blend"):
        painterly.stylize(gradient_image(), [stripes_image(), stripes_image()],
                          weights=str(tiny_weights), style_blend_weights=[1, 2, 3], size=32)


@pytest.mark.parametrize("init", ["palette", "content", "noise", "style"])
def test_init_modes(tiny_weights, init):
    img, seen = _run(tiny_weights, init=init, steps=2, scales=1)
    assert img.size == (40, 32) and len(seen) == 2


def test_palette_init_is_the_photo_in_the_styles_colours():
    from painterly import color
    from painterly.images import resize_tensor, to_tensor

    content, style = to_tensor(gradient_image()), to_tensor(stripes_image())
    gen = torch.Generator().manual_seed(0)
    x = engine.initial_image("palette", None, content, [style], (16, 20), gen)
    assert torch.equal(x, color.match_colors(resize_tensor(content, (16, 20)), [style]))
    assert float((x - resize_tensor(content, (16, 20))).abs().mean()) > 0.05
    assert Options().init == "palette"


def test_callback_can_cancel_with_current_image(tiny_weights):
    def stop(p):
        if p.step == 3:
            raise Interrupted()

    with pytest.raises(Interrupted) as e:
        painterly.stylize(gradient_image(), stripes_image(), weights=str(tiny_weights),
                          size=40, steps=50, callback=stop)
    assert e.value.image.size == (40, 32)


def test_options_are_validated():
    with pytest.raises(UsageError, match="optimizer"):
        painterly.stylize(gradient_image(), stripes_image(), optimizer="sgd")
    with pytest.raises(UsageError, match="unknown keyword 'colour'"):
        painterly.stylize(gradient_image(), stripes_image(), colour="red")
    with pytest.raises(UsageError, match="minimum"):
        Options().replace(size=2)


def test_layers_and_layer_weights(tiny_weights):
    img, _ = _run(tiny_weights, content_layers=["block3_conv1"],
                  style_layers=["relu1_1", "relu2_1"], style_layer_weights=[1e-3, 1e-3],
                  steps=3, scales=1, pooling="avg")
    assert img.size == (40, 32)


def test_bf16_follows_fp32(tiny_weights):
    """bfloat16 reaches about the loss float32 reaches, from the same start."""
    ends = {}
    for prec in ("fp32", "bf16"):
        img, seen = _run(tiny_weights, precision=prec, steps=15, scales=1)
        assert all(np.isfinite(list(p.losses.values())).all() for p in seen)
        assert torch.is_tensor(seen[-1].image_tensor())
        ends[prec] = min(p.losses["total"] for p in seen)  # the point returned: the best
    assert ends["bf16"] < 1.5 * ends["fp32"] + 1e-3  # (a last evaluation may be rejected)


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "_cpu_has_fast_bf16", lambda: True)
    assert device.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(device, "_cpu_has_fast_bf16", lambda: False)
    assert device.resolve_precision("auto", cpu) == "fp32"
    assert device.resolve_precision("bf16", cpu) == "bf16"


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_asked_of_a_cpu_that_emulates_it_is_warned_of(monkeypatch, native):
    monkeypatch.setattr(device, "_cpu_has_fast_bf16", lambda: native)
    said = device.emulated_precision("bf16", "cpu")
    assert (said == "") is native
    assert native or ("emulated" in said and "--precision" in said)
    assert device.emulated_precision("auto", "cpu") == ""
    assert device.emulated_precision("fp32", "cpu") == ""


def test_the_cli_warns_of_emulated_bfloat16_where_this_cpu_lacks_it(tmp_path, cli_env):
    from .conftest import run_cli, save_png
    c = save_png(gradient_image(24, 20), tmp_path / "c.png")
    s = save_png(stripes_image(), tmp_path / "s.png")
    r = run_cli(["stylize", c, s, "-o", tmp_path / "o.png", "--size", "24", "--steps", "1",
                 "--scales", "1", "--precision", "bf16"], cli_env)
    assert r.returncode == 0, r.stderr
    warned = "has no bfloat16 instructions" in r.stderr  # (the output's path names the test)
    assert warned is not device._cpu_has_fast_bf16()  # this machine's kind


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_one_step_paints(tiny_weights, optimizer):
    """A scale's last evaluation only checks the point reached, so a scale of one step
    never moved: --steps 1 returned the start picture and --refine 1 the fast model's
    picture unchanged.  One step now moves once (and is checked after)."""
    start, _ = _run(tiny_weights, optimizer=optimizer, init="content", scales=1, steps=1,
                    size=32, precision="fp32", lr=0.05 if optimizer == "adam" else 0)
    photo = painterly.stylize(gradient_image(), stripes_image(), weights=str(tiny_weights),
                              init="content", scales=1, steps=2, size=32, precision="fp32",
                              optimizer=optimizer, lr=0.05 if optimizer == "adam" else 0)
    content = np.asarray(Image.fromarray((gradient_image() * 255 + 0.5).astype(np.uint8))
                         .resize(start.size, Image.Resampling.BICUBIC), np.float32)
    moved = np.abs(np.asarray(start, np.float32) - content).mean()
    assert moved > 2.0  # levels of 255: painted, not the photo resized
    assert np.array_equal(np.asarray(start), np.asarray(photo))  # one move, as two steps make
    _, seen = _run(tiny_weights, optimizer=optimizer, scales=1, steps=1, size=32)
    assert [p.step for p in seen] == [1]
