"""Loss curves of a run (``painterly stylize --plot losses.png``).

One line per weighted loss term (content alpha L_c, style beta L_s, TV, and their total L)
against the global step, on a logarithmic y axis; dashed vertical lines mark where a new
coarse-to-fine scale starts (the losses jump there: the image was just upsampled, and
finer layers see new detail).  Drawn on a matplotlib Figure of its own (the Agg canvas, no
display, no pyplot state), so that importing this module changes nothing in matplotlib.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import UsageError
from .images import save_bytes

TERMS = (("total", "total", "black"), ("style", "style", "tab:red"),
         ("content", "content", "tab:blue"), ("tv", "total variation", "tab:green"))


def scale_starts(rows: Sequence[dict]) -> list[tuple[int, dict]]:
    """(step, row) of the first step of every scale after the first."""
    out = []
    for prev, row in zip(rows, rows[1:]):
        if row["scale"] != prev["scale"]:
            out.append((row["step"], row))
    return out


PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def plot_format(path: str | Path) -> str:
    """The format a plot is written in, from its name; UsageError for another name (it
    was written as PNG whatever the name said)."""
    ext = Path(path).suffix.lower()
    if ext not in PLOT_FORMATS:
        raise UsageError(f"--plot {path}: name a {', '.join(PLOT_FORMATS)} file")
    return PLOT_FORMATS[ext]


def plot_losses(rows: Sequence[dict], path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of the loss curves; ``rows`` as the CLI records them (step, scale,
    height, width, content, style, tv, total, ...).  Non-positive values are not drawn."""
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    steps = [r["step"] for r in rows]
    for key, label, colour in TERMS:
        ys = [float(r.get(key, 0.0)) for r in rows]
        ys = [y if y > 0 and math.isfinite(y) else math.nan for y in ys]
        if any(not math.isnan(y) for y in ys):
            ax.plot(steps, ys, label=label, color=colour, lw=1.6 if key == "total" else 1.2)
    ax.set_yscale("log")
    for step, row in scale_starts(rows):
        ax.axvline(step - 0.5, color="grey", ls="--", lw=0.9)
        ax.text(step - 0.5, 1.0, f" {row['width']}x{row['height']}",
                transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8,
                color="dimgrey")
    if rows:
        ax.text(steps[0], 1.0, f"{rows[0]['width']}x{rows[0]['height']}",
                transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize=8,
                color="dimgrey")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.set_title(title or "Losses per step (dashed: next coarse-to-fine scale)")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=9, framealpha=0.8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=plot_format(path))
    return save_bytes(buf.getvalue(), path)
