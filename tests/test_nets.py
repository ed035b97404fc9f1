"""Style networks: the network, the model file, train and apply (tiny VGG, generated images)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.config import Runtime, make
from painterly.errors import Interrupted, PainterlyError, UsageError
from painterly.network.modelfile import ModelError, decode, encode, load_model, save_model
from painterly.network.network import Network
from painterly.network.options import TrainOptions
from painterly.network.train import (
    CLOSING_STEPS,
    Crops,
    checkpoint_path,
    lr_at,
    planned_steps,
    train,
)
from painterly.network.transform import Arch, TransformNet, pad_to

from .conftest import ROOT, gradient_image, photo_folder, run_cli, save_png, stripes_image

TINY = dict(crop=32, photo_size=40, width=4, blocks=1, downs=2, holdout=1, precision="fp32",
            preview_every=0, checkpoint_every=0)


@pytest.fixture()
def photos(tmp_path) -> Path:
    return photo_folder(tmp_path, 9)


@pytest.fixture()
def style(tmp_path) -> Path:
    return save_png(stripes_image(), tmp_path / "style.png")


def tiny_model(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    a = Arch(4, 1, 2)
    return save_model(path, TransformNet(a), a, {"style": {"name": "s.png"}, "steps": 0})


# --- the network ------------------------------------------------------------------------

@pytest.mark.parametrize("hw", [(32, 32), (37, 51), (5, 9)])
def test_output_has_the_input_size(hw):
    net = TransformNet(Arch(4, 1, 3)).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 3, *hw))
    assert y.shape == (2, 3, *hw) and torch.isfinite(y).all()


def test_instance_norm_makes_images_independent_of_their_batch():
    net = TransformNet(Arch(4, 1, 2)).eval()
    a, b = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        together = net(torch.cat([a, b]))
        alone = net(a)
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=1e-5)
    norm = torch.nn.InstanceNorm2d(6, affine=True)
    x = torch.randn(2, 6, 5, 7)
    from painterly.network.transform import InstanceNorm
    torch.testing.assert_close(InstanceNorm(6)(x), norm(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("c", [4, 8, 16])
def test_instance_norm_is_the_same_in_either_memory_layout(c):
    # below CL_NORM_MIN channels a channels-last map is normalised in the plain layout
    # (PyTorch's channels-last kernel is slow there): same numbers, layout kept
    from painterly.network.transform import InstanceNorm
    norm = InstanceNorm(c)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(c) + 0.5)
        norm.bias.copy_(torch.randn(c))
    ref = torch.nn.InstanceNorm2d(c, affine=True)
    ref.load_state_dict(norm.state_dict())
    x = torch.randn(2, c, 9, 13) * 3 + 1
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 3e-2)):
        cl = x.to(dtype).contiguous(memory_format=torch.channels_last)
        y = norm.to(dtype)(cl)
        assert y.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(y.float(), ref(x), atol=tol * 4, rtol=tol)


def test_instance_norm_leaves_channels_last_only_where_that_is_faster():
    # the plain-layout detour is for bfloat16 on the CPU (narrow maps, or training); float32
    # keeps PyTorch's channels-last kernel, which measured 6x faster than the two copies
    from painterly.network.transform import CL_NORM_MIN, _slow_cl_norm
    cl = torch.channels_last
    narrow, wide = CL_NORM_MIN // 2, CL_NORM_MIN * 2
    bf = torch.randn(1, narrow, 4, 4).to(torch.bfloat16)
    assert _slow_cl_norm(bf.contiguous(memory_format=cl), narrow)
    assert not _slow_cl_norm(bf, narrow)  # already plain: nothing to copy
    assert not _slow_cl_norm(bf.float().contiguous(memory_format=cl), narrow)
    wide_bf = torch.randn(1, wide, 4, 4).to(torch.bfloat16).contiguous(memory_format=cl)
    assert not _slow_cl_norm(wide_bf, wide)
    assert _slow_cl_norm(wide_bf.detach().requires_grad_(), wide)
    assert not _slow_cl_norm(wide_bf.float().requires_grad_(), wide)


@pytest.mark.parametrize("c", [8, 32])
def test_instance_norm_gradients_are_the_same_in_either_memory_layout(c):
    # training in bfloat16 on the CPU normalises channels-last maps in the plain layout
    # (PyTorch's channels-last backward is 9x slower there): the same values, gradients
    # and layout as the plain layout's own norm
    from painterly.network.transform import InstanceNorm
    torch.manual_seed(0)
    x = (torch.randn(2, c, 12, 10) * 3 + 1).to(torch.bfloat16)
    g = torch.randn(2, c, 12, 10).to(torch.bfloat16)
    out = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        norm = InstanceNorm(c)
        with torch.no_grad():
            norm.weight.copy_(torch.linspace(0.5, 1.5, c))
            norm.bias.copy_(torch.linspace(-1, 1, c))
        xi = x.contiguous(memory_format=layout).detach().requires_grad_()
        y = norm(xi)
        assert y.is_contiguous(memory_format=layout)
        y.backward(g.contiguous(memory_format=layout))
        out[layout] = (y.float(), xi.grad.float(), norm.weight.grad, norm.bias.grad)
    for a, b in zip(out[torch.contiguous_format], out[torch.channels_last]):
        torch.testing.assert_close(a, b, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("hw", [(6, 10), (7, 5), (1, 3)])
def test_upsampling_on_the_small_map_is_upsample_then_convolve(hw):
    # Up computes nearest x2 + reflect-padded 3x3 conv on the small map (phases + pixel
    # shuffle): the same numbers as the plain way, borders included
    from painterly.network.transform import Up
    torch.manual_seed(1)
    up = Up(6, 4).eval()
    with torch.no_grad():
        for p in up.parameters():
            p.add_(torch.randn_like(p))
        x = torch.randn(2, 6, *hw)
        plain = up[1](up[0](x))
        torch.testing.assert_close(up(x), plain, atol=1e-5, rtol=1e-5)
        # channels-last maps take the 2x2 phases
        cl = x.contiguous(memory_format=torch.channels_last)
        two = up(cl)
        assert two.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(two, plain, atol=1e-5, rtol=1e-5)
    with torch.enable_grad():  # training takes the 3x3 phases
        three = up(cl)
    assert three.requires_grad
    torch.testing.assert_close(two, three.detach(), atol=1e-5, rtol=1e-5)
    assert "phases" not in up.state_dict()


def test_nearest_phases_in_bfloat16_match_the_3x3_phases():
    from painterly.network.transform import Up
    torch.manual_seed(3)
    up = Up(8, 4).eval().to(torch.bfloat16)
    x = torch.randn(1, 8, 5, 7, dtype=torch.bfloat16)
    with torch.no_grad():
        two = up(x.contiguous(memory_format=torch.channels_last))
        three = up(x)
    torch.testing.assert_close(two.float(), three.float(), atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("hw", [(6, 10), (7, 5), (1, 3), (2, 2)])
def test_bilinear_upsampling_on_the_small_map_is_upsample_then_convolve(hw):
    # bilinear x2 (half-pixel centres) then a 3x3 conv, computed on the small map: exactly
    # F.interpolate + the conv inside; on the outermost ring the conv sees the upsampled
    # map's border repeated (the plain way reflects it)
    from painterly.network.transform import Up
    torch.manual_seed(2)
    up = Up(6, 4, "bilinear").eval()
    conv = up[1][0]
    with torch.no_grad():
        conv.weight.normal_()
        x = torch.randn(2, 6, *hw)
        u = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        ref = F.conv2d(F.pad(u, (1, 1, 1, 1), mode="replicate"), conv.weight)
        norm, relu = up[1][1], up[1][2]
        torch.testing.assert_close(up(x), relu(norm(ref)), atol=1e-5, rtol=1e-5)
        # inside that ring, the same sums as the module's own upsample-then-convolve
        plain = conv(up[0](x))  # the conv pads the upsampled map by reflection
        torch.testing.assert_close(ref[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1],
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hw", [(2, 2), (8, 6), (6, 9), (3, 5)])
def test_blur_without_a_padded_copy_is_the_reflected_blur(hw):
    # even sides take the blur with zeros at the top and left and add back what the
    # reflected row and column would have added: the same numbers as padding first
    from painterly.network.transform import Blur
    blur = Blur(3)
    x = torch.rand(2, 3, *hw)
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"),
                                      blur.kernel, stride=2, groups=3)
    torch.testing.assert_close(blur(x), want, atol=1e-6, rtol=1e-6)
    flat = torch.full((1, 3, *hw), 0.3)
    torch.testing.assert_close(blur(flat), torch.full_like(want[:1], 0.3))


# --- the model file ----------------------------------------------------------------------

def test_model_file_round_trips_exactly(tmp_path):
    torch.manual_seed(3)
    a = Arch(6, 2, 2)
    net = TransformNet(a)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    meta = {"style": {"name": "x.jpg", "sha256": "ab" * 32}, "steps": 7,
            "training": {"lr": 0.001}}
    mf = load_model(save_model(tmp_path / "m.safetensors", net, a, meta))
    assert mf.arch == a and mf.meta["steps"] == 7 and mf.meta["training"] == {"lr": 0.001}
    assert mf.meta["arch"]["width"] == 6 and mf.meta["format_version"] == 1
    want = net.state_dict()
    assert set(mf.state) == set(want)
    for k, v in want.items():
        assert torch.equal(mf.state[k], v), k
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        assert torch.equal(mf.network()(x), net.eval()(x))


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    from safetensors.torch import save

    good = tiny_model(tmp_path / "good.safetensors").read_bytes()
    a = Arch(4, 1, 2)
    shapes = {k: v[:1].clone() if v.ndim else v for k, v in TransformNet(a).state_dict().items()}
    i = good.index(b"steps")
    files = {
        "truncated": good[: len(good) - 300],
        "header only": good[:40],
        "foreign safetensors": save({"weight": torch.zeros(3)}, metadata={"x": "y"}),
        "png": (ROOT / "docs" / "results.png").read_bytes()[:4000],
        "pickle": b"\x80\x04\x95" + b"\x00" * 100,
        "tampered metadata": good[:i] + good[i:].replace(b"0", b"1", 1),
        "wrong shapes": encode(shapes, a, {}),
        "empty": b"",
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / (name.replace(" ", "_") + ".safetensors")
        p.write_bytes(data)
        out[name] = p
    return out


def test_bad_model_files_are_refused_in_python(tmp_path):
    for name, p in _bad_files(tmp_path).items():
        with pytest.raises(ModelError) as e:
            load_model(p)
        assert "\n" not in str(e.value) and str(p) in str(e.value), name
    with pytest.raises(ModelError, match="no such"):
        load_model(tmp_path / "missing.safetensors")


def test_bad_model_files_exit_2_with_one_line(tmp_path, cli_env):
    photo = save_png(gradient_image(), tmp_path / "photo.png")
    files = _bad_files(tmp_path)
    for name in ("truncated", "tampered metadata", "wrong shapes", "foreign safetensors"):
        r = run_cli(["apply", files[name], photo, "-o", tmp_path / "out.png"], cli_env)
        assert r.returncode == 2, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("painterly: error:"), (name, r.stderr)
        assert not (tmp_path / "out.png").exists()


def test_bytes_added_to_a_model_file_are_not_called_a_truncation(tmp_path):
    """A file with bytes appended (a download tool's padding, two files concatenated) was
    refused as "the file is truncated"."""
    good = tiny_model(tmp_path / "m.safetensors").read_bytes()
    with pytest.raises(ModelError, match="longer than its tensors"):
        decode(good + b"\0" * 10, "m")
    with pytest.raises(ModelError, match="the file is truncated"):
        decode(good[:-10], "m")


def test_tampering_with_a_tensor_is_detected(tmp_path):
    data = bytearray(tiny_model(tmp_path / "m.safetensors").read_bytes())
    data[-5] ^= 0x40
    with pytest.raises(ModelError, match="modified"):
        decode(bytes(data), "m")


# --- apply --------------------------------------------------------------------------------

def test_apply_on_a_folder_writes_one_image_per_photo(tmp_path, photos, cli_env):
    model = tiny_model(tmp_path / "m.safetensors")
    save_png(gradient_image(30, 60, seed=9), photos / "tall.png")
    (photos / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    r = run_cli(["apply", model, photos, "-o", out, "--size", "48", "--batch", "3", "-q"],
                cli_env)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{p.stem}.png" for p in photos.glob("*.png"))
    assert Image.open(out / "tall.png").size == (24, 48)
    assert Image.open(out / "p0.png").size == (48, 40)
    assert not list(out.glob(".*"))  # no temporary files left


def test_network_api_batch_equals_single_and_strength_blends(tmp_path):
    net = Network.load(tiny_model(tmp_path / "m.safetensors"), "cpu", "fp32")
    photo = gradient_image(40, 32)
    full = np.asarray(net.stylize(photo), dtype=np.float32) / 255
    none = np.asarray(net.stylize(photo, strength=0.0), dtype=np.float32) / 255
    half = np.asarray(net.stylize(photo, strength=0.5), dtype=np.float32) / 255
    assert np.abs(none - photo).max() < 1 / 255 + 1e-6
    assert np.abs(half - (full + photo) / 2).max() < 2 / 255
    lum = np.asarray(net.stylize(photo, preserve_color="luminance"), dtype=np.float32) / 255
    assert lum.shape == full.shape and np.abs(lum - full).max() > 0.01
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    pair = net.run(torch.cat([x, x.flip(-1)]))
    torch.testing.assert_close(pair[:1], net.run(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_network_output_is_an_ordinary_tensor(tmp_path, runtime, precision):
    """transform, run and transform_at gave inference-mode tensors: ``y.mul_(255)`` and a
    loss taken beside a tensor that needs gradients failed with PyTorch's RuntimeError."""
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        if precision == "bf16":
            pytest.skip("onnxruntime runs float32 only")
    net = Network.load(tiny_model(tmp_path / "m.safetensors"), "cpu", precision, runtime)
    x = torch.rand(2, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    for y in (net.transform(x), net.run(x), net.transform_at(x, 1, 2)):
        assert not y.is_inference() and not y.requires_grad
        want = y.clone()
        y.mul_(255).round_()  # in place, as a caller turning it into 8-bit levels
        torch.testing.assert_close(y, (want * 255).round())
        w = torch.ones(1, 3, 1, 1, requires_grad=True)
        (w * want).sum().backward()  # a constant beside a tensor that needs gradients
        torch.testing.assert_close(w.grad, want.sum((0, 2, 3)).view(1, 3, 1, 1))


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_network_pickles_and_copies_with_its_runtime(tmp_path, runtime):
    """With onnxruntime (the default for float32 on the CPU) pickle.dumps and
    copy.deepcopy failed: "cannot pickle 'InferenceSession' object"."""
    import copy
    import pickle

    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    net = Network.load(tiny_model(tmp_path / "m.safetensors"), "cpu", "fp32", runtime)
    x = torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    want = net.transform(x)
    for other in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert other.runtime == runtime and other.meta == net.meta
        assert (other._session is None) == (runtime == "torch")
        torch.testing.assert_close(other.transform(x), want, atol=0, rtol=0)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_picture_with_no_pixels_is_refused_in_one_line(tmp_path, runtime):
    """A batch of H or W 0 ended in PyTorch's 'Expected 3D or 4D (batch mode) tensor' or
    onnxruntime's 'indices element out of data bounds' (a batch of no pictures is fine)."""
    from painterly.errors import ImageError

    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    net = Network.load(tiny_model(tmp_path / "m.safetensors"), "cpu", "fp32", runtime)
    for shape in ((1, 3, 0, 16), (2, 3, 16, 0)):
        with pytest.raises(ImageError, match=r"at least 1 x 1 pixel; got shape") as e:
            net.transform(torch.rand(*shape))
        assert "\n" not in str(e.value)
    assert net.transform(torch.rand(0, 3, 16, 16)).shape == (0, 3, 16, 16)


def test_transform_at_refuses_offsets_off_the_grid(tmp_path):
    """A negative offset cropped the picture (an 8 x 8 picture came back 8 x 1) and a
    fractional one ended in torch's 'pad(): argument pad must be tuple of ints'."""
    from painterly.errors import UsageError

    net = Network.load(tiny_model(tmp_path / "m.safetensors"), "cpu", "fp32", "torch")
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for ox, oy in ((-1, 0), (0, net.stride), (2.5, 0), (True, 0), ("1", 0)):
        with pytest.raises(UsageError, match=f"from 0 to {net.stride - 1}"):
            net.transform_at(x, ox, oy)
    with pytest.raises(TypeError, match="takes a tensor"):
        net.transform_at(x.numpy(), 1, 1)
    y = net.transform_at(x, np.int64(1), 3)
    assert y.shape == x.shape
    torch.testing.assert_close(y, net.transform_at(x, 1, 3), atol=0, rtol=0)


def test_finish_refuses_what_stylize_refuses(tmp_path):
    """Network.finish took preserve_color="luminence" as none, blended strength=2 past the
    photo, and met pictures of two shapes with PyTorch's size mismatch."""
    from painterly.errors import ImageError, UsageError

    net = Network.load(tiny_model(tmp_path / "m.safetensors"), "cpu", "fp32", "torch")
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = net.transform(x)
    with pytest.raises(UsageError, match="preserve_color='luminence' is not one of"):
        net.finish(y, x, "luminence")
    for s in (2.0, -0.5, "1", True):
        with pytest.raises(UsageError, match="not a number from 0 to 1"):
            net.finish(y, x, "none", s)
    with pytest.raises(ImageError, match="of one shape"):
        net.finish(y, x[..., :4], "none", 0.5)
    torch.testing.assert_close(net.finish(y, x, "none", 1), y.clamp(0, 1))
    torch.testing.assert_close(net.finish(y, x, "none", 0.25), (0.25 * y + 0.75 * x).clamp(0, 1))


def test_network_load_names_its_keywords_as_python_spells_them(tmp_path):
    """painterly.Network.load(path, precision="fp16") said "--precision: fp16 is not one of
    ...", a flag of the command line, where painterly.stylize says "size=..."."""
    from painterly.errors import UsageError

    model = tiny_model(tmp_path / "m.safetensors")
    for kw, said in (({"precision": "fp16"}, "precision=fp16 is not one of"),
                     ({"runtime": "trt"}, "runtime=trt is not one of")):
        with pytest.raises(UsageError, match=said):
            Network.load(model, "cpu", **kw)


def test_bfloat16_inference_follows_float32(tmp_path):
    """The bfloat16 path (weights converted once, channels-last) on any CPU: emulated where
    the CPU has no bfloat16 instructions, so both arithmetics are tested everywhere."""
    model = tiny_model(tmp_path / "m.safetensors")
    x = torch.from_numpy(gradient_image(56, 40)).permute(2, 0, 1)[None]
    nets = {p: Network.load(model, "cpu", p) for p in ("fp32", "bf16")}
    assert nets["bf16"].dtype == torch.bfloat16 and nets["fp32"].dtype == torch.float32
    a, b = nets["fp32"].run(x), nets["bf16"].run(x)
    assert b.dtype == torch.float32 and b.shape == a.shape
    assert float((a - b).abs().mean()) < 0.02 and float((a - b).abs().max()) < 0.2


def test_bfloat16_training_lowers_the_loss(tmp_path, photos, style, tiny):
    out = tmp_path / "m.safetensors"
    tiny_model(out, seed=0)
    before = _style_loss_of(out, photos, style, tiny)
    topts = make(TrainOptions, steps=12, batch=2, lr=0.02, **{**TINY, "precision": "bf16"})
    train(str(style), str(photos), str(out), topts, Runtime(weights=tiny, device="cpu"),
          quiet=True, overwrite=True)  # over the untrained network measured before
    assert load_model(out).meta["training"]["precision"] == "bf16"
    assert _style_loss_of(out, photos, style, tiny) < 0.8 * before


def test_apply_refuses_bad_options(tmp_path, cli_env):
    model = tiny_model(tmp_path / "m.safetensors")
    photo = save_png(gradient_image(), tmp_path / "photo.png")
    for extra in (["--strength", "1.5"], ["--size", "3"], ["--batch", "0"]):
        r = run_cli(["apply", model, photo, "-o", tmp_path / "o.png", *extra], cli_env)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (extra, r.stderr)


# --- train -----------------------------------------------------------------------------------

def _style_loss_of(model: Path, photos: Path, style: Path, tiny: str) -> float:
    """The style loss of the model's outputs on fixed crops (fresh objective)."""
    from painterly.objective import PerceptualLoss
    from painterly.vgg import build
    from painterly.weights import load_weights

    topts = make(TrainOptions, **TINY)
    lopts = topts.loss_options()
    vgg = build(load_weights(tiny), ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2",
                                     "relu5_1"])
    loss = PerceptualLoss.from_options(vgg, lopts)
    from painterly.images import image_tensor, load_image

    loss.set_style([image_tensor(load_image(style), 56)], side=40)
    ds = Crops(sorted(photos.glob("*.png")), 40, 32, seed=5)
    x = torch.stack([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        y = load_model(model).network()(x)
        return float(loss(y, content=x).terms["style"])


def test_a_few_steps_lower_the_loss_and_resume_continues(tmp_path, photos, style, tiny):
    out = tmp_path / "m.safetensors"
    rt = Runtime(weights=tiny, device="cpu")
    tiny_model(out, seed=0)  # the network training starts from (seed 0)
    before = _style_loss_of(out, photos, style, tiny)
    topts = make(TrainOptions, steps=12, batch=2, lr=0.02, lr_decay=0.75,
                 **{**TINY, "checkpoint_every": 6})
    done = train(str(style), str(photos), str(out), topts, rt, quiet=True,
                 previews=str(tmp_path / "prev"), overwrite=True)
    assert done.steps == 12 and not done.interrupted
    after = _style_loss_of(out, photos, style, tiny)
    assert after < 0.8 * before, (before, after)
    meta = load_model(out).meta
    assert meta["steps"] == 12 and meta["training"]["lr"] == 0.02
    assert meta["style"]["name"] == "style.png" and len(meta["style"]["sha256"]) == 64
    assert meta["style"]["thumbnail_png"] and len(meta["holdout"]) == 1
    assert meta["painterly_version"]
    assert (tmp_path / "prev" / "step_000012.png").exists()

    # the finished run leaves the checkpoint of its last step: --resume goes on from there
    ck = load_model(checkpoint_path(out))
    assert ck.meta["steps"] == 12 and any(k.startswith("opt.") for k in ck.extra)
    torch.testing.assert_close(ck.state, load_model(out).state)

    # a run stopped at step 6 and resumed to 12 gives the same network as the straight run
    # (the learning rate, decaying from step 3, goes on along the same curve)
    out2 = tmp_path / "m2.safetensors"

    def stop_at_6(p):
        if p.step == 6:
            raise Interrupted

    half = train(str(style), str(photos), str(out2), topts, rt, quiet=True, callback=stop_at_6)
    assert half.interrupted and load_model(checkpoint_path(out2)).meta["steps"] == 6
    done2 = train(str(style), str(photos), str(out2), make(TrainOptions, steps=12), rt,
                  resume=True, quiet=True)
    assert done2.steps == 12
    straight = load_model(out).state
    for k, v in load_model(out2).state.items():
        torch.testing.assert_close(v, straight[k], atol=1e-6, rtol=1e-5)


def test_learning_rate_decays_over_the_last_fraction_of_the_steps():
    flat = make(TrainOptions, steps=10, lr=0.01)
    assert [lr_at(flat, s) for s in range(10)] == [0.01] * 10
    t = make(TrainOptions, steps=10, lr=0.01, lr_decay=0.3)
    lrs = [lr_at(t, s) for s in range(10)]
    assert lrs[:7] == [0.01] * 7  # the last 3 steps decay
    assert 0.01 > lrs[7] > lrs[8] > lrs[9] > 0
    assert lrs[8] == pytest.approx(0.005)  # the middle of the half cosine
    whole = make(TrainOptions, steps=4, lr=0.01, lr_decay=1.0)
    assert lr_at(whole, 0) < 0.01 and lr_at(whole, 3) > 0


def test_a_decayed_learning_rate_moves_the_weights_less(tmp_path, photos, style, tiny):
    rt = Runtime(weights=tiny, device="cpu")
    torch.manual_seed(0)
    start = TransformNet(Arch(4, 1, 2)).state_dict()  # what training starts from (seed 0)
    moved = {}
    for decay in (0.0, 1.0):
        out = tmp_path / f"m{decay}.safetensors"
        train(str(style), str(photos), str(out),
              make(TrainOptions, steps=3, batch=2, lr=0.02, lr_decay=decay, **TINY), rt,
              quiet=True)
        state = load_model(out).state
        moved[decay] = sum(float((state[k] - v).abs().sum()) for k, v in start.items()
                           if v.is_floating_point())
    assert 0 < moved[1.0] < 0.8 * moved[0.0], moved


def test_the_grid_term_is_trained_on_the_networks_own_stride(tmp_path, photos, style, tiny,
                                                             monkeypatch):
    from painterly import losses

    periods = []
    real = losses.grid_loss

    def spy(x, period):
        periods.append(period)
        return real(x, period)

    monkeypatch.setattr(losses, "grid_loss", spy)
    rt = Runtime(weights=tiny, device="cpu")
    seen = []
    train(str(style), str(photos), str(tmp_path / "m.safetensors"),
          make(TrainOptions, steps=2, batch=2, grid_weight=3.0, **TINY), rt, quiet=True,
          callback=seen.append)
    assert all(p.losses["grid"] > 0 for p in seen)
    assert set(periods) == {4}  # TINY: two halvings
    seen.clear()
    train(str(style), str(photos), str(tmp_path / "n.safetensors"),
          make(TrainOptions, steps=1, batch=2, grid_weight=0.0, **TINY), rt, quiet=True,
          callback=seen.append)
    assert "grid" not in seen[0].losses  # 0 turns it off
    assert make(TrainOptions).grid_weight > 0  # on by default


def test_planned_steps_fit_the_time_left():
    assert planned_steps(10, 100.0, 2.0) == 10 + 50 - CLOSING_STEPS
    assert planned_steps(10, 1.0, 2.0) == 11  # always one more step
    assert planned_steps(0, 100.0, 0.0) > 1000  # no measured pace: as many as can be


def test_minutes_plan_the_steps_to_fill_the_time(tmp_path, photos, style, tiny):
    out = tmp_path / "m.safetensors"
    rt = Runtime(weights=tiny, device="cpu")
    budget = 10.0  # 6 s left a loaded machine too little after the set-up (a plan of 1 step)
    t0 = time.perf_counter()
    done = train(str(style), str(photos), str(out),
                 make(TrainOptions, minutes=budget / 60, steps=3, batch=2, lr_decay=0.3,
                      **TINY), rt, quiet=True)
    took = time.perf_counter() - t0
    meta = load_model(out).meta
    assert done.steps == meta["steps"] == meta["training"]["steps"]  # the plan, reached
    assert done.steps > 3, done.steps  # --steps 3 is not used
    assert 0.5 * budget < took < budget + 8.0, took  # it fills the time and ends within it
    assert meta["training"]["minutes"] == pytest.approx(budget / 60)


def test_train_refuses_bad_input(tmp_path, photos, style, tiny, cli_env):
    from painterly.errors import PainterlyError

    rt = Runtime(weights=tiny, device="cpu")
    out = tmp_path / "m.safetensors"
    cases = [
        (dict(photos=tmp_path / "none"), {}, "no such"),
        (dict(), dict(holdout=9), "holdout"),
        (dict(), dict(batch=9), "fewer than --batch"),
        (dict(resume=True), {}, "checkpoint"),
        (dict(style=tmp_path / "nostyle.png"), {}, "nostyle"),
    ]
    for kw, opts, word in cases:
        args = {"style": style, "photos": photos, **kw}
        with pytest.raises(PainterlyError, match=word):
            train(str(args["style"]), str(args["photos"]), str(out),
                  make(TrainOptions, steps=2, **{**TINY, **opts}), rt, quiet=True,
                  resume=kw.get("resume", False))
    with pytest.raises(PainterlyError, match="crop"):
        make(TrainOptions, crop=64, photo_size=40)
    r = run_cli(["train", style, "--photos", photos, "-o", out, "--crop", "64",
                 "--photo-size", "40"], cli_env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()


def test_sigterm_leaves_a_usable_checkpoint(tmp_path, photos, style, cli_env):
    out = tmp_path / "m.safetensors"
    p = subprocess.Popen([sys.executable, "-m", "painterly", "train", str(style), "--photos",
                          str(photos), "-o", str(out), "--steps", "100000", "--crop", "32",
                          "--photo-size", "40", "--width", "4", "--blocks", "1", "--downs",
                          "2", "--batch", "2", "--holdout", "1", "--checkpoint-every", "2",
                          "-q"], env=cli_env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while not checkpoint_path(out).exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # until training runs (the first checkpoint is written)
    p.terminate()
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 130, err
    ck = load_model(checkpoint_path(out))
    assert ck.meta["steps"] >= 1 and any(k.startswith("opt.") for k in ck.extra)
    assert load_model(out).meta["steps"] == ck.meta["steps"]


def _torchrun(args: list, env: dict) -> subprocess.CompletedProcess:
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "painterly",
           *map(str, args)]
    return subprocess.run(cmd, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=120)


def test_torchrun_says_an_error_once_and_apply_checks_every_output(tmp_path, photos, style,
                                                                     cli_env):
    # an error was said once per process; apply's processes each checked their own share
    # of the outputs (two different lines), and a finished apply said nothing
    r = _torchrun(["train", style, "--photos", photos, "-o", tmp_path / "m.safetensors",
                   "--batch", "3", "--steps", "1"], cli_env)
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("painterly:")]
    assert r.returncode != 0 and said == \
        ["painterly: error: --batch 3 is not a multiple of the 2 processes"], r.stderr
    assert "exitcode  : 2" in r.stderr  # torchrun reports the usage error's status
    model, out = tiny_model(tmp_path / "n.safetensors"), tmp_path / "styled"
    r = _torchrun(["apply", model, photos, "-o", out, "--size", "32"], cli_env)
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("9 images")]
    assert r.returncode == 0 and len(said) == 1, r.stderr
    assert said[0].startswith(f"9 images written to {out}")
    for i in range(0, 9, 2):  # rank 0's share (p0, p2 ...) gone: it wrote them again
        (out / f"p{i}.png").unlink()
    r = _torchrun(["apply", model, photos, "-o", out, "--size", "32"], cli_env)
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("painterly:")]
    assert len(said) == 1 and "p1.png: exists" in said[0], r.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(1, 9, 2)]


