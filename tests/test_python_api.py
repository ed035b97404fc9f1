"""The Python API as a library: it leaves the caller's torch state alone (random numbers)
and works whatever that state is, on tiny generated pictures."""

from __future__ import annotations

import pytest
import torch

import painterly
from painterly.network.transform import Arch, TransformNet

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
