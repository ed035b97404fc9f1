"""``painterly export``: the ONNX graph of a style network gives ``Network.run``'s result in
onnxruntime at any size and batch, carries the model's description, and bad input leaves
nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly.errors import PainterlyError, UsageError
from painterly.network.export import INPUT, OUTPUT, PaddedGraph, export_onnx
from painterly.network.modelfile import load_model
from painterly.network.network import Network, check_onnxruntime
from painterly.network.transform import Arch, TransformNet
from painterly.version import __version__

from .conftest import ROOT, run_cli
from .test_nets import tiny_model

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny model (stride 4) and its graph, written by the command line."""
    d = tmp_path_factory.mktemp("onnx")
    model = tiny_model(d / "m.safetensors", seed=3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = run_cli(["export", model, "-o", d / "m.onnx"], env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == f"wrote {d / 'm.onnx'}"
    return model, d / "m.onnx"


@pytest.mark.parametrize("shape", [(2, 3, 32, 48), (2, 3, 37, 51), (1, 3, 5, 3), (1, 3, 1, 9)],
                         ids=["on-stride", "off-stride", "small-edge-repeated", "one-row"])
def test_the_graph_gives_network_run_at_any_size_and_batch(exported, shape):
    model, graph = exported
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    net = Network.load(model, "cpu", "fp32", runtime="torch")
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    y = session.run([OUTPUT], {INPUT: x.numpy()})[0]
    want = net.run(x)
    assert y.shape == tuple(shape) and y.dtype == "float32"
    assert 0 <= y.min() and y.max() <= 1
    torch.testing.assert_close(torch.from_numpy(y), want, atol=1e-4, rtol=0)


def test_the_graph_declares_dynamic_batch_height_and_width(exported):
    _, graph = exported
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    for io in (session.get_inputs()[0], session.get_outputs()[0]):
        assert io.type == "tensor(float)" and io.shape == ["N", 3, "H", "W"]
    assert [i.name for i in session.get_inputs()] == [INPUT]
    assert [o.name for o in session.get_outputs()] == [OUTPUT]


def test_the_model_description_travels_as_metadata(exported):
    model, graph = exported
    props = {p.key: p.value for p in onnx.load(str(graph)).metadata_props}
    mf = load_model(model)
    assert json.loads(props["painterly"]) == mf.meta
    assert props["style"] == "s.png" and props["steps"] == "0"
    assert props["painterly_version"] == __version__ and props["stride"] == "4"
    assert props["network"] == "width 4, blocks 1, downs 2, down stride, up nearest"
    assert props["input"].startswith(f"{INPUT}: float32 N x 3 x H x W, RGB in 0..1")
    assert props["output"].startswith(f"{OUTPUT}: float32 N x 3 x H x W, RGB in 0..1")


@pytest.mark.parametrize("downs", [1, 3])
def test_the_padding_in_the_graph_is_the_networks(downs):
    """Eagerly, the shape arithmetic equals TransformNet's own padding (reflection, and the
    edge repeated where the picture is too small), whatever the stride."""
    torch.manual_seed(downs)
    net = TransformNet(Arch(4, 1, downs)).eval()
    graph = PaddedGraph(net)
    with torch.no_grad():
        for h, w in [(1, 1), (3, 17), (2 ** downs * 2, 9), (19, 2 ** downs * 3 + 1)]:
            x = torch.rand(1, 3, h, w)
            torch.testing.assert_close(graph(x), net(x).clamp(0, 1), atol=0, rtol=0)


def test_a_bad_model_file_exits_2_with_one_line_and_writes_nothing(tmp_path, cli_env):
    d = tmp_path / "work"
    d.mkdir()
    bad = d / "bad.safetensors"
    bad.write_bytes(tiny_model(d / "m.safetensors").read_bytes()[:100])
    r = run_cli(["export", bad, "-o", d / "out.onnx"], cli_env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("painterly: error:") and "truncated" in lines[0], r.stderr
    assert sorted(p.name for p in d.iterdir()) == ["bad.safetensors", "m.safetensors"]


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    model = tiny_model(tmp_path / "m.safetensors")
    (tmp_path / "dir.onnx").mkdir()
    named = shutil.copy(model, tmp_path / "model.onnx")  # a model file named like the output
    cases = {
        "missing model": (tmp_path / "none.safetensors", tmp_path / "out.onnx"),
        "no folder": (model, tmp_path / "none" / "out.onnx"),
        "a folder": (model, tmp_path / "dir.onnx"),
        "not .onnx": (model, tmp_path / "out.png"),
        "the model itself": (named, named),
    }
    for name, (src, out) in cases.items():
        with pytest.raises(PainterlyError) as e:
            export_onnx(src, out)
        assert "\n" not in str(e.value), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.onnx", "m.safetensors",
                                                         "model.onnx"]
    assert load_model(named).meta == load_model(model).meta  # not overwritten


def test_without_onnx_export_says_how_to_install_it(tmp_path, monkeypatch):
    model = tiny_model(tmp_path / "m.safetensors")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    with pytest.raises(PainterlyError, match=r"pip install 'painterly\[onnx\]'") as e:
        export_onnx(model, tmp_path / "out.onnx")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out.onnx").exists()


# --- Network with --runtime onnxruntime -------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 3, 32, 48), (2, 3, 37, 51)], ids=["batch", "off-stride"])
def test_the_onnxruntime_runtime_gives_torchs_float32_result(exported, shape):
    model, _ = exported
    ort_net = Network.load(model, "cpu", "fp32", "onnxruntime")
    torch_net = Network.load(model, "cpu", "fp32", "torch")
    assert (ort_net.runtime, torch_net.runtime) == ("onnxruntime", "torch")
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    y = ort_net.run(x)
    assert y.dtype == torch.float32 and y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    torch.testing.assert_close(y, torch_net.run(x), atol=1e-4, rtol=0)
    for ox, oy in [(1, 2), (3, 0), (0, 0)]:  # the placements on the grid GridLocked uses
        torch.testing.assert_close(ort_net.run_at(x, ox, oy), torch_net.run_at(x, ox, oy),
                                   atol=1e-4, rtol=0)
    assert not torch.equal(ort_net.run_at(x, 1, 2), y)  # a new phase on the grid


def test_auto_runs_float32_in_onnxruntime_and_bfloat16_in_torch(exported, monkeypatch):
    model, _ = exported
    picked = {p: Network.load(model, "cpu", p) for p in ("fp32", "bf16")}
    assert (picked["fp32"].runtime, picked["bf16"].runtime) == ("onnxruntime", "torch")
    assert Network.load(model, "cpu", "fp32", "torch").runtime == "torch"
    net = Network.load(model, "cpu", "auto", "onnxruntime")  # auto precision: float32
    assert (net.runtime, net.precision, net.dtype) == ("onnxruntime", "fp32", torch.float32)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    assert Network.load(model, "cpu", "fp32").runtime == "torch"
    with pytest.raises(UsageError, match=r"pip install 'painterly\[onnx\]'") as e:
        Network.load(model, "cpu", "fp32", "onnxruntime")
    assert "\n" not in str(e.value)


def test_onnxruntime_refuses_bfloat16_and_gpus_in_one_line():
    for device, precision, words in [("cpu", "bf16", "float32 only"), ("cuda", "fp32", "CPU"),
                                     ("cuda:1", "auto", "CPU")]:
        with pytest.raises(UsageError, match=words) as e:
            check_onnxruntime(torch.device(device), precision)
        assert "\n" not in str(e.value)
    check_onnxruntime(torch.device("cpu"), "fp32")
    check_onnxruntime(torch.device("cpu"), "auto")


def test_apply_with_the_onnxruntime_runtime(tmp_path, exported, cli_env):
    from PIL import Image

    from .conftest import gradient_image, save_png

    model, _ = exported
    photo = save_png(gradient_image(44, 36), tmp_path / "photo.png")
    outs = {}
    for runtime in ("onnxruntime", "torch"):
        out = tmp_path / f"{runtime}.png"
        r = run_cli(["apply", model, photo, "-o", out, "--precision", "fp32", "--runtime",
                     runtime], cli_env)
        assert r.returncode == 0, r.stderr
        assert f"({runtime}, fp32)" in r.stderr, r.stderr
        outs[runtime] = np.asarray(Image.open(out), dtype=np.int16)
    assert outs["torch"].shape == (36, 44, 3)
    assert np.abs(outs["onnxruntime"] - outs["torch"]).max() <= 1
    for extra, words in [(["--precision", "bf16"], "float32 only"),
                         (["--runtime", "tensorrt"], "is not one of")]:
        r = run_cli(["apply", model, photo, "-o", tmp_path / "bad.png", "--runtime",
                     "onnxruntime", *extra], cli_env)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and words in lines[0], (extra, r.stderr)
    assert not (tmp_path / "bad.png").exists()
