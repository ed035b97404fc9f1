"""Shared fixtures: a tiny random VGG, small generated images, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly import weights

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A VGG-19 with 1/16 of the channels and random weights: fast, real shapes chain."""
    p = tmp_path_factory.mktemp("weights") / "tiny-vgg19.pt"
    weights.save_weights(weights.random_weights("vgg19", width=1 / 16, seed=0), p)
    return p


def gradient_image(w: int = 40, h: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y)], axis=-1)
    img = img + 0.05 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def stripes_image(w: int = 36, h: int = 36, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.arange(w)[None, :].repeat(h, 0)
    img = np.stack([(x // 3) % 2, 0.3 * np.ones_like(x), 1 - (x // 3) % 2], -1).astype(np.float32)
    return np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def save_png(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture()
def images(tmp_path) -> tuple[Path, Path]:
    return (save_png(gradient_image(), tmp_path / "content.png"),
            save_png(stripes_image(), tmp_path / "style.png"))


@pytest.fixture()
def cli_env(tmp_path, tiny_weights) -> dict:
    env = dict(os.environ)
    env.update({"PAINTERLY_WEIGHTS": str(tiny_weights), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                "PAINTERLY_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    return env


def run_cli(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "painterly", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(params=["fp32", "bf16"])
def precision(request) -> str:
    """Both arithmetics the network runs in, on any CPU: bfloat16 is emulated (slower, still
    correct) where the CPU has no bfloat16 instructions, so every machine tests both paths."""
    return request.param


@pytest.fixture()
def tiny(tiny_weights) -> str:
    """The tiny VGG's path as a string."""
    return str(tiny_weights)


def photo_folder(tmp_path: Path, n: int) -> Path:
    """A folder of ``n`` small generated photos to train on."""
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(n):
        save_png(gradient_image(48, 40, seed=i), d / f"p{i}.png")
    return d


@pytest.fixture()
def painted_by(monkeypatch) -> list[str]:
    """The kinds of the methods whose ``picture`` is called, in order (optimise, fast)."""
    from painterly.fast.method import FastMethod
    from painterly.optimise.stylizer import Stylizer

    called: list[str] = []
    for cls in (Stylizer, FastMethod):
        def record(self, *a, _real=cls.picture, **kw):
            called.append(self.kind)
            return _real(self, *a, **kw)

        monkeypatch.setattr(cls, "picture", record)
    return called