def test_torchrun_two_processes_hold_the_same_weights_as_one(tmp_path, photos, style, tiny):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    worker = ROOT / "tests" / "nets_ddp_worker.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    results = {}
    for n in (2, 1):
        d = tmp_path / f"n{n}"
        d.mkdir()
        args = [str(worker), str(style), str(photos), str(d / "m.safetensors"), tiny, str(d)]
        port = str(29500 + os.getpid() % 2000)
        cmd = [str(torchrun), "--nproc_per_node=2", "--master_port", port, *args] if n == 2 \
            else [sys.executable, *args]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert sorted(p.name for p in d.iterdir() if not p.name.startswith("rank")) == \
            ["m.safetensors", "m.safetensors.ckpt"]  # written once, by rank 0
        from safetensors.torch import load_file

        results[n] = [load_file(str(d / f"rank{i}.safetensors")) for i in range(n)]
    r0, r1 = results[2]
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k  # the ranks agree exactly
    start = TransformNet(Arch(4, 1, 2))
    moved, diffs = 0.0, []
    for k, v in results[1][0].items():
        diffs.append((r0[k] - v).abs().flatten())
        moved = max(moved, float((v - start.state_dict()[k]).abs().max()))
    diffs = torch.cat(diffs)
    # the same as one process, up to the order of the sums: Adam turns the rare gradient near
    # zero whose sign that order flips into a step of up to lr (1e-3) either way
    assert float((diffs > 2e-4).float().mean()) < 0.02 and float(diffs.max()) < 3e-3
    assert moved > 1e-3  # training did change the weights


