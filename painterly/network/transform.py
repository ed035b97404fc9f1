"""The image transformation network of Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses
for Real-Time Style Transfer", with the fixes that followed it:

* instance normalisation instead of batch normalisation (Ulyanov et al. 2016): each image
  is normalised on its own, so a stylized photo does not depend on its batch;
* reflection padding at every convolution, so the borders carry no dark frame;
* on the way up, upsampling (nearest-neighbour, or bilinear: ``up``) followed by a
  convolution instead of a transposed convolution (Odena et al. 2016), so there is no
  checkerboard pattern;
* ``down="blur"``: anti-aliased downsampling (Zhang 2019, "Making Convolutional Networks
  Shift-Invariant Again"): each stride-2 convolution becomes a stride-1 convolution (with its
  norm and ReLU) followed by a fixed [1,2,1]x[1,2,1]/16 blur of each channel taken at stride
  2 (:class:`Blur`), so what is dropped by the subsampling is first smoothed away rather than
  aliased into a pattern on the network's 2^d-pixel grid.  ``down="stride"`` is the plain
  stride-2 convolution (the layout of model files written before the choice existed).

Layout, for ``width`` c (32 = the paper's), ``blocks`` b and ``downs`` d::

    conv 9x9 3->c  | d x (conv 3x3 stride 2, or conv 3x3 + blur stride 2; channels x2 up
    to 4c)  | b residual blocks  | d x (upsample x2, conv 3x3, channels /2)  | conv 3x3 c->3

The defaults differ from the paper's (c = 32, d = 2, a 9x9 last layer) by measurement
(``benchmarks/nets_speed.py``): the 9x9 convolution from c channels to 3 at full resolution
was the costliest layer of all; a third stride-2 stage makes the residual blocks four times
cheaper and their receptive field twice as wide (larger brush strokes); c = 16 halves the
cost of every full-resolution layer.

Every convolution but the last is followed by instance norm and ReLU.  The input is RGB in
0..1 of any size; it is padded (reflection) to a multiple of 2^d and the output cropped back,
so the output has the input's size.  The output is RGB, nominally 0..1 (clamp to show it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from . import phases

KIND = "johnson-in"  # the architecture's name in model files
DOWNS = ("stride", "blur")  # how a stage halves the side (Arch.down)
UPS = ("nearest", "bilinear")  # how a stage doubles it (Arch.up)
CL_NORM_MIN = 16  # fewer channels: a bfloat16 norm on the CPU runs in the plain layout


@dataclass(frozen=True)
class Arch:
    """What decides the network's layers (stored in the model file).  The defaults of
    ``down`` and ``up`` are the layout of files written before they existed."""

    width: int = 16  # channels of the first layer (the paper: 32)
    blocks: int = 5  # residual blocks at the lowest resolution
    downs: int = 3  # stages that halve the side (the paper: 2)
    down: str = "stride"  # stride: stride-2 convolution; blur: conv, then blur at stride 2
    up: str = "nearest"  # upsampling before each convolution on the way up

    def check(self) -> Arch:
        if not (4 <= self.width <= 256 and 0 <= self.blocks <= 32 and 1 <= self.downs <= 4):
            raise UsageError(f"network shape out of range: width {self.width} (4-256), "
                             f"blocks {self.blocks} (0-32), downs {self.downs} (1-4)")
        if self.down not in DOWNS or self.up not in UPS:
            raise UsageError(f"network layout unknown: down {self.down!r} (one of "
                             f"{', '.join(DOWNS)}), up {self.up!r} (one of {', '.join(UPS)})")
        return self

    def channels(self) -> list[int]:
        """Channels at each resolution, full first (doubling, at most 4x the width)."""
        return [self.width * min(2 ** i, 4) for i in range(self.downs + 1)]

    def to_dict(self) -> dict:
        return {"kind": KIND, **asdict(self)}


# Maps of this many pixels or more are convolved without a padded copy (reflect_conv):
# float32, 2-core Ice Lake Xeon, 16 -> 3 channels at 1024x768: 51.6 ms -> 30.0 (the copy,
# then the convolution); 32 -> 64 at stride 2 at 512x384: 14.2 -> 11.3; but 64 -> 64 at
# 256x192 19.0 -> 20.3 and 32 -> 32 at 256x192 5.9 -> 6.1 (the strips cost as much as the
# copy there).  benchmarks/nets_speed.py times whole networks.
STRIP_MIN_PIXELS = 1 << 17


class ReflectConv(nn.Conv2d):
    """A reflection-padded convolution (``padding_mode="reflect"``: its parameters, model
    files and ONNX graphs are those of ``nn.Conv2d``), on a large map taken without the
    padded copy of its input: :func:`reflect_conv`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (torch.onnx.is_in_onnx_export()
                or x.shape[-2] * x.shape[-1] < STRIP_MIN_PIXELS):
            return super().forward(x)
        return reflect_conv(x, self.weight.to(x.dtype),
                            None if self.bias is None else self.bias.to(x.dtype),
                            self.stride[0], self.padding[0])


