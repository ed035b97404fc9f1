"""The quality figure of a trained style network, measured at the end of training and kept
in its model file (``"quality"`` in the metadata), so that a weak network says so wherever
it is used (``painterly apply``, the studio's list of networks).

The network paints the held-out photos (those of its previews, up to :data:`PHOTOS`): the
central :data:`SIDE` px square of each, at the scale training saw the photos
(``--photo-size``), since a network paints strokes of a fixed size in pixels.  The figure
is the median over them of the measures of :mod:`painterly.scoring`: the texture distance
of each picture to the painting as training saw it, its content distance to its photo, and
its grid strength.

A held-out photo whose central square is under :data:`MIN_SIDE` px (a very wide or tall
photo) is not measured, and a measure that cannot be taken is left out of the figure: it
never holds NaN.

The verdict is "far from converged" when the network has seen fewer photos (steps x
batch) than a quarter of the default recipe's (``TrainOptions``: 2000 x 4), or when its
texture distance is above :data:`TEXTURE_LIMIT`.  The limit was chosen by measurement
(``benchmarks/net_quality_limit.py``, docs/networks.md): painterly's own pictures of the
same photos score well below it, and an untrained network and the photo itself well above.

Files written before the figure existed have none; they load as before and say nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import torch

from .. import device as dev
from ..images import resize_tensor, to_pil
from ..objective import style_size
from ..scoring import content_distance, features, grid_strength, scorer_net, texture_distance
from ..vgg import VGGFeatures, VGGWeights
from .options import default_work

SIDE = 256  # longest side of the pictures measured
PHOTOS = 4  # held-out photos measured, at most
WORK_SHARE = 0.25  # of the default recipe's photos seen (steps x batch), at least
TEXTURE_LIMIT = 0.3  # texture distance above which a network is far off (measured: module text)
MIN_SIDE = 32  # px of the central square of a photo measured, at least (two grid periods)


def seen_style(style: torch.Tensor, photo_size: int, style_scale: float) -> torch.Tensor:
    """The painting (1 x 3 x H x W, as loaded) at the size training's loss sees it."""
    return resize_tensor(style, style_size(tuple(style.shape[-2:]), photo_size, style_scale))


