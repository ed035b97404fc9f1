"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016, "Fast
Algorithms for Convolutional Neural Networks"), for float32 on the CPU.

A 3x3 convolution makes each 4x4 block of its output from the 6x6 block of its input around
it.  Winograd's algorithm takes the block d and the kernel g to a 6x6 transform domain
(``B^T d B`` and ``G g G^T``), multiplies them there element by element, summing over the
input channels (36 matrix products, one per element), and brings the 6x6 result back to the
4x4 block (``A^T m A``)::

    y = A^T [ sum_c (G g_c G^T) * (B^T d_c B) ] A

That is 36 multiplications per pair of channels and output block where the direct
convolution takes 16 x 9 = 144; the transforms cost a few passes over the maps.  In float32
on a CPU without bfloat16 instructions VGG-19's convolutions from 128 channels in ran
1.1-2.5x faster this way, forward and backward (benchmarks/winograd.py; with 64 channels
the transforms cost more than they save); the rounding error stays within 2e-5 of the
output's range (the tests; about 1e-5 with 512 channels in).

The maps are taken a band of block rows at a time, so the transform domain of a large
picture is never written whole (a band of a few megabytes stays in the cache, and the
memory allocator does not hand fresh pages to every call).

:func:`conv3x3` is ``F.conv2d(x, weight, bias, padding=1)`` for a weight that gets no
gradient; the gradient reaches ``x`` (the backward takes the same steps transposed, with the
same kernel: the transformed kernels are 4x the size of the weights, and one copy is kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_BT = ((4, 0, -5, 0, 1, 0),
       (0, -4, -4, 1, 1, 0),
       (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0),
       (0, 2, -1, -2, 1, 0),
       (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0),
      (-1 / 6, -1 / 6, -1 / 6),
      (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6),
      (1 / 24, -1 / 12, 1 / 6),
      (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0),
       (0, 1, -1, 2, -2, 0),
       (0, 1, 1, 4, 4, 0),
       (0, 1, -1, 8, -8, 1))

BAND_BYTES = 8 << 20  # the transform domain of one band of block rows (benchmarks/winograd.py)


def _kron(m: tuple) -> torch.Tensor:
    t = torch.tensor(m, dtype=torch.float64)
    return torch.kron(t, t).float()


_IN = _kron(_BT)  # 36 x 36: the 6x6 block, flattened, to its transform
_OUT = _kron(_AT)  # 16 x 36: the transform domain back to the 4x4 block
_IN_T, _OUT_T = _IN.T.contiguous(), _OUT.T.contiguous()  # the backward's (the adjoint)
_KG = torch.kron(*[torch.tensor(_G, dtype=torch.float64)] * 2)  # 36 x 9: the kernel's


def kernel(weight: torch.Tensor) -> torch.Tensor:
    """A 3x3 convolution's weight (out x in x 3 x 3) in the transform domain: 36 x in x
    out, float32 (computed in float64: one matrix product of the 9 taps of every pair of
    channels by the 36 x 9 ``G (x) G``, then in and out swapped, the layout the forward's
    matrix products read fastest: 0.3-0.5 s for VGG-19's layers against 1.1 s by einsum)."""
    o, c = weight.shape[:2]
    w = weight.detach().cpu().double().reshape(o * c, 9)
    return (_KG @ w.T).float().view(36, o, c).transpose(1, 2).contiguous()


def correlate(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None,
              band_bytes: int = BAND_BYTES) -> torch.Tensor:
    """``F.conv2d(x, w, bias, padding=1)`` for ``u = kernel(w)``: x is N x C x H x W,
    float32, on the CPU, in either layout; the result is channels-last (N x O x H x W)."""
    n, c, h, w = x.shape
    o = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)  # 4x4 blocks down and across
    xp = F.pad(x, (1, 1 + 4 * tw - w, 1, 1 + 4 * th - h))
    xv = xp.permute(0, 2, 3, 1)  # N x H x W x C
    if not xv.is_contiguous():
        xv = xv.contiguous()
    out = torch.empty(n, o, 4 * th, 4 * tw, dtype=x.dtype, memory_format=torch.channels_last)
    y = out.permute(0, 2, 3, 1)  # N x H x W x O, contiguous
    band = max(1, band_bytes // (36 * tw * max(c, o) * 4))  # block rows at a time
    for b in range(n):
        for r in range(0, th, band):
            k = min(band, th - r)
            d = xv[b, 4 * r: 4 * (r + k) + 2].unfold(0, 6, 4).unfold(1, 6, 4)  # k tw C 6 6
            d = d.permute(3, 4, 0, 1, 2).reshape(36, k * tw * c)
            v = torch.mm(_IN, d).view(36, k * tw, c)
            m = torch.bmm(v, u)  # 36 x (k tw) x O
            z = torch.mm(_OUT, m.view(36, -1)).view(4, 4, k, tw, o)
            y[b, 4 * r: 4 * (r + k)].view(k, 4, tw, 4, o).copy_(z.permute(2, 0, 3, 1, 4))
    if bias is not None:
        y += bias
    if 4 * th == h and 4 * tw == w:
        return out
    # a tensor of its own, not a view: autograd forbids changing a custom function's view
    # in place (a ReLU does)
    return out[:, :, :h, :w].clone(memory_format=torch.channels_last)


def correlate_adjoint(gy: torch.Tensor, u: torch.Tensor,
                      band_bytes: int = BAND_BYTES) -> torch.Tensor:
    """The gradient to x of :func:`correlate` (x, u) given the gradient gy of its output:
    the same steps transposed, with the same kernel (no second one kept): each 4x4 block of
    gy to the transform domain (``A gy A^T``), multiplied by the kernel with in and out
    swapped, back to a 6x6 block (``B m B^T``), and the overlapping blocks summed."""
    n, o, h, w = gy.shape
    c = u.shape[1]
    th, tw = -(-h // 4), -(-w // 4)
    gv = F.pad(gy, (0, 4 * tw - w, 0, 4 * th - h)).permute(0, 2, 3, 1)  # N x H x W x O
    if not gv.is_contiguous():
        gv = gv.contiguous()
    gx = torch.zeros(n, 4 * th + 2, 4 * tw + 4, c, dtype=gy.dtype)  # the padded input's
    out = gx.permute(0, 3, 1, 2)  # gradient, N x H x W x C (2 columns spare); as N x C x H x W
    band = max(1, band_bytes // (36 * tw * max(c, o) * 4))
    for b in range(n):
        for r in range(0, th, band):
            k = min(band, th - r)
            t = gv[b, 4 * r: 4 * (r + k)].view(k, 4, tw, 4, o).permute(1, 3, 0, 2, 4)
            v = torch.mm(_OUT_T, t.reshape(16, k * tw * o)).view(36, k * tw, o)
            m = torch.bmm(v, u.transpose(1, 2))  # 36 x (k tw) x C
            z = torch.mm(_IN_T, m.view(36, -1)).view(6, 6, k, tw, c)
            _fold_into(gx[b, 4 * r:], z)
    return out[:, :, 1: h + 1, 1: w + 1].clone(memory_format=torch.channels_last)


def _fold_into(g: torch.Tensor, z: torch.Tensor) -> None:
    """Add 6 x 6 x k x tw x C blocks (row, column in the block; block row, column) to g
    ((4k + 2) x (4tw + 4) x C, or more rows) where they land, at a step of 4: a block's
    columns 4 and 5 are the next block's 0 and 1 (summed first), its rows 4 and 5 the next
    block's rows 0 and 1."""
    _, _, k, tw, c = z.shape
    cols = z.new_empty(6, k, tw + 1, 4, c)
    cols[:, :, :tw] = z[:, :4].permute(0, 2, 3, 1, 4)
    cols[:, :, tw].zero_()
    cols[:, :, 1:, :2] += z[:, 4:].permute(0, 2, 3, 1, 4)
    cols = cols.view(6, k, 4 * tw + 4, c)
    rows = g[: 4 * k].view(k, 4, 4 * tw + 4, c)
    rows += cols[:4].transpose(0, 1)
    rows[1:, :2] += cols[4:, : k - 1].transpose(0, 1)
    g[4 * k: 4 * k + 2] += cols[4:, k - 1]


class _Conv3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, u, bias):  # noqa: ANN001, ANN205 (autograd's signature)
        ctx.save_for_backward(u)
        return correlate(x, u, bias)

    @staticmethod
    def backward(ctx, gy):  # noqa: ANN001, ANN205
        (u,) = ctx.saved_tensors
        return correlate_adjoint(gy, u), None, None


def conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(x, w, bias, padding=1)`` by Winograd's algorithm for ``u = kernel(w)``,
    with the gradient to x (w and bias get none)."""
    return _Conv3x3.apply(x, u, bias)


def applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a convolution of x by this weight should take this path: a 3x3 weight that
    gets no gradient (frozen, or no gradients taken), float32 on the CPU outside autocast
    (bfloat16 is left to the direct convolution: the transforms' rounding would be too
    coarse in it), and at least
    :data:`MIN_CHANNELS` channels in and :data:`MIN_PIXELS` pixels a map (fewer: the
    transforms cost more than they save)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32
            and x.shape[-2] * x.shape[-1] >= MIN_PIXELS
            and weight.dtype == torch.float32 and weight.shape[-2:] == (3, 3)
            and weight.shape[1] >= MIN_CHANNELS
            and not (weight.requires_grad and torch.is_grad_enabled())
            and not torch.is_autocast_enabled("cpu") and not torch.onnx.is_in_onnx_export())


# benchmarks/winograd.py, 2-core Ice Lake Xeon: 64 channels in at 512x384 took 87-106 ms
# against 61 direct, 128 at 256x192 38-42 against 46; 512 at 8x6 gained nothing, at 16x12 30%
MIN_CHANNELS = 128
MIN_PIXELS = 128


class Kernels:
    """The kernels of a network's convolutions, made on first use and made again when a
    weight changes (an optimiser's step moves its version counter): for a network that is
    trained between two uses."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[tuple[int, int], torch.Tensor]] = {}

    def of(self, conv: torch.nn.Conv2d) -> torch.Tensor:
        w = conv.weight
        stamp = (w.data_ptr(), w._version)
        hit = self._made.get(id(conv))
        if hit is None or hit[0] != stamp:
            hit = self._made[id(conv)] = stamp, kernel(w)
        return hit[1]


def conv(layer: torch.nn.Conv2d, x: torch.Tensor, kernels: Kernels) -> torch.Tensor:
    """``layer(x)`` for a 3x3, stride-1, zero-padding-1 convolution: by Winograd's algorithm
    where it :func:`applies`, else the layer itself."""
    if (layer.stride == (1, 1) and layer.padding == (1, 1) and layer.dilation == (1, 1)
            and layer.groups == 1 and layer.padding_mode == "zeros"
            and applies(x, layer.weight)):
        return conv3x3(x, kernels.of(layer), layer.bias)
    return layer(x)