def _conv(cin: int, cout: int, k: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """A reflection-padded convolution.  No bias before instance norm, which would remove it
    (its gradient is zero but for rounding, which Adam would amplify into noise)."""
    return ReflectConv(cin, cout, k, stride=stride, padding=k // 2, padding_mode="reflect",
                       bias=bias)


def reflect_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: int,
                 pad: int, mode: str = "reflect") -> torch.Tensor:
    """``F.conv2d(F.pad(x, (pad,) * 4, mode=mode), w, b, stride)`` without writing the
    padded map: the convolution is taken with zero padding (which the convolution does in
    place), and the output rows and columns that read the margin are taken again, exactly,
    from padded strips of the input at the four edges (a strip ``pad + k - 1``
    rows deep for a k x k kernel at stride 1) and written over them.  The padded copy of a
    full-size 16-channel map at 1024x768 took 17.6 ms on a 2-core CPU; the strips, under
    2% of the map, a fraction of that.  Where a strip is too thin to reflect (a map of a
    few pixels) the plain padded convolution is taken."""
    k, s = w.shape[-1], stride
    h, wd = x.shape[-2:]
    oh, ow = (h + 2 * pad - k) // s + 1, (wd + 2 * pad - k) // s + 1
    top = -(-pad // s)  # output rows whose window starts above the first row
    bot = max(0, oh - ((h + pad - k) // s + 1))  # ... and ends below the last
    lft = -(-pad // s)
    rgt = max(0, ow - ((wd + pad - k) // s + 1))
    deep = (top - 1) * s + k - pad  # input rows the top strip reads
    ok = pad > 0 and min(h, wd) > 2 * deep and top < oh - bot and lft < ow - rgt
    if not ok:
        xp = F.pad(x, (pad,) * 4, mode=mode) if pad else x
        return F.conv2d(xp, w, b, s)
    y = F.conv2d(x, w, b, s, padding=pad)
    y[..., :top, :] = F.conv2d(F.pad(x[..., :deep, :], (pad, pad, pad, 0), mode=mode),
                               w, b, s)
    y[..., :, :lft] = F.conv2d(F.pad(x[..., :, :deep], (pad, 0, pad, pad), mode=mode),
                               w, b, s)
    if bot:
        r0 = (oh - bot) * s - pad  # the first input row the bottom strip reads
        pb = (oh - 1) * s + k - pad - h  # rows it reads below the map
        y[..., oh - bot:, :] = F.conv2d(
            F.pad(x[..., r0:, :], (pad, pad, 0, pb), mode=mode), w, b, s)
    if rgt:
        c0 = (ow - rgt) * s - pad
        pr = (ow - 1) * s + k - pad - wd
        y[..., :, ow - rgt:] = F.conv2d(
            F.pad(x[..., :, c0:], (0, pr, pad, pad), mode=mode), w, b, s)
    return y


class InstanceNorm(nn.Module):
    """Instance normalisation with a scale and shift per channel.

    Computed as group norm with one channel per group (the same function), whose kernels
    keep channels-last maps and bfloat16 fast: measured 5-100x faster on the CPU than
    ``nn.InstanceNorm2d`` (benchmarks/nets_speed.py).  In an ONNX export it is one
    ``InstanceNormalization`` node with the scale and shift, not group norm's reshapes,
    multiply and add: the network ran 7% faster in onnxruntime."""

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.channels = c  # a constant, not read off x (an exported graph needs it fixed)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():  # one InstanceNormalization node with the affine
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        w, b = self.weight.to(x.dtype), self.bias.to(x.dtype)
        if _slow_cl_norm(x, self.channels):
            y = F.group_norm(x.contiguous(), self.channels, w, b, self.eps)
            return y.contiguous(memory_format=torch.channels_last)
        return F.group_norm(x, self.channels, w, b, self.eps)


def _slow_cl_norm(x: torch.Tensor, channels: int) -> bool:
    """Whether PyTorch's group norm of this channels-last map is slower than copying it to
    the plain layout and back: in bfloat16 on the CPU, below :data:`CL_NORM_MIN` channels
    (13 ms against 2.7 ms with both copies for 8 channels at 856x480, the fast preset's
    full-resolution layers) and, at any width, when gradients flow through it (the
    backward: 21.6 ms against 2.5 ms for 2x64x64x64 in training).  In float32 the
    channels-last kernel is the faster one (8 channels at 856x480: 2.5 ms against 16 ms
    with the copies, a 2-core Xeon without bfloat16 instructions)."""
    if not (x.dtype == torch.bfloat16 and x.device.type == "cpu"
            and x.is_contiguous(memory_format=torch.channels_last)):
        return False
    return channels < CL_NORM_MIN or x.requires_grad


class ConvNormReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__(_conv(cin, cout, k, stride), InstanceNorm(cout), nn.ReLU(inplace=True))


class Blur(nn.Module):
    """A fixed [1,2,1]x[1,2,1]/16 blur of each channel, taken at stride 2 (reflection padded,
    so a flat picture stays flat up to its borders).  The kernel is not a parameter and not
    in the model file: it is a buffer rebuilt with the layer."""

    def __init__(self, c: int):
        super().__init__()
        # on the CPU when the net is built on meta (not in the state), float32 whatever the default
        k = torch.tensor([1.0, 2.0, 1.0], device="cpu", dtype=torch.float32)
        k = (k[:, None] * k[None, :]) / 16
        self.register_buffer("kernel", k.expand(c, 1, 3, 3).clone(), persistent=False)
        self.channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel.to(x.dtype)
        h, w = x.shape[-2:]
        if h % 2 or w % 2 or torch.onnx.is_in_onnx_export():
            x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            return F.conv2d(x, k, stride=2, groups=self.channels)
        # Even sides (every map inside the network): the reflected margin is needed on the
        # top and left only (row -1 = row 1), so the blur is taken with zeros there, without
        # a padded copy of the map, and the first output row and column get what the
        # reflected row and column add: a quarter of row 1 (column 1) blurred along it, the
        # corner's shared term x[1, 1] / 16 counted once.
        y = F.conv2d(x, k, stride=2, padding=1, groups=self.channels)
        g = k[:, :, 1:2, :] * 2  # the [1,2,1]/4 of one axis
        row = F.conv2d(F.pad(x[..., 1:2, :], (1, 1, 0, 0), mode="reflect"), g,
                       stride=(1, 2), groups=self.channels)
        col = F.conv2d(F.pad(x[..., :, 1:2], (0, 0, 1, 1), mode="reflect"),
                       g.transpose(-1, -2), stride=(2, 1), groups=self.channels)
        y[..., :1, :] += row / 4
        y[..., :, :1] += col / 4
        y[..., :1, :1] -= x[..., 1:2, 1:2] / 16
        return y


def down_stage(cin: int, cout: int, down: str) -> nn.Sequential:
    """One stage that halves the side.  Both layouts name their parameters alike (the
    convolution at 0, the norm at 1): the blur (at 3) has none."""
    if down == "blur":
        return ConvNormReLU(cin, cout, 3).append(Blur(cout))
    return ConvNormReLU(cin, cout, 3, 2)


class Residual(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x)))))"""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(ConvNormReLU(c, c, 3), _conv(c, c, 3),
                                  InstanceNorm(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _phases(mode: str = "nearest") -> torch.Tensor:
    """2 x 3 x 3: for each output phase (even, odd) of an x2 upsampling followed by a 3-tap
    filter, the weight with which each of the input's taps i-1, i, i+1 (middle axis) reaches
    each of the filter's taps (last axis).

    nearest: U[2i] = U[2i+1] = X[i].  bilinear (half-pixel centres, as ``F.interpolate``
    with ``align_corners=False``): U[2i] = (X[i-1] + 3 X[i]) / 4, U[2i+1] = (3 X[i] +
    X[i+1]) / 4.  Either way an output phase reaches no further than i-1..i+1."""
    a = torch.zeros(2, 3, 3, device="cpu", dtype=torch.float32)  # as Blur's kernel
    if mode == "nearest":
        a[0, 0, 0] = a[0, 1, 1] = a[0, 1, 2] = 1  # 2i: U[2i-1] = X[i-1], U[2i] = U[2i+1] = X[i]
        a[1, 1, 0] = a[1, 1, 1] = a[1, 2, 2] = 1  # 2i+1: U[2i] = U[2i+1] = X[i], U[2i+2] = X[i+1]
        return a
    near, far = 0.75, 0.25
    # even 2i: filter taps on U[2i-1], U[2i], U[2i+1]
    a[0, 0, 0], a[0, 1, 0] = near, far
    a[0, 0, 1], a[0, 1, 1] = far, near
    a[0, 1, 2], a[0, 2, 2] = near, far
    # odd 2i+1: filter taps on U[2i], U[2i+1], U[2i+2]
    a[1, 0, 0], a[1, 1, 0] = far, near
    a[1, 1, 1], a[1, 2, 1] = near, far
    a[1, 1, 2], a[1, 2, 2] = far, near
    return a


class Up(nn.Sequential):
    """Upsampling x2 (nearest or bilinear), then conv + IN + ReLU (no checkerboard).

    The 3x3 convolution of the upsampled map is computed on the small map instead (the same
    sums): each of the four output phases is a 3x3 convolution of the input whose taps are
    weighted sums of the kernel's (:func:`_phases`), the four are interleaved by a pixel
    shuffle, and the small map is padded by replicating its border.  Nothing of the size of
    the upsampled input is written: the fast preset's network ran 11% faster at 856x480 on
    the CPU, and bilinear trains as fast as nearest (through ``F.interpolate`` a training
    step took 45% longer).  For nearest this is exactly upsample-then-convolve, borders
    included; for bilinear exactly so inside, while on the outermost ring of the output the
    convolution sees the upsampled map's border repeated instead of reflected.  Painting
    (no gradients, channels-last maps) with nearest upsampling, the phases take 2x2 kernels
    instead (:func:`_nearest_phases`, 4/9 of the multiply-adds, the same output)."""

    def __init__(self, cin: int, cout: int, mode: str = "nearest"):
        # forward never calls the Upsample at [0]: it names the mode, is the plain reference
        # (tests), and keeps the convolution's parameters at [1] as model files name them
        up = nn.Upsample(scale_factor=2, mode=mode,
                         align_corners=False if mode == "bilinear" else None)
        super().__init__(up, ConvNormReLU(cin, cout, 3))
        self.register_buffer("phases", _phases(mode), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm, relu = self[1]
        x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        w = conv.weight.float()
        if (self[0].mode == "nearest" and not torch.is_grad_enabled()
                and x.is_contiguous(memory_format=torch.channels_last)
                and not torch.onnx.is_in_onnx_export()):
            return relu(norm(_nearest_phases(x, w)))
        a = self.phases.float()
        k = torch.einsum("ocyx,pay,qbx->opqcab", w, a, a).reshape(-1, w.shape[1], 3, 3)
        return relu(norm(F.pixel_shuffle(F.conv2d(x, k.to(x.dtype)), 2)))


def _nearest_phases(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The 3x3 convolution ``w`` (O x C x 3 x 3) of the nearest x2 upsampling of a small map
    whose replicated border ``x`` holds (B x C x (h+2) x (w+2)): B x O x 2h x 2w.

    Each output phase (py, px) sees a 2 x 2 window of the small map (rows i-1, i for an even
    output row, i, i+1 for an odd one: the taps of :func:`_phases` that are not zero), so one
    2x2 convolution with 4 x O outputs gives all four phases at (h+1) x (w+1) positions, 16
    taps a pixel where the 3x3 phases take 36, and each phase is copied to its pixels from
    its own offset.  The same products and sums (the taps left out are zeros), so the
    output is that of the 3x3 phases and the pixel shuffle up to rounding (tests/test_nets.py;
    bitwise on the 32-64-channel maps of the presets)."""
    a = _phases("nearest").to(w.device)
    a = torch.stack([a[0, :2], a[1, 1:]])  # phase x window row x kernel row
    o = w.shape[0]
    k = torch.einsum("ocyx,pay,qbx->pqocab", w, a, a).reshape(4 * o, w.shape[1], 2, 2)
    y = F.conv2d(x, k.to(x.dtype))  # B x 4O x (h+1) x (w+1), phase (py, px) at 2 py + px
    b, _, h, ww = y.shape
    h, ww = h - 1, ww - 1
    out = torch.empty(b, o, 2 * h, 2 * ww, dtype=y.dtype, device=y.device,
                      memory_format=torch.channels_last)
    ov = out.permute(0, 2, 3, 1).view(b, h, 2, ww, 2, o)
    yv = y.permute(0, 2, 3, 1)
    for p, (py, px) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        ov[:, :, py, :, px, :] = yv[:, py:py + h, px:px + ww, p * o:(p + 1) * o]
    return out


class TransformNet(nn.Module):
    """Photo (B x 3 x H x W, 0..1) -> stylized image of the same size."""

    def __init__(self, arch: Arch = Arch()):
        super().__init__()
        self.arch = arch.check()
        ch = arch.channels()
        self.head = ConvNormReLU(3, ch[0], 9)
        self.down = nn.Sequential(*[down_stage(ch[i], ch[i + 1], arch.down)
                                    for i in range(arch.downs)])
        self.res = nn.Sequential(*[Residual(ch[-1]) for _ in range(arch.blocks)])
        self.up = nn.Sequential(*[Up(ch[i + 1], ch[i], arch.up)
                                  for i in reversed(range(arch.downs))])
        self.tail = _conv(ch[0], 3, 3, bias=True)
        with torch.no_grad():
            self.tail.weight.mul_(0.1)  # start near a flat grey picture, not saturated noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = pad_to(h, self.arch.downs) - h, pad_to(w, self.arch.downs) - w
        if ph or pw:  # reflection needs the pad smaller than the side; replicate otherwise
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.layers(x)[..., :h, :w]

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        """The layers on an input already padded (sides from :func:`pad_to`); painted on
        the half-size grid where that is faster (:meth:`_in_phases`)."""
        if self._in_phases(x):
            return self._layers_in_phases(x)
        y = self.tail(self.up(self.res(self.down(self.head((x - 0.5) * 2)))))
        return y * 0.5 + 0.5

    def _in_phases(self, x: torch.Tensor) -> bool:
        """Whether painting ``x`` holds the full-size maps as phase maps (:mod:`.phases`):
        in bfloat16 on the CPU (no gradients, channels-last) for stride-2 and nearest
        stages narrower than :data:`CL_NORM_MIN` channels.  On a 2-core EPYC with
        AVX512-BF16 the fast preset painted 1.3x faster at 854x480 and 1.4x at 1024x768;
        at 16 channels (the quality preset) and in float32 the full-size layers were the
        faster (0.93-0.96x)."""
        return (self.arch.width < CL_NORM_MIN and self.arch.down == "stride"
                and self.arch.up == "nearest" and x.dtype == torch.bfloat16
                and x.device.type == "cpu" and not torch.is_grad_enabled()
                and not torch.onnx.is_in_onnx_export()
                and x.is_contiguous(memory_format=torch.channels_last))

    def _layers_in_phases(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`layers` with the full-size maps held as phase maps (:mod:`.phases`)."""
        dt = x.dtype
        conv, norm, _ = self.head
        # the input's (x - 0.5) * 2 in the kernel and a bias: conv(2 x) - sum(w), no copy
        w = conv.weight.float()
        b = -w.sum((1, 2, 3)).repeat_interleave(4).to(dt)
        z = F.conv2d(phases.unshuffle(F.pad(x, (4,) * 4, mode="reflect")),
                     phases.head_kernel(w * 2).to(dt), b)
        z = phases.norm(z, norm.weight, norm.bias, norm.eps).relu_()
        conv, norm, relu = self.down[0]
        y = relu(norm(phases.down_conv(z, phases.down_kernel(conv.weight.float()).to(dt))))
        y = self.up[:-1](self.res(self.down[1:](y)))
        conv, norm, _ = self.up[-1][1]
        z = reflect_conv(y, phases.up_kernel(conv.weight.float()).to(dt), None, 1, 1,
                         "replicate")
        z = phases.norm(z, norm.weight, norm.bias, norm.eps).relu_()
        # the output's y * 0.5 + 0.5 in the kernel and bias
        w, b = self.tail.weight.float() * 0.5, self.tail.bias.float() * 0.5 + 0.5
        y = reflect_conv(z, phases.tail_kernel(w).to(dt), b.repeat_interleave(4).to(dt), 1, 1,
                         "replicate")
        return F.pixel_shuffle(y, 2)


def min_side(downs: int) -> int:
    """The smallest side the layers take: every reflection pad must fit (at least 2 at the
    lowest resolution, 8 at the top)."""
    m = 2 ** downs
    return max(2 * m, -(-8 // m) * m)


def pad_to(side: int, downs: int) -> int:
    """The side the input is padded to: a multiple of 2^downs, at least :func:`min_side`."""
    m = 2 ** downs
    return max(-(-side // m) * m, min_side(downs))