# --- apply on a clip -------------------------------------------------------------------------

def test_apply_on_a_clip_keeps_frames_rate_audio_and_blending_steadies_it(tmp_path, cli_env):
    import av

    from painterly import temporal, video

    from .video_clips import make_clip

    model = tiny_model(tmp_path / "m.safetensors")
    # an object moving over a still background: the blend steadies what moves apart from
    # the camera (a camera's pan is kept steady by the grid lock alone)
    src = make_clip(tmp_path / "in.mp4", n=8, rate=8, scene="object")
    runs = {"blend": [], "no blend": ["--blend", "0", "--no-audio", "--quality", "high"]}
    errs = {}
    for name, extra in runs.items():
        out = tmp_path / f"{name.replace(' ', '_')}.mp4"
        r = run_cli(["apply", model, src, "-o", out, "--size", "32", "--precision", "fp32",
                     "-q", *extra], cli_env)
        assert r.returncode == 0, r.stderr
        got = video.probe(out)
        audio = None if "--no-audio" in extra else "aac"
        assert (got.frames, got.rate, got.audio, got.upright_size) == (8, 8, audio, (32, 24))
        with av.open(str(out)) as c:  # --quality reached the encoder
            assert c.streams.video[0].codec_context.pix_fmt == ("yuv444p" if extra else
                                                                "yuv420p")
        frames = [f.tensor() for f in video.read_frames(got)]
        inputs = [f.tensor() for f in video.read_frames(video.probe(src), (32, 24))]
        errs[name] = temporal.warping_error(frames, inputs)[0]
    assert errs["blend"] < errs["no blend"], errs
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_apply_on_a_clip_warns_and_says_what_ran_as_for_pictures(tmp_path, monkeypatch,
                                                                 capsys):
    """--precision bf16 on a CPU without bfloat16 instructions: pictures were warned that it
    runs emulated, about 2x slower; a clip, where the time counts most, was not.  And the
    closing line of pictures says what ran ("(torch, bf16)"); a clip's did not."""
    from painterly import cli, device

    from .video_clips import make_clip

    monkeypatch.setattr(device, "emulated_precision",
                        lambda precision, dev: "--precision bf16: emulated here"
                        if precision == "bf16" else None)
    model = tiny_model(tmp_path / "m.safetensors")
    src = make_clip(tmp_path / "in.mp4", n=2, rate=8, audio=False)
    photo = save_png(gradient_image(), tmp_path / "p.png")
    for inp, out in ((photo, "o.png"), (src, "o.mp4")):
        code = cli.main(["apply", str(model), str(inp), "-o", str(tmp_path / out), "--size",
                         "32", "--precision", "bf16", "--runtime", "torch", "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == 0 and "warning: --precision bf16: emulated here" in err, (out, err)
        # the closing line says what ran, for a clip as for pictures
        assert err.strip().splitlines()[-1].endswith(f"{out} (torch, bf16)"), err


def test_grid_lock_keeps_the_texture_on_a_panning_scene(tmp_path, precision):
    from painterly.network.steady import frame_fn

    from .video_clips import translated_frames

    net = Network.load(tiny_model(tmp_path / "m.safetensors", seed=3), "cpu", precision)
    assert net.stride == 4
    dx = 3  # the content moves 3 px left a frame: a new phase on the grid every frame
    frames = [torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None]
              for f in translated_frames(4, 80, 112, dx=dx, dy=0, freq=(0.2, 0.6))]

    def drift(fn) -> float:  # how much the picture changes where the scene is the same
        outs = [fn(f) for f in frames]
        return max(float((b[..., 16:-16, 16:-16 - dx] - a[..., 16:-16, 16 + dx:-16]).abs().mean())
                   for a, b in zip(outs, outs[1:]))

    plain, locked = drift(frame_fn(net, lock=False)), drift(frame_fn(net))
    assert locked < 0.2 * plain, (locked, plain)

    from painterly import temporal

    from .test_video import zoomed_frames  # a zoom: the strokes grow with the scene
    for rate, cut in ((1 / 0.97, 0.5), (0.98, 0.8)):  # a camera pulling back within one
        zoom = zoomed_frames(6 if rate < 1 else 4, 80, 112, rate)  # view; closing in, a
        errs = [temporal.warping_error([fn(f) for f in zoom], zoom)[0]  # fresh one at the
                for fn in (frame_fn(net, lock=False), frame_fn(net))]  # third frame
        assert errs[1] < cut * errs[0], (rate, errs)
    x = frames[0]
    shifted = net.run_at(x, 1, 2)
    assert shifted.shape == x.shape and not torch.equal(shifted, net.run(x))


def test_grid_lock_gives_a_zoom_back_the_detail_its_resampling_takes(tmp_path):
    from painterly import temporal
    from painterly.network.steady import frame_fn

    from .test_video import zoomed_frames

    net = Network.load(tiny_model(tmp_path / "m.safetensors", seed=3), "cpu", "fp32")
    zoom = zoomed_frames(4, 80, 112, rate=1 / 0.97)  # pulling back: one view of the network

    def fine(fn) -> tuple[float, float]:  # the finest band's energy of the later frames
        outs = [fn(f) for f in zoom]
        e = sum(float(temporal.fine_band(o)[..., 8:-8, 8:-8].pow(2).mean()) for o in outs[1:])
        return e, temporal.warping_error(outs, zoom)[0]

    (alone, err_alone), (soft, _), (kept, err_kept) = (
        fine(frame_fn(net, lock=False)), fine(frame_fn(net, keep_detail=False)),
        fine(frame_fn(net)))
    assert soft < 0.9 * alone  # two resamplings soften the strokes
    assert abs(kept / alone - 1) < abs(soft / alone - 1) and kept > 0.85 * alone
    assert err_kept < 0.5 * err_alone  # and the zoom stays steady


def test_a_fresh_view_of_a_zoom_is_painted_finer_than_its_frame(tmp_path):
    from painterly.network.steady import FINER, REANCHOR, GridLocked

    from .test_video import zoomed_frames

    net = Network.load(tiny_model(tmp_path / "m.safetensors", seed=3), "cpu", "fp32")
    for rate in (0.98, 1 / 0.98):  # closing in, pulling back
        locked, scales = GridLocked(net), []
        for f in zoomed_frames(8 if rate < 1 else 6, 80, 112, rate):
            assert locked(f).shape == f.shape
            scales.append(locked.scale)
        lo, hi = REANCHOR ** (FINER - 1), REANCHOR ** FINER
        assert scales[0] == 1.0 and all(lo - 1e-6 <= s <= hi + 1e-6 for s in scales)
        if rate < 1:  # the strokes shrink and grow back: the view starts finer and coarsens
            fresh = next(i for i, s in enumerate(scales) if s > 1.05)
            assert scales[fresh] == pytest.approx(hi)
            assert all(a > b for a, b in zip(scales[fresh:], scales[fresh + 1:]))
        else:  # one view, finer as the camera pulls back
            assert all(a < b for a, b in zip(scales, scales[1:])) and scales[-1] > 1.08


def test_the_camera_found_ahead_gives_the_same_frames(tmp_path):
    """process_clip has the camera's motion found in its decoding thread (look, frame by
    frame ahead of the network): the frames are those of finding it in the call."""
    from painterly.network.steady import frame_fn

    from .test_video import zoomed_frames

    net = Network.load(tiny_model(tmp_path / "m.safetensors", seed=3), "cpu", "fp32")
    zoom = zoomed_frames(5, 80, 112, rate=0.98)
    plain, ahead = frame_fn(net, blend=0.5), frame_fn(net, blend=0.5)
    want = [plain(f) for f in zoom]
    for f in zoom[:2]:  # ahead by two frames, as the decoding thread runs
        ahead.look(f)
    assert len(ahead.fn.look.__self__._looked) == 2  # the cameras wait for their frames
    got = []
    for i, f in enumerate(zoom):
        if i + 2 < len(zoom):
            ahead.look(zoom[i + 2])
        got.append(ahead(f))
    for a, b in zip(want, got):
        assert torch.equal(a, b)


def test_apply_refuses_clips_mixed_with_images_or_a_folder_output(tmp_path, cli_env):
    from .video_clips import make_clip

    model = tiny_model(tmp_path / "m.safetensors")
    src = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    photo = save_png(gradient_image(), tmp_path / "photo.png")
    folder = tmp_path / "out"
    bad = {"clip and image": [src, photo, "-o", tmp_path / "o.mp4"],
           "clip to a folder": [src, "-o", folder],
           "clip to an image": [src, "-o", tmp_path / "o.png"],
           "image to a clip": [photo, "-o", tmp_path / "o.mp4"],
           "blend out of range": [src, "-o", tmp_path / "o.mp4", "--blend", "1.5"],
           "unknown quality": [src, "-o", tmp_path / "o.mp4", "--quality", "best"],
           "quality a GIF cannot hold": [src, "-o", tmp_path / "o.gif", "--quality", "high"]}
    for name, args in bad.items():
        r = run_cli(["apply", model, *args], cli_env)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "m.safetensors",
                                                          "photo.png"]


