"""Loss-curve plots."""

from __future__ import annotations

from PIL import Image

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


def test_plot_of_no_rows(tmp_path):
    assert plot_losses([], tmp_path / "empty.png").exists()
