"""Presets of the style network (``painterly train --preset quality|fast``), its layouts
(``down``: stride | blur, ``up``: nearest | bilinear) and model files older than them:
each preset trains, writes its layout, applies (images, a clip) and exports; old files load
as they did; the blur keeps a flat picture flat; flags given change the preset's layout."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly.cli import build_parser
from painterly.config import Runtime, from_args, make
from painterly.errors import UsageError
from painterly.network.modelfile import FORMAT, FORMAT_VERSION, _digest, load_model
from painterly.network.network import Network
from painterly.network.options import CLIP_BLEND, TrainOptions
from painterly.network.train import checkpoint_path, train
from painterly.network.transform import Arch, Blur, TransformNet

from .conftest import ROOT, gradient_image, run_cli, save_png, stripes_image

TINY = dict(steps=2, batch=2, crop=32, photo_size=40, blocks=1, downs=2, holdout=1,
            precision="fp32", preview_every=0, checkpoint_every=0)
# what each training below asks for, and the layout it must build
RUNS = {"quality": ({"preset": "quality"}, Arch(16, 1, 2, "stride", "nearest")),
        "fast": ({"preset": "fast"}, Arch(8, 1, 2, "stride", "nearest")),
        "quality-blur": ({"preset": "quality", "down": "blur"},  # the quality layout before
                         Arch(16, 1, 2, "blur", "nearest")),
        "fast-bilinear": ({"preset": "fast", "width": 4, "up": "bilinear"},
                          Arch(4, 1, 2, "stride", "bilinear"))}
OLD = ROOT / "tests" / "data" / "net_v1.safetensors"  # written before down/up existed


def _inputs(d: Path) -> tuple[Path, Path]:
    photos = d / "photos"
    photos.mkdir()
    for i in range(3):
        save_png(gradient_image(48, 40, seed=i), photos / f"p{i}.png")
    return photos, save_png(stripes_image(), d / "style.png")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_weights) -> dict[str, Path]:
    """A model file of each run of RUNS, 2 steps on tiny photos with the tiny VGG."""
    d = tmp_path_factory.mktemp("presets")
    photos, style = _inputs(d)
    out = {}
    for name, (given, _) in RUNS.items():
        out[name] = d / f"{name}.safetensors"
        topts = make(TrainOptions, **TINY, **given)
        done = train(str(style), str(photos), str(out[name]), topts,
                     Runtime(weights=str(tiny_weights), device="cpu"), quiet=True)
        assert done.steps == 2 and not done.interrupted
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_each_preset_writes_its_layout_and_its_name(trained, name):
    mf = load_model(trained[name])
    given, want = RUNS[name]
    assert mf.arch == want and mf.meta["steps"] == 2
    assert mf.meta["arch"]["down"] == want.down and mf.meta["arch"]["up"] == want.up
    assert mf.meta["preset"] == given["preset"]
    training = mf.meta["training"]  # the layout as built, whatever the preset said
    assert (training["width"], training["down"], training["up"]) == (want.width, want.down,
                                                                      want.up)
    assert training["style_weight"] == {"quality": 80.0, "fast": 40.0}[given["preset"]]


@pytest.mark.parametrize("name", list(RUNS))
def test_each_preset_applies_in_both_arithmetics(trained, name, precision):
    net = Network.load(trained[name], "cpu", precision, runtime="torch")
    x = torch.from_numpy(gradient_image(37, 29, seed=5)).permute(2, 0, 1)[None]
    y = net.run(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and float(y.std()) > 0
    if precision == "bf16":  # bfloat16 follows float32
        ref = Network.load(trained[name], "cpu", "fp32", runtime="torch").run(x)
        assert float((y - ref).abs().mean()) < 0.02


@pytest.mark.parametrize("name", ["quality", "fast"])
def test_each_preset_applies_to_an_image_and_a_clip(trained, name, tmp_path, cli_env):
    pytest.importorskip("av")
    from painterly import video

    from .video_clips import make_clip

    photo = save_png(gradient_image(40, 30, seed=9), tmp_path / "photo.png")
    clip = make_clip(tmp_path / "in.mp4", n=3, rate=8, audio=False)
    for src, out in ((photo, tmp_path / "out.png"), (clip, tmp_path / "out.mp4")):
        r = run_cli(["apply", trained[name], src, "-o", out, "--size", "32", "-q"], cli_env)
        assert r.returncode == 0, r.stderr
    got = video.probe(tmp_path / "out.mp4")
    assert (got.frames, got.upright_size) == (3, (32, 24))


@pytest.mark.parametrize("name", list(RUNS))
def test_each_preset_exports_a_graph_with_torchs_result(trained, name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from painterly.network.export import INPUT, OUTPUT, export_onnx

    graph = export_onnx(trained[name], tmp_path / "m.onnx")
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    net = Network.load(trained[name], "cpu", "fp32", runtime="torch")
    for shape in ((2, 3, 32, 48), (1, 3, 37, 51), (1, 3, 5, 3)):
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
        y = session.run([OUTPUT], {INPUT: x.numpy()})[0]
        assert y.shape == shape
        torch.testing.assert_close(torch.from_numpy(y), net.run(x), atol=1e-4, rtol=0)


# --- files older than the layouts -----------------------------------------------------------

def _arch_in_header(path: Path) -> dict:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(json.loads(data[8:8 + n])["__metadata__"]["painterly"])["arch"]


def test_an_old_file_loads_as_stride_and_nearest_with_the_same_pixels():
    assert set(_arch_in_header(OLD)) == {"kind", "width", "blocks", "downs"}
    mf = load_model(OLD)
    assert mf.arch == Arch(4, 1, 2, "stride", "nearest") and "preset" not in mf.meta
    saved = np.load(ROOT / "tests" / "data" / "net_v1_out.npz")  # its output, written then
    x, want = torch.from_numpy(saved["x"]), torch.from_numpy(saved["y"])
    with torch.no_grad():
        torch.testing.assert_close(mf.network()(x), want, atol=1e-5, rtol=0)  # sums reordered
    y = Network.load(OLD, "cpu", "fp32", runtime="torch").run(x)  # channels-last kernels
    torch.testing.assert_close(y, want.clamp(0, 1), atol=1e-4, rtol=0)


def _first_version_file(path: Path, bias_shape: int | None = None, opt: bool = False
                        ) -> TransformNet:
    """A model file as painterly's first version wrote it: a bias in every convolution (the
    ones before instance norm too) and no down/up; returns the network without them."""
    from safetensors.torch import save

    torch.manual_seed(0)
    a = Arch(4, 1, 2)
    net = TransformNet(a).eval()
    tensors = {}
    for k, v in net.state_dict().items():
        tensors[f"net.{k}"] = (v + 0.1 * torch.randn_like(v)).float()
        if k.endswith(".weight") and v.dim() == 4 and k[:-7] + ".bias" not in net.state_dict():
            tensors[f"net.{k[:-7]}.bias"] = torch.randn(bias_shape or v.shape[0])
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k[4:] in net.state_dict()})
    if opt:  # a checkpoint: Adam's state of each parameter, by position
        for i, v in enumerate(t for k, t in sorted(tensors.items())):
            tensors[f"opt.{i}.exp_avg"] = torch.zeros_like(v)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "steps": 3,
            "arch": {"kind": "johnson-in", "width": 4, "blocks": 1, "downs": 2},
            "style": {"name": "s.png"}}
    text = json.dumps(meta, sort_keys=True)
    path.write_bytes(save(tensors, metadata={"painterly": text,
                                             "sha256": _digest(text, tensors)}))
    return net


def test_a_file_of_the_first_version_with_biases_before_the_norm_loads(tmp_path):
    """Those files were refused: "the tensors do not fit a 4-wide network (unexpected
    'down.0.0.bias')".  Instance norm takes every channel's mean away, so the biases before
    it change nothing: the file paints as the network without them."""
    from painterly.network.modelfile import ModelError

    path = tmp_path / "first.safetensors"
    net = _first_version_file(path)
    mf = load_model(path)
    assert set(mf.state) == set(net.state_dict())
    x = torch.rand(2, 3, 29, 35, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(x).clamp(0, 1)
    y = Network.load(path, "cpu", "fp32", runtime="torch").run(x)
    torch.testing.assert_close(y, want, atol=1e-5, rtol=0)
    _first_version_file(path, bias_shape=5)  # a bias that fits no convolution: refused
    with pytest.raises(ModelError, match="unexpected"):
        load_model(path)
    # its checkpoint: the Adam state, kept by the parameters' positions, fits no more
    _first_version_file(path, opt=True)
    with pytest.raises(ModelError, match="first version .* train afresh"):
        load_model(path)


def _old_checkpoint(path: Path, width: int = 4) -> None:
    """A checkpoint as painterly wrote it before presets: no down/up in the arch nor in the
    options (nor a preset), one step done."""
    from safetensors.torch import save

    torch.manual_seed(0)
    tensors = {f"net.{k}": v.float() for k, v in TransformNet(Arch(width, 1, 2)).state_dict()
               .items()}
    training = {k: v for k, v in dataclasses.asdict(make(TrainOptions, **TINY, width=width)).items()
                if k not in ("preset", "down", "up")}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "steps": 1,
            "arch": {"kind": "johnson-in", "width": width, "blocks": 1, "downs": 2},
            "training": training}
    text = json.dumps(meta, sort_keys=True)
    path.write_bytes(save(tensors, metadata={"painterly": text,
                                             "sha256": _digest(text, tensors)}))


def test_an_old_checkpoint_resumes_as_stride_and_nearest(tmp_path, tiny_weights):
    photos, style = _inputs(tmp_path)
    out = tmp_path / "m.safetensors"
    _old_checkpoint(checkpoint_path(out))
    done = train(str(style), str(photos), str(out), make(TrainOptions, **TINY),
                 Runtime(weights=str(tiny_weights), device="cpu"), resume=True, quiet=True,
                 steps_given=False)
    mf = load_model(out)
    assert done.steps == 2 and mf.arch == Arch(4, 1, 2, "stride", "nearest")


# --- the blur --------------------------------------------------------------------------------

@pytest.mark.parametrize("hw", [(8, 8), (10, 14), (2, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_blur_keeps_a_flat_picture_flat_to_its_borders(hw, dtype):
    levels = torch.tensor([0.1, 0.5, 0.9, 2.0, -1.0])[None, :, None, None]
    x = levels.expand(2, 5, *hw).to(dtype)
    y = Blur(5).to(dtype)(x.contiguous(memory_format=torch.channels_last))
    assert y.shape == (2, 5, hw[0] // 2, hw[1] // 2) and y.dtype == dtype
    torch.testing.assert_close(y.float(), levels.to(dtype).expand_as(y).float(), atol=1e-6,
                               rtol=0)


def test_the_blur_is_no_parameter_of_the_file():
    stride, blur = TransformNet(Arch(4, 1, 2)), TransformNet(Arch(4, 1, 2, "blur", "bilinear"))
    assert set(blur.state_dict()) == set(stride.state_dict())
    assert sum(p.numel() for p in blur.parameters()) == sum(p.numel()
                                                            for p in stride.parameters())


# --- flags over the preset ---------------------------------------------------------------------

@pytest.mark.parametrize("flags, want", [
    ([], Arch(16, 10, 2, "stride", "nearest")),
    (["--preset", "fast"], Arch(8, 5, 3, "stride", "nearest")),
    (["--width", "32"], Arch(32, 10, 2, "stride", "nearest")),
    (["--blocks", "3"], Arch(16, 3, 2, "stride", "nearest")),
    (["--preset", "fast", "--blocks", "7"], Arch(8, 7, 3, "stride", "nearest")),
    (["--preset", "fast", "--down", "blur", "--up", "bilinear"], Arch(8, 5, 3, "blur",
                                                                      "bilinear")),
    (["--down", "blur", "--blocks", "5"], Arch(16, 5, 2, "blur", "nearest")),  # quality before
    (["--down", "stride", "--downs", "3", "--blocks", "5"], Arch(16, 5, 3, "stride",
                                                                 "nearest")),  # before presets
    (["--preset", "fast", "--width", "12", "--downs", "2"], Arch(12, 5, 2, "stride",
                                                                "nearest")),
])
def test_flags_given_change_the_presets_layout(flags, want):
    args = build_parser().parse_args(["train", "s.png", "-o", "m.safetensors", *flags])
    topts = from_args(TrainOptions, args)
    assert topts.arch() == want
    assert topts.preset == ("fast" if "fast" in flags else "quality")


@pytest.mark.parametrize("flags, want", [([], 80.0), (["--preset", "fast"], 40.0),
                                         (["--style-weight", "25"], 25.0),
                                         (["--preset", "fast", "--style-weight", "60"], 60.0)])
def test_the_style_weight_is_the_presets_unless_given(flags, want):
    args = build_parser().parse_args(["train", "s.png", "-o", "m.safetensors", *flags])
    topts = from_args(TrainOptions, args)
    assert topts.style_strength() == want and topts.loss_options().style_weight == want


@pytest.mark.parametrize("bad, words", [({"width": 2}, "--width: 2 is below the minimum 4"),
                                        ({"down": "sideways"}, "--down"),
                                        ({"up": "bicubic"}, "--up"),
                                        ({"preset": "best"}, "--preset")])
def test_bad_layout_options_are_one_line(bad, words):
    with pytest.raises(UsageError, match=words):
        make(TrainOptions, **bad)


def test_clips_lock_the_grid_of_either_preset():
    """Clips keep every network on the camera's grid (blending without the lock carried the
    strokes away at 854x480: docs/video.md), blended along the flow at the default blend."""
    from painterly.network.method import NetworkMethod
    from painterly.network.modelfile import ModelFile
    from painterly.network.options import ApplyOptions

    for preset in ("quality", "fast"):
        arch = dataclasses.replace(TrainOptions(preset=preset).arch(), width=4, blocks=1)
        net = Network(ModelFile(arch, TransformNet(arch).state_dict(), {}), "cpu", "fp32")
        fn = NetworkMethod(net).frames([], make(ApplyOptions))
        assert fn.camera is not None and fn.strength == CLIP_BLEND, preset