def test_train_callback_sees_every_step_and_can_stop_it(tmp_path, photos, style, tiny):
    from painterly.errors import Interrupted

    out = tmp_path / "m.safetensors"
    rt = Runtime(weights=tiny, device="cpu")
    seen = []

    def callback(p):
        seen.append(p)
        if p.step == 3:
            raise Interrupted()

    topts = make(TrainOptions, steps=50, batch=2, **{**TINY, "preview_every": 2})
    done = train(str(style), str(photos), str(out), topts, rt, quiet=True,
                 style_name="starry", callback=callback)
    assert done.interrupted and done.steps == 3
    assert [p.step for p in seen] == [1, 2, 3] and all(p.total == 50 for p in seen)
    assert set(seen[0].losses) >= {"style", "content", "total"} and seen[0].eta > 0
    assert seen[0].preview is None and seen[1].preview.size == (2 * 40, 33)  # photo | result
    meta = load_model(out).meta
    assert meta["steps"] == 3 and meta["style"]["name"] == "starry"
    assert load_model(checkpoint_path(out)).meta["steps"] == 3


def test_grid_lock_resamples_with_a_sharp_kernel():
    from painterly.network.steady import _resample

    x = torch.rand(2, 3, 24, 40, generator=torch.Generator().manual_seed(0))
    xs, ys = torch.arange(40, dtype=torch.float64), torch.arange(24, dtype=torch.float64)
    assert torch.equal(_resample(x, xs, ys), x)  # on the pixels: the image as it is
    there = _resample(x, xs + 0.5, ys + 0.5)  # a one-pixel texture half a pixel away and back
    gy, gx = torch.meshgrid((ys + 0.5) / 23 * 2 - 1, (xs + 0.5) / 39 * 2 - 1, indexing="ij")
    cubic = torch.nn.functional.grid_sample(x, torch.stack([gx, gy], -1)[None].float().expand(
        2, -1, -1, -1), mode="bicubic", padding_mode="border", align_corners=True)
    inner = (..., slice(4, -4), slice(4, -4))
    assert float(there[inner].std()) > float(cubic[inner].std()) * 1.05  # sharper than bicubic
    def wave(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:  # smooth: exact to sample
        return (0.5 + 0.4 * torch.sin(0.3 * px[None, :] + 0.2 * py[:, None]))[None, None].float()

    at_x, at_y = xs[:30] * 1.1 + 2.3, ys[:16] * 0.9 + 1.7  # a zoom and a shift
    got = _resample(wave(xs, ys), at_x, at_y)
    assert float((got - wave(at_x, at_y)).abs().max()) < 0.01


def test_resume_refuses_another_painting(tmp_path, photos, style, tiny):
    # the checkpoint's painting went unchecked: a resumed run trained on another one and
    # the model said it was that one's
    out = tmp_path / "m.safetensors"
    rt = Runtime(weights=tiny, device="cpu")
    train(str(style), str(photos), str(out), make(TrainOptions, steps=2, batch=2, **TINY),
          rt, quiet=True)
    other = save_png(gradient_image(40, 40), tmp_path / "other.png")
    with pytest.raises(UsageError, match="trained on the painting style.png"):
        train(str(other), str(photos), str(out), make(TrainOptions, steps=3, batch=2, **TINY),
              rt, quiet=True, resume=True, steps_given=True)
    with pytest.raises(UsageError, match="or drop --resume to train afresh on this one$"):
        train(str(other), str(photos), str(out), make(TrainOptions, steps=3, batch=2, **TINY),
              rt, quiet=True, resume=True, steps_given=True, overwrite=True)
    done = train(str(style), str(photos), str(out), make(TrainOptions, steps=3, batch=2,
                                                         **TINY), rt, quiet=True,
                 resume=True, steps_given=True)
    assert done.steps == 3


def test_resume_keeps_the_held_out_photos_of_its_checkpoint(tmp_path, photos, style, tiny):
    # photos added to the folder re-drew the held-out ones: a photo trained on became held
    # out and a held-out one was trained on
    out = tmp_path / "m.safetensors"
    rt = Runtime(weights=tiny, device="cpu")
    opts = {**TINY, "holdout": 2, "batch": 2}
    train(str(style), str(photos), str(out), make(TrainOptions, steps=1, **opts), rt,
          quiet=True)
    held = load_model(out).meta["holdout"]
    for i in range(9, 12):
        save_png(gradient_image(48, 40, seed=i), photos / f"p{i}.png")
    train(str(style), str(photos), str(out), make(TrainOptions, steps=2, **opts), rt,
          quiet=True, resume=True)
    assert load_model(out).meta["holdout"] == held
    (photos / held[0]).unlink()
    with pytest.raises(UsageError, match=f"held-out photo {held[0]} .* no longer in"):
        train(str(style), str(photos), str(out), make(TrainOptions, steps=3, **opts), rt,
              quiet=True, resume=True)


def test_resume_names_the_flags_it_does_not_use(tmp_path, photos, style, tiny, cli_env):
    # the checkpoint's options hold on --resume: flags given that differ were dropped unsaid
    out = tmp_path / "m.safetensors"
    train(str(style), str(photos), str(out), make(TrainOptions, steps=2, batch=2, **TINY),
          Runtime(weights=tiny, device="cpu"), quiet=True)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    r = run_cli(["train", style, "--photos", photos, "-o", out, "--resume", "--steps", "3",
                 "--batch", "2", "--lr", "0.05", *flags], cli_env)
    assert r.returncode == 0, r.stderr
    assert "checkpoint's options: --lr not used" in r.stderr


def test_apply_names_clip_flags_given_for_pictures(tmp_path, cli_env):
    model = tiny_model(tmp_path / "m.safetensors")
    photo = save_png(gradient_image(24, 16), tmp_path / "p.png")
    r = run_cli(["apply", model, photo, "-o", tmp_path / "o.png", "--blend", "0.3",
                 "--quality", "high"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "note: --blend, --quality are for clips" in r.stderr
    from .video_clips import make_clip  # and the other way round

    pytest.importorskip("av")
    clip = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    r = run_cli(["apply", model, clip, "-o", tmp_path / "o.mp4", "--size", "32", "--format",
                 "jpg", "--batch", "2"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "note: --format, --batch are for pictures; a clip does not use them" in r.stderr


def test_network_takes_a_path_and_refuses_other_types_in_one_line(tmp_path):
    path = tiny_model(tmp_path / "m.safetensors")
    net = Network(path, "cpu", "fp32")  # a path, as Network.load takes
    assert net.stylize(gradient_image(24, 16)).size == (24, 16)
    with pytest.raises(TypeError, match="model file's path"):
        Network(5)
    with pytest.raises(TypeError, match="an image is a path, bytes, a PIL image"):
        net.stylize(None)


@pytest.mark.parametrize("k, stride", [(3, 1), (3, 2), (9, 1)])
@pytest.mark.parametrize("h, w", [(8, 8), (9, 13), (17, 10), (2, 5)])
def test_reflect_conv_is_the_padded_convolution(k, stride, h, w):
    """The convolution of large maps without the padded copy: the same values and
    gradients as padding first, on every side, stride and odd size (a map too small for
    the strips takes the padded path)."""
    from painterly.network.transform import reflect_conv

    p = k // 2
    if p >= min(h, w):
        pytest.skip("reflection needs the pad smaller than the side")
    g = torch.Generator().manual_seed(h * 100 + w)
    x = torch.randn(2, 4, h, w, dtype=torch.float64, generator=g, requires_grad=True)
    wt = torch.randn(5, 4, k, k, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, generator=g)
    ref = F.conv2d(F.pad(x, (p,) * 4, mode="reflect"), wt, b, stride)
    out = reflect_conv(x, wt, b, stride, p)
    torch.testing.assert_close(out, ref)
    up = torch.randn(ref.shape, dtype=torch.float64, generator=g)
    torch.testing.assert_close(torch.autograd.grad((out * up).sum(), (x, wt)),
                               torch.autograd.grad((ref * up).sum(), (x, wt)))


def test_networks_paint_the_same_without_padded_copies(monkeypatch, precision):
    """In both arithmetics (bfloat16 emulated where the CPU has no instructions for it)."""
    from painterly.network import transform

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    x = torch.rand(1, 3, 40, 56).to(dtype).contiguous(memory_format=torch.channels_last)
    for arch in (Arch(8, 1, 2), Arch(4, 1, 3, "blur")):
        net = TransformNet(arch).eval().to(dtype, memory_format=torch.channels_last)
        with torch.inference_mode():
            monkeypatch.setattr(transform, "STRIP_MIN_PIXELS", 1 << 30)  # every map padded
            padded = net(x).float()
            monkeypatch.setattr(transform, "STRIP_MIN_PIXELS", 0)  # no map padded
            tol = 1e-5 if dtype == torch.float32 else 2e-2
            torch.testing.assert_close(net(x).float(), padded, atol=tol, rtol=tol)


@pytest.mark.parametrize("arch", [Arch(8, 1, 2), Arch(4, 2, 3), Arch(6, 0, 1)])
@pytest.mark.parametrize("hw", [(37, 53), (16, 24), (8, 9)])
def test_networks_paint_in_phases_what_the_full_size_layers_paint(arch, hw, precision):
    """Painting a stride/nearest network holds its full-size maps as phase maps on the
    half-size grid (painterly.network.phases): the output is that of the full-size layers
    (the plain-layout input takes them) up to rounding, on odd sizes (padded to the
    stride) and the smallest; in bfloat16 it is no further from float32 than theirs."""
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():  # the same network every run (the caller's RNG untouched)
        torch.manual_seed(0)
        net = TransformNet(arch).eval()
    with torch.no_grad():
        for p in net.parameters():  # norms that scale and shift: their repeats are checked
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    x = torch.rand(1, 3, *hw, generator=g)
    cl = torch.channels_last
    with torch.no_grad():
        exact = net(x)
        if precision == "fp32":  # float32 paints the full-size layers: the phases asked for
            net = net.to(memory_format=cl)
            xp = F.pad(x, (0, pad_to(hw[1], arch.downs) - hw[1], 0,
                           pad_to(hw[0], arch.downs) - hw[0]), mode="replicate")
            phased = net._layers_in_phases(xp.contiguous(memory_format=cl))
            torch.testing.assert_close(phased, net.layers(xp), atol=1e-4, rtol=1e-4)
            return
        net = net.to(torch.bfloat16, memory_format=cl)
        x = x.bfloat16()
        assert net._in_phases(x.contiguous(memory_format=cl)) and not net._in_phases(x)
        full = (net(x.contiguous()).float() - exact).abs().mean()
        phased = (net(x.contiguous(memory_format=cl)).float() - exact).abs().mean()
    assert phased < 1.5 * full + 2e-3, (phased, full)  # a wrong phase or dtype: 0.1 and up


@pytest.mark.parametrize("hw", [(2, 3), (5, 4), (6, 9)])
def test_phase_convolutions_without_padded_copies_are_the_padded_ones(hw):
    from painterly.network import phases
    from painterly.network.transform import reflect_conv

    g = torch.Generator().manual_seed(1)
    z = torch.randn(1, 8, *hw, dtype=torch.float64, generator=g)
    k3, k2 = (torch.randn(5, 8, k, k, dtype=torch.float64, generator=g) for k in (3, 2))
    b = torch.randn(5, dtype=torch.float64, generator=g)
    torch.testing.assert_close(reflect_conv(z, k3, b, 1, 1, "replicate"),
                               F.conv2d(F.pad(z, (1,) * 4, mode="replicate"), k3, b))
    torch.testing.assert_close(phases.down_conv(z, k2),
                               F.conv2d(F.pad(z, (1, 0, 1, 0), mode="replicate"), k2))


def test_flat_photos_and_crops_are_not_trained_on(tmp_path, capsys):
    """A crop of one flat colour leaves every map of the network constant, and each instance
    norm multiplies the gradient by about 300: the weights became NaN at the first step."""
    from painterly.training import Crops, _flat

    d = tmp_path / "photos"
    d.mkdir()
    save_png(np.full((40, 48, 3), 0.98, np.float32), d / "white.png")  # all flat
    half = gradient_image(48, 40)
    half[:, :30] = 1.0  # a wide white border: most crops there would be flat
    save_png(half, d / "border.png")
    files = sorted(d.iterdir())
    crops = Crops(files, 48, 16, seed=0)
    got = [crops[i % 2] for i in range(12)]
    assert not any(_flat((c * 255).round().to(torch.uint8)) for c in got)
    assert "white.png: one flat colour" in capsys.readouterr().err
    assert torch.equal(crops[1], crops[1])  # still a function of (seed, epoch, item)


def test_an_infinite_gradient_stops_training_before_the_update(tmp_path, photos, style, tiny,
                                                               monkeypatch):
    """A finite loss with an infinite gradient: the update would have made the weights NaN
    and the model written at the stop carried them."""
    out = tmp_path / "m.safetensors"
    calls = []

    class Blowup(torch.autograd.Function):  # from the second step on
        @staticmethod
        def forward(ctx, x):  # noqa: ANN001, ANN205
            return x.clone()

        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            calls.append(1)
            return g * float("inf") if len(calls) > 1 else g

    real_forward = TransformNet.forward
    monkeypatch.setattr(TransformNet, "forward", lambda self, x: Blowup.apply(
        real_forward(self, x)) if torch.is_grad_enabled() else real_forward(self, x))
    with pytest.raises(PainterlyError, match="gradients are not finite.*of the 1 step done"):
        train(str(style), str(photos), str(out), make(TrainOptions, steps=3, batch=2, **TINY),
              Runtime(weights=tiny, device="cpu"), quiet=True)
    monkeypatch.undo()
    net = Network.load(out, "cpu")  # written with the weights of before the update
    assert all(torch.isfinite(p).all() for p in net.net.parameters())


@pytest.mark.parametrize("command", ["train", "train-fast"])
def test_too_few_photos_for_the_held_out_ones_says_what_to_do(command, tmp_path, style, capsys,
                                                               monkeypatch, tiny):
    """Two photos and the default --holdout said only that none were left ('--holdout: 4
    of 2 photos held out leaves none to train on'), not what to change."""
    from painterly.cli import main

    monkeypatch.setenv("PAINTERLY_WEIGHTS", tiny)
    photos = photo_folder(tmp_path, 2)
    args = [command, *([str(style)] if command == "train" else []), "--photos", str(photos),
            "-o", str(tmp_path / "m.safetensors"), "--steps", "1", "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "add photos or lower --holdout" in err, err
    assert not (tmp_path / "m.safetensors").exists()


def test_init_from_starts_from_another_paintings_network(tmp_path, photos, style, tiny,
                                                         precision):
    # a network of one painting is where a run for another starts (--init-from): its
    # weights, not random ones, and the new model names where it came from
    start = tiny_model(tmp_path / "start.safetensors", seed=3)
    out = tmp_path / "m.safetensors"
    topts = make(TrainOptions, steps=1, batch=2, lr=1e-7, **{**TINY, "precision": precision})
    train(str(style), str(photos), str(out), topts, Runtime(weights=tiny, device="cpu"),
          quiet=True, init_from=str(start))
    got, began = load_model(out), load_model(start)
    for k, v in began.state.items():  # one step at lr 1e-7 moves nothing visible
        torch.testing.assert_close(got.state[k], v, atol=1e-4, rtol=1e-4)
    lineage = got.meta["init_from"]
    assert lineage["file"] == "start.safetensors" and lineage["style"] == "s.png"
    assert lineage["steps"] == 0 and len(lineage["sha256"]) == 64
    fresh = tmp_path / "fresh.safetensors"  # without it: the seed's random weights
    train(str(style), str(photos), str(fresh), topts, Runtime(weights=tiny, device="cpu"),
          quiet=True)
    w = next(k for k, v in began.state.items() if v.ndim == 4)  # a convolution's weights
    assert not torch.allclose(load_model(fresh).state[w], began.state[w], atol=1e-3)
    assert "init_from" not in load_model(fresh).meta


def test_init_from_refuses_another_layout_resume_and_its_own_file(tmp_path, photos, style,
                                                                  tiny, cli_env):
    start = tiny_model(tmp_path / "start.safetensors")  # width 4, 1 block, 2 halvings
    rt = Runtime(weights=tiny, device="cpu")
    wider = make(TrainOptions, steps=1, batch=2, **{**TINY, "width": 8})
    with pytest.raises(UsageError, match=r"--init-from .*start.safetensors: its network is "
                                         r"width 4, 1 block, 2 halvings .*this run's width 8"):
        train(str(style), str(photos), str(tmp_path / "m.safetensors"), wider, rt, quiet=True,
              init_from=str(start))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    base = ["train", style, "--photos", photos, "--steps", "1", "--batch", "2", *flags]
    for extra, said in [(["-o", tmp_path / "m.safetensors", "--init-from", start, "--resume"],
                         "--init-from starts a new run; --resume continues one"),
                        (["-o", start, "--init-from", start, "--overwrite"], "start.safetensors"),
                        (["-o", tmp_path / "m.safetensors", "--init-from",
                          tmp_path / "none.safetensors"], "--init-from ")]:
        r = run_cli([*base, *extra], cli_env)
        assert r.returncode == 2 and said in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert load_model(start).meta["steps"] == 0  # the start is never written over
