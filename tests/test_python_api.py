"""The Python API as a library: it leaves the caller's torch state alone (random numbers)
and works whatever that state is (the default type, the gradient mode), on tiny generated
pictures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import painterly
from painterly import engine
from painterly.fast.method import FastMethod
from painterly.network.transform import Arch, TransformNet
from painterly.objective import feature_net
from painterly.weights import load_weights

from .conftest import gradient_image, stripes_image
from .test_nets import tiny_model


def _kw(tiny: str) -> dict:
    return dict(size=24, steps=1, scales=1, weights=tiny, device="cpu")


def _refine(method: str) -> dict:
    return {"refine": 1} if method == "fast" else {}


@pytest.mark.parametrize("way", ["optimise", "fast", "network"])
def test_the_callers_random_numbers_are_left_alone(way, tiny, tmp_path):
    """Building a network drew its initial weights from the process's random numbers (then
    loaded its own over them), so every call moved the caller's random state."""
    net = tiny_model(tmp_path / "net.safetensors")
    img, style = gradient_image(24, 24), stripes_image(24, 24)
    before = torch.get_rng_state()
    if way == "network":
        painterly.Network.load(net, "cpu", "fp32")  # with onnx installed: its graph too
    else:
        painterly.stylize(img, style, method=way, **_kw(tiny), **_refine(way))
    assert torch.equal(torch.get_rng_state(), before)


def test_training_draws_the_same_initial_weights_from_its_seed():
    from painterly.training import seeded

    torch.manual_seed(3)
    want = TransformNet(Arch(4, 1, 2)).state_dict()
    before = torch.get_rng_state()
    with seeded(3):
        got = TransformNet(Arch(4, 1, 2)).state_dict()
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(got[k], v) for k, v in want.items())


def _paint(way: str, tiny: str, net: str, **extra) -> np.ndarray:
    img, style = gradient_image(24, 24), stripes_image(24, 24)
    if way == "network":
        return np.asarray(painterly.Network.load(net, "cpu", "fp32").stylize(img))
    return np.asarray(painterly.stylize(img, style, method=way, **_kw(tiny), **_refine(way),
                                        **extra))


@pytest.mark.parametrize("way", ["optimise", "fast", "network"])
def test_a_default_type_of_float64_paints_as_float32_does(way, tiny, tmp_path):
    """The fast model was built in torch's default type and its input was float32: 'Input
    type (float) and bias type (double) should be the same'."""
    net = str(tiny_model(tmp_path / "net.safetensors"))
    want = _paint(way, tiny, net, init="noise") if way == "optimise" else _paint(way, tiny, net)
    torch.set_default_dtype(torch.float64)
    try:
        got = _paint(way, tiny, net, init="noise") if way == "optimise" else \
            _paint(way, tiny, net)
    finally:
        torch.set_default_dtype(torch.float32)
    assert np.abs(got.astype(int) - want).max() <= 1


def _painted_in_mode(way: str, tiny: str) -> tuple[int, ...]:
    """The shape of what ``way`` paints of a tensor made in the caller's mode."""
    img = torch.rand(1, 3, 24, 24)
    style = stripes_image(24, 24)
    if way in ("clip", "fast-clip"):
        method = "fast" if way == "fast-clip" else "optimise"
        opts = painterly.Options(size=24, steps=1, scales=1, method=method, **_refine(method))
        room = FastMethod(None, "cpu", weights=tiny) if method == "fast" else \
            painterly.Stylizer(tiny, "cpu")
        return tuple(room.frames([style], opts)(img).shape)
    if way == "engine":  # its own feature network, made outside; the tensors inside
        opts = painterly.Options(size=24, steps=1, scales=1)
        with torch.inference_mode(False):
            net = feature_net(load_weights(tiny), opts, torch.device("cpu"), {})
        return tuple(engine.run(img, [img.flip(-1)], opts, net, init=img).shape)
    method = "fast" if way == "fast" else "optimise"
    extra = {"optimizer": way} if way != "fast" else {}
    pic = painterly.stylize(img, style, method=method, **_kw(tiny), **_refine(method), **extra)
    return (1, 3, *pic.size)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("way", ["lbfgs", "adam", "fast", "clip", "fast-clip", "engine"])
def test_the_callers_gradient_mode_does_not_stop_the_optimiser(mode, way, tiny):
    """Under the caller's torch.inference_mode() (and torch.no_grad() with Adam) the
    optimiser met 'element 0 of tensors does not require grad'."""
    with mode():
        assert _painted_in_mode(way, tiny) == (1, 3, 24, 24)
        assert not torch.is_grad_enabled()  # the caller's mode, as it was


def test_a_feature_network_made_in_inference_mode_is_one_clear_line(tiny):
    opts = painterly.Options(size=24, steps=1, scales=1)
    with torch.inference_mode():
        net = feature_net(load_weights(tiny), opts, torch.device("cpu"), {})
    with pytest.raises(painterly.UsageError, match="made under torch.inference_mode"):
        engine.run(torch.rand(1, 3, 24, 24), [torch.rand(1, 3, 24, 24)], opts, net)


