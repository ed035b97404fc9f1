"""The seam for ways of stylizing: the registry, model files naming their kind, and the
methods of the rooms meeting the contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save

from painterly import cli, methods
from painterly.config import Options, Runtime
from painterly.errors import UsageError
from painterly.images import load_image
from painterly.network import modelfile
from painterly.network.options import ApplyOptions
from painterly.optimise.stylizer import Stylizer

from .conftest import gradient_image, save_png
from .test_nets import tiny_model


def old_model(path) -> str:
    """A model file as written before files named their kind (no ``kind``)."""
    mf = modelfile.load_model(tiny_model(path.with_suffix(".new.safetensors")))
    meta = {k: v for k, v in mf.meta.items() if k != "kind"}
    tensors = {f"net.{k}": v.float().contiguous() for k, v in mf.state.items()}
    text = json.dumps(meta, sort_keys=True)
    path.write_bytes(save(tensors, metadata={"painterly": text,
                                             "sha256": modelfile._digest(text, tensors)}))
    return str(path)


def test_model_files_name_their_kind_and_old_ones_still_load(tmp_path):
    new = tiny_model(tmp_path / "new.safetensors")
    old = old_model(tmp_path / "old.safetensors")
    assert modelfile.load_model(new).meta["kind"] == "network"
    assert "kind" not in modelfile.load_model(old).meta
    assert methods.model_kind(new) == methods.model_kind(old) == "network"
    photo = load_image(gradient_image(30, 20))
    a = methods.for_model(new, Runtime(device="cpu"), opts=ApplyOptions(precision="fp32"))
    b = methods.for_model(old, Runtime(device="cpu"), opts=ApplyOptions(precision="fp32"))
    assert a.kind == "network"
    same = [np.asarray(m.picture(photo, [], ApplyOptions())) for m in (a, b)]
    assert same[0].shape == (20, 30, 3) and np.array_equal(same[0], same[1])


def test_an_unknown_kind_is_one_clear_line(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(save({"x": torch.zeros(1)}, metadata={"painterly": '{"kind": "cubist"}'}))
    with pytest.raises(UsageError, match="'cubist'"):
        methods.for_model(path)


def test_a_network_takes_no_styles_and_batches_like_one_at_a_time(tmp_path):
    m = methods.for_model(tiny_model(tmp_path / "m.safetensors"), Runtime(device="cpu"),
                          opts=ApplyOptions(precision="fp32"))
    photos = [load_image(gradient_image(24, 16, seed=i)) for i in range(3)]
    with pytest.raises(UsageError, match="no style images"):
        m.picture(photos[0], [photos[1]], ApplyOptions())
    together = methods.pictures(m, photos, ApplyOptions(batch=3))
    alone = [m.picture(p, [], ApplyOptions()) for p in photos]
    for x, y in zip(together, alone):
        assert np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max() <= 1
    frame = torch.rand(1, 3, 16, 24)
    assert m.frames([], ApplyOptions())(frame).shape == frame.shape


def test_the_optimise_room_makes_the_stylizer():
    m = methods.for_options(Options(), Runtime(device="cpu"))
    assert isinstance(m, Stylizer) and m.kind == "optimise"
    assert Stylizer.run is Stylizer.picture  # the name of earlier versions still works
    with pytest.raises(UsageError, match="known: fast, network, optimise"):
        methods.room("cubist")


def test_a_registered_room_reaches_the_callers(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(methods.ROOMS, "toy", "tests.toy_room")
    model = tmp_path / "toy.safetensors"
    model.write_bytes(save({"x": torch.zeros(1)}, metadata={"painterly": '{"kind": "toy"}'}))
    photo = save_png(gradient_image(20, 12), tmp_path / "p.png")
    out = tmp_path / "out.png"
    assert cli.main(["apply", str(model), str(photo), "-o", str(out), "-q"]) == 0
    got = np.asarray(Image.open(out).convert("RGB"), np.int16)
    want = 255 - np.asarray(Image.open(photo).convert("RGB"), np.int16)
    assert np.abs(got - want).max() <= 1
