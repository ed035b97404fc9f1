"""Loss-curve plots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from painterly import weights
from painterly.plot import plot_losses, scale_starts


def _rows() -> list[dict]:
    rows = []
    for step in range(1, 31):
        scale = 1 if step <= 15 else 2
        side = 40 if scale == 1 else 80
        rows.append({"step": step, "scale": scale, "height": side, "width": side,
                     "content": 0.0 if step == 1 else 0.1 * step, "style": 100.0 / step,
                     "tv": 1e-3, "total": 0.1 * step + 100.0 / step + 1e-3, "elapsed": step})
    return rows


def test_scale_boundaries():
    starts = scale_starts(_rows())
    assert [s for s, _ in starts] == [16]


def test_plot_writes_a_png(tmp_path):
    p = plot_losses(_rows(), tmp_path / "losses.png")
    im = Image.open(p)
    assert im.format == "PNG" and im.size == (800, 450)


def test_plot_is_written_as_its_name_says(tmp_path):
    assert plot_losses(_rows(), tmp_path / "l.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert plot_losses(_rows(), tmp_path / "l.PDF").read_bytes().startswith(b"%PDF")


def test_plot_of_no_rows(tmp_path):
    assert plot_losses([], tmp_path / "empty.png").exists()


def test_cli_plot_with_two_scales(tmp_path):
    weights.save_weights(weights.random_weights(width=1 / 16, seed=0), tmp_path / "w.pt")
    rng = np.random.default_rng(0)
    for name, shape in (("c.png", (24, 32, 3)), ("s.png", (24, 24, 3))):
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(tmp_path / name)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    r = subprocess.run([sys.executable, "-m", "painterly", "stylize", "c.png", "s.png", "-o",
                        "o.png", "--weights", "w.pt", "--size", "32", "--scales", "2",
                        "--steps", "2", "-q", "--plot", "losses.png"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "losses.png").size == (800, 450)
