"""The fast model: a small encoder with four levels and one decoder with skip connections.

Encoder (``widths`` c0..c3)::

    level 0: conv 3->c0, conv c0->c0                       (full resolution)
    level k: max-pool 2, conv c(k-1)->ck, conv ck->ck      (1/2, 1/4, 1/8)

Every level's features get the style's statistics (:mod:`painterly.fast.stats`); the
decoder starts at the deepest level and goes up::

    conv c3->c3 | up x2, concat level 2, conv -> c2, conv c2->c2 | ... | conv c0->3

Every convolution is 3x3 with reflection padding and a ReLU (not the last).  Upsampling is
nearest-neighbour followed by a convolution (no transposed convolution: no checkerboard);
when painting, the upsampled map and the concatenation are never written (:func:`up_fuse`).
The input is RGB in 0..1 of any size, padded (reflection) to a multiple of 8 and the output
cropped back.  No normalisation layers: they would remove the statistics the style brings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import winograd
from ..errors import UsageError
from .stats import STATISTICS, Stats, feature_stats, transfer

KIND = "fast-wct"  # the architecture's name in model files
LEVELS = 4
ACTS = ("leaky", "relu")
LEAK = 0.2
MARGIN = 16  # reflection margin around the picture (a multiple of 8)


@dataclass(frozen=True)
class FastArch:
    """What decides the model's shapes (stored in the model file)."""

    widths: tuple[int, ...] = (16, 32, 96, 192)
    statistic: str = "wct"
    act: str = "leaky"  # leaky (LeakyReLU 0.2) or relu (the first models)

    def check(self) -> FastArch:
        if len(self.widths) != LEVELS or not all(2 <= w <= 512 for w in self.widths):
            raise UsageError(f"fast model widths {list(self.widths)}: give {LEVELS} channel "
                             f"counts between 2 and 512")
        if self.act not in ACTS:
            raise UsageError(f"fast model activation {self.act!r}: use one of {', '.join(ACTS)}")
        if self.statistic not in STATISTICS:
            raise UsageError(f"fast model statistic {self.statistic!r}: use one of "
                             f"{', '.join(STATISTICS)}")
        return self

    def to_dict(self) -> dict:
        return {"kind": KIND, **{**asdict(self), "widths": list(self.widths)}}


def _conv(cin: int, cout: int) -> nn.Conv2d:
    """3x3, zero padding: the picture is padded once by reflection (:data:`MARGIN`), which
    measured 3-4x faster on the CPU than reflection padding at every layer."""
    return nn.Conv2d(cin, cout, 3, padding=1)


def _act(name: str):
    if name == "leaky":
        return lambda x: F.leaky_relu(x, LEAK, inplace=True)
    return lambda x: F.relu(x, inplace=True)