def centre_crop(x: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """The central square of ``x`` (1 x 3 x H x W), ``side`` px or the short side if less."""
    h, w = x.shape[-2:]
    s = min(side, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


@torch.no_grad()
def measures_of(paint: Callable[[torch.Tensor], torch.Tensor], photos: list[torch.Tensor],
                style: torch.Tensor, vgg: VGGFeatures) -> dict[str, Any]:
    """The medians of texture distance, content distance and grid strength of ``paint``'s
    pictures of the central :data:`SIDE` px squares of ``photos`` (up to :data:`PHOTOS` of
    at least :data:`MIN_SIDE` px, at the scale training saw them), against ``style`` (the
    painting as training saw it).  A measure with no finite value is left out; ``small``:
    the held-out photos too small to measure."""
    fs = features(vgg, style)
    rows, side = [], 0
    crops = [centre_crop(p.float()) for p in photos]
    usable = [x for x in crops if min(x.shape[-2:]) >= MIN_SIDE]
    for x in usable[:PHOTOS]:
        y = paint(x).float().clamp(0, 1)
        fo = features(vgg, y)
        rows.append((texture_distance(fo, fs), content_distance(fo, features(vgg, x)),
                     grid_strength(to_pil(y.cpu()))))
        side = max(side, x.shape[-1])
    q: dict[str, Any] = {"size": side or SIDE, "photos": len(rows)}
    for i, k in enumerate(("texture", "content", "grid")):
        vals = [r[i] for r in rows if math.isfinite(r[i])]
        if vals:
            q[k] = round(statistics.median(vals), 4)
    if len(usable) < len(crops):
        q["small"] = len(crops) - len(usable)
    return q


def measure(net: torch.nn.Module, photos: list[torch.Tensor], style: torch.Tensor,
            weights: VGGWeights, device: torch.device, precision: str) -> dict[str, Any]:
    """:func:`measures_of` the network (in eval mode, in the run's arithmetic); photos at
    the training's photo size, the style as training saw it."""
    vgg = scorer_net(weights, device)

    def paint(x: torch.Tensor) -> torch.Tensor:
        with dev.autocast(device, precision):
            return net(x.to(device).contiguous(memory_format=torch.channels_last))

    was = net.training
    net.eval()
    try:
        return measures_of(paint, photos, style, vgg)
    finally:
        net.train(was)


def reasons(q: dict[str, Any]) -> list[str]:
    """Why a quality figure says far from converged (nothing when it does not), in plain
    words, from the numbers it holds."""
    why = []
    seen, full = q.get("seen"), q.get("recipe_seen")
    if _real(seen) and _real(full) and seen < WORK_SHARE * full:
        why.append(f"{seen} photos seen in training, the default recipe sees {full}")
    texture, limit = q.get("texture"), q.get("texture_limit")
    if _real(texture) and _real(limit) and texture > limit:
        why.append(f"texture {_texture(texture, limit)}, a trained network scores below "
                   f"{limit}")
    return why


def figure(net: torch.nn.Module, photos: list[torch.Tensor], style: torch.Tensor,
           weights: VGGWeights, device: torch.device, precision: str, steps: int,
           batch: int) -> dict[str, Any]:
    """The quality figure of a model file: the measures (none without held-out photos),
    the photos seen, the default recipe's and the verdict."""
    q: dict[str, Any] = measure(net, photos, style, weights, device, precision) if photos \
        else {"size": SIDE, "photos": 0}
    q.update({"seen": steps * batch, "recipe_seen": default_work(),
              "texture_limit": TEXTURE_LIMIT})
    q["far_from_converged"] = bool(reasons(q))
    return q


def summary(q: dict[str, Any]) -> str:
    """The figure in one line."""
    if not _real(q.get("texture")):
        if _real(q.get("photos")) and q["photos"] > 0:  # painted, but no finite texture
            return (f"texture not measured (no finite value on the {q['photos']} held-out "
                    f"photo{'' if q['photos'] == 1 else 's'})")
        if q.get("small"):
            return f"not measured (the held-out photos are under {MIN_SIDE} px on a side)"
        return "not measured (no held-out photos)"
    photos, side = (v if _real(v) else "?" for v in (q.get("photos"), q.get("size")))
    held = "held-out photo" if photos == 1 else "held-out photos"
    texture = _texture(q["texture"], q.get("texture_limit"))
    return (f"texture {texture}, content {_num(q.get('content'))}, grid "
            f"{_num(q.get('grid'))} ({photos} {held}, {side} px square"
            f"{'' if photos == 1 else 's'}; lower texture = nearer the painting)")


def warning(q: dict[str, Any], advice: str = "more --steps or --minutes") -> str | None:
    """The warning of a figure far from converged (``advice``: how to train longer), or
    None."""
    if not q.get("far_from_converged"):
        return None
    why = reasons(q)
    because = f" ({'; '.join(why)})" if why else ""
    return f"far from converged{because}: expect weak pictures; train it longer ({advice})"


def describe(meta: dict[str, Any]) -> list[str]:
    """What ``painterly apply`` tells of a model file: one line with the figure, and a
    warning line when it is far from converged; nothing for a file without a figure."""
    q = meta.get("quality")
    if not isinstance(q, dict):
        return []
    warned = warning(q)
    return [f"quality: {summary(q)}", *([f"warning: {warned}"] if warned else [])]


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _texture(v: float, limit: Any) -> str:
    """A texture distance in three decimals, or four (the figure as kept) where three would
    round one above the limit down onto it ("texture 0.300, ... scores below 0.3")."""
    if _real(limit) and v > limit and round(v, 3) <= limit:
        return f"{v:.4f}"
    return f"{v:.3f}"


def _num(v: Any) -> str:
    return f"{v:.2f}" if _real(v) else "?"