def test_numbers_of_numpy_s_kinds_are_taken_as_plain_ones(tiny):
    """np.int64 sizes and np.float32 weights were refused ('expects int'), and a np.uint64
    seed given in Options passed the checks and then failed in the engine."""
    img, style = gradient_image(24, 24), stripes_image(24, 24)
    kw = dict(steps=1, scales=1, weights=tiny, device="cpu", init="noise")
    want = painterly.stylize(img, style, size=24, style_weight=10.0, seed=5, **kw)
    got = painterly.stylize(img, style, size=np.int64(24), style_weight=np.float32(10),
                            seed=np.uint64(5), **kw)
    assert np.array_equal(np.asarray(got), np.asarray(want))
    opts = painterly.Options(size=np.int64(24), steps=1, scales=1, init="noise",
                             seed=np.uint64(5), style_weight=np.float32(10),
                             style_blend_weights=[np.float32(1)])
    got = painterly.Stylizer(tiny, "cpu").picture(img, [style], opts)
    assert np.array_equal(np.asarray(got), np.asarray(want))
    assert [type(v) for v in (opts.size, opts.seed, opts.style_weight,
                              opts.style_blend_weights[0])] == [int, int, float, float]
    for bad in (np.bool_(True), np.float64(24.5)):
        with pytest.raises(painterly.UsageError, match="size"):
            painterly.stylize(img, style, size=bad, **kw)


def test_init_none_is_the_default(tiny):
    kw = _kw(tiny)
    img, style = gradient_image(24, 24), stripes_image(24, 24)
    assert np.array_equal(np.asarray(painterly.stylize(img, style, init=None, **kw)),
                          np.asarray(painterly.stylize(img, style, **kw)))


@pytest.mark.parametrize("init", ["", "Noise", "no-such-start.png"])
def test_an_init_that_is_neither_a_choice_nor_a_file_names_the_choices(init, tiny):
    """init='' and 'Noise' said '.: is a directory' and 'Noise: no such file'."""
    with pytest.raises(painterly.UsageError) as e:
        painterly.stylize(gradient_image(24, 24), stripes_image(24, 24), init=init,
                          **_kw(tiny))
    msg = str(e.value)
    assert "palette, content, noise, style, fast" in msg and "\n" not in msg, msg
    assert ("did you mean 'noise'" in msg) == (init == "Noise")


def test_weights_and_callbacks_of_the_wrong_kind_are_refused_before_any_work(tiny):
    """Stylizer(weights=123) was a raw TypeError of pathlib, and callback=5 failed only after
    a whole first step."""
    with pytest.raises(painterly.UsageError, match=r"weights=123: give a weights file's path"):
        painterly.Stylizer(weights=123)
    with pytest.raises(painterly.UsageError, match="weights=123"):
        FastMethod(None, "cpu", weights=123)
    with pytest.raises(painterly.UsageError, match="model=int: give a fast model file's path"):
        FastMethod(123, "cpu")
    for method in ("optimise", "fast"):  # not TypeError: 'int' object is not callable
        with pytest.raises(painterly.UsageError, match="callback=5 is not callable"):
            painterly.stylize(gradient_image(24, 24), stripes_image(24, 24), method=method,
                              callback=5, **_kw(tiny), **_refine(method))
    with pytest.raises(painterly.UsageError, match="frame_callback='x' is not callable"):
        painterly.Stylizer(tiny, frame_callback="x")


@pytest.mark.parametrize(("weights", "named"), [({"content_weight": 1e300}, "content weight"),
                                                ({"style_weight": 1e300}, "style weight")])
def test_a_loss_that_is_not_finite_names_the_weight_to_lower(weights, named, tiny):
    """content_weight=1e300 said to lower 'the learning rate or the style weight'."""
    with pytest.raises(painterly.UsageError) as e:
        painterly.stylize(gradient_image(24, 24), stripes_image(24, 24), **_kw(tiny), **weights)
    assert str(e.value) == ("the loss is not finite; lower the learning rate or the loss "
                            f"weights (here the {named}: its term is not finite)")


def test_none_for_an_option_that_is_off_unless_given_is_its_default(tiny, monkeypatch):
    """weights=None and fast_model=None became the file name 'None' ('None: weights file not
    found'), and style_blend_weights=None was refused as not a list: None is the default of
    every option shown as '-' in the options table, as it is for Stylizer(weights=None)."""
    monkeypatch.setenv("PAINTERLY_WEIGHTS", tiny)
    img, style = gradient_image(24, 24), stripes_image(24, 24)
    kw = dict(size=24, steps=1, scales=1, device="cpu", init="noise")
    want = np.asarray(painterly.stylize(img, style, **kw))
    got = painterly.stylize(img, style, weights=None, fast_model=None, style_blend_weights=None,
                            style_layer_weights=None, **kw)
    assert np.array_equal(np.asarray(got), want)
    opts = painterly.config.make_options(style_blend_weights=None, size=24)
    assert opts.style_blend_weights == [] and opts.size == 24
    with pytest.raises(painterly.UsageError, match="size"):  # an option with a value: no
        painterly.stylize(img, style, size=None, **{k: v for k, v in kw.items() if k != "size"})


def test_the_demo_checks_its_size_before_writing_anything(tmp_path):
    """examples/demo.py 1 made out/demo and wrote its painting there, then stopped with
    '--size: 1 is below the minimum 16', a flag the script does not have."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    r = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "1"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "painterly: error: SIZE 1 is below the minimum 16", r.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_figure_scripts_say_a_bad_size_in_one_line(tmp_path, tiny):
    """examples/figure.py abc ended with int()'s ValueError and examples/structure.py
    --size 1 with painterly's UsageError, each as a traceback."""
    import os
    import subprocess
    import sys

    from .conftest import ROOT, save_png

    save_png(gradient_image(24, 24), tmp_path / "c.png")
    save_png(stripes_image(24, 24), tmp_path / "s.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAINTERLY_WEIGHTS": tiny}
    runs = {"figure.py": (["abc"], "SIZE is a number of pixels, not 'abc'"),
            "structure.py": (["--images", str(tmp_path), "--content", "c.png", "--style",
                              "s.png", "--size", "1", "--out", str(tmp_path / "o.png")],
                             "--size 1 is below the minimum 16")}
    for script, (args, said) in runs.items():
        r = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and said in r.stderr, r.stderr
    assert not (tmp_path / "o.png").exists()