def init_weights(net: nn.Module, act: str) -> None:
    """He initialisation for the activation (the variance kept through the depth: with
    PyTorch's default the deepest level's features came out 30x smaller than the first's,
    and the decoder learned to ignore them), zero biases."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and not m.weight.is_meta:  # (built to be loaded: meta
            # tensors draw by Python's reference code, whose first use took 1.7 s to import)
            nn.init.kaiming_normal_(m.weight, a=LEAK if act == "leaky" else 0.0,
                                    nonlinearity="leaky_relu")
            nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    def __init__(self, widths: Sequence[int], act: str = "relu"):
        super().__init__()
        self.act = _act(act)
        ins = [3, *widths[:-1]]
        self.levels = nn.ModuleList(
            nn.ModuleList([_conv(ci, co), _conv(co, co)]) for ci, co in zip(ins, widths))
        self.kernels = winograd.Kernels()  # float32 painting on the CPU: painterly/winograd.py

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        h = (x - 0.45) * 4.0
        for k, (a, b) in enumerate(self.levels):
            if k:
                h = F.max_pool2d(h, 2)
            h = self.act(winograd.conv(b, self.act(winograd.conv(a, h, self.kernels)),
                                       self.kernels))
            out.append(h)
        return out


class Decoder(nn.Module):
    def __init__(self, widths: Sequence[int], act: str = "relu"):
        super().__init__()
        self.act = _act(act)
        self.top = _conv(widths[-1], widths[-1])
        self.fuse = nn.ModuleList()
        self.refine = nn.ModuleList()
        for k in reversed(range(LEVELS - 1)):
            self.fuse.append(_conv(widths[k + 1] + widths[k], widths[k]))
            self.refine.append(_conv(widths[k], widths[k]))
        self.out = _conv(widths[0], 3)
        self.kernels = winograd.Kernels()

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        h = self.act(winograd.conv(self.top, feats[-1], self.kernels))
        for i, k in enumerate(reversed(range(LEVELS - 1))):
            if torch.is_grad_enabled():  # training: the phases' strided adds cost more there
                up = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = self.act(self.fuse[i](torch.cat([up, feats[k]], 1)))
            else:
                h = self.act(up_fuse(self.fuse[i], h, feats[k]))
            h = self.act(winograd.conv(self.refine[i], h, self.kernels))
        return self.out(h) * 0.25 + 0.45


# For an output phase p (even, odd) of a nearest x2 upsampling, the rows of a 3x3 kernel that
# reach each of the two input rows it sees (i-1, i for even; i, i+1 for odd): 2 x 2 x 3
_NEAREST_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                              [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])


def up_fuse(conv: nn.Conv2d, small: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """``conv(cat([up2(small), skip]))`` (nearest x2, the 3x3 conv zero-padded), computed
    without writing the upsampled map or the concatenation.

    The kernel splits along its input channels.  The skip's part is a plain 3x3 convolution.
    The small map's part, for each of the four output phases (py, px), sees only a 2 x 2
    window of the small map (rows i-1, i for an even output row, i, i+1 for an odd one), with
    the kernel's taps summed accordingly (:data:`_NEAREST_TAPS`): one 2x2 convolution of the
    zero-padded small map with 4 x the output channels gives all four phases, 4/9 of the
    multiply-adds, each added into its phase of the result.  The same sums, in another order."""
    c = small.shape[1]
    w = conv.weight
    a = _NEAREST_TAPS.to(w.device, torch.float32)
    k = torch.einsum("ocyx,pay,qbx->pqocab", w[:, :c].float(), a, a)  # 2 x 2 x O x C x 2 x 2
    k = k.reshape(-1, c, 2, 2).to(small.dtype)
    phases = F.conv2d(F.pad(small, (1, 1, 1, 1)), k)  # B x 4O x (H+1) x (W+1)
    y = F.conv2d(skip, w[:, c:].to(skip.dtype), conv.bias.to(skip.dtype), padding=1)
    o, (hh, ww) = w.shape[0], small.shape[-2:]
    for p, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        y[..., py::2, px::2] += phases[:, p * o:(p + 1) * o, py:py + hh, px:px + ww]
    return y


class FastNet(nn.Module):
    """Encoder, statistics at every level, decoder."""

    def __init__(self, arch: FastArch = FastArch()):
        super().__init__()
        self.arch = arch.check()
        self.encoder = Encoder(arch.widths, arch.act)
        self.decoder = Decoder(arch.widths, arch.act)
        init_weights(self, arch.act)
        with torch.no_grad():
            self.decoder.out.weight.mul_(0.1)  # start near flat grey, not saturated noise

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of a picture (any size: padded to a multiple of 8 by reflection)."""
        return self.encoder(pad8(x))

    def style_stats(self, x: torch.Tensor) -> list[Stats]:
        """A style picture's statistics at every level (cache them: they do not change)."""
        return [feature_stats(f.float()) for f in self.encode(x)]

    def forward(self, x: torch.Tensor, styles: Sequence[Stats] | None = None,
                strength: float = 1.0, masks: torch.Tensor | None = None) -> torch.Tensor:
        """The picture x painted with the statistics ``styles`` (one per level; None: the
        reconstruction of x).  ``masks`` (1 x 1 x H x W, 0..1) limits where the statistics
        are taken from and given to."""
        h, w = x.shape[-2:]
        feats = self.encode(x)
        out = feats
        if styles is not None:
            out = [transfer(f, s, self.arch.statistic, strength,
                            mask=None if masks is None else _mask_at(masks, f))
                   for f, s in zip(feats, styles)]
        return self.decoder(out)[..., MARGIN:MARGIN + h, MARGIN:MARGIN + w]


def pad8(x: torch.Tensor) -> torch.Tensor:
    """x with a reflected margin of MARGIN on every side, and more on the right and bottom
    up to a multiple of 8 (replicated where the picture is too small to reflect)."""
    h, w = x.shape[-2:]
    ph, pw = MARGIN + (-h) % 8, MARGIN + (-w) % 8
    mode = "reflect" if max(ph, MARGIN) < h and max(pw, MARGIN) < w else "replicate"
    return F.pad(x, (MARGIN, pw, MARGIN, ph), mode=mode)


def _mask_at(mask: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    full = pad8(mask)
    return F.adaptive_avg_pool2d(full, f.shape[-2:])
