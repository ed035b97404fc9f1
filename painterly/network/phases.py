"""The full-resolution layers of a style network painted on the half-size grid.

A map of C channels at H x W holds the same numbers as its *phase map*: 4C channels at
H/2 x W/2, channel ``4c + 2a + b`` holding the pixels ``(2i + a, 2j + b)`` of channel c
(``F.pixel_unshuffle`` by 2).  Every layer at full resolution has an exact equivalent there:

* a k x k convolution at stride 1 is a convolution of the phase maps whose kernel holds the
  same taps, each at the phase and offset it reads (:func:`head_kernel`, :func:`tail_kernel`);
* a 3x3 convolution at stride 2 reads the phase map with a 2 x 2 kernel (:func:`down_kernel`);
* nearest x2 upsampling followed by a 3x3 convolution is a 3x3 convolution of the small map
  with four outputs a channel, one per phase (:func:`up_kernel`);
* instance norm of channel c is group norm of its four phases, the scale and shift repeated;
* the reflected border of a full-size map, one pixel deep, is the phase map's border
  repeated: row -1 is row 1, the odd phase's first row, and row H the even phase's last.

The same products and sums, so the same output up to rounding.  In bfloat16 on the CPU it
is faster for narrow networks: the first layer's 3 input channels and the fast preset's 8
channels at full size leave the vector units of a channels-last convolution mostly idle
(12 and 32 do not), and a bfloat16 instance norm below 16 channels needed two layout
copies (``InstanceNorm``).  When painting takes it:
:meth:`painterly.network.transform.TransformNet._in_phases`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _select(taps: int, offsets: int, row: int, outputs: int = 2) -> torch.Tensor:
    """S[a, p, d, u] = 1 where the kernel's tap u of output phase a (of ``outputs``) reads
    the input's phase p at phase offset d: the input row ``2 i + a + u + row`` (an output
    at phase row i)."""
    s = torch.zeros(outputs, 2, offsets, taps, dtype=torch.float32)
    for a in range(outputs):
        for u in range(taps):
            r = a + u + row
            s[a, r % 2, r // 2, u] = 1
    return s


def head_kernel(w: torch.Tensor) -> torch.Tensor:
    """A k x k convolution (O x C x k x k, k odd) of a full-size map padded by k // 2 on
    every side, as a convolution of its phase map: 4O x 4C x (k // 2 + 1)^2."""
    o, c, k, _ = w.shape
    d = k // 2 + 1
    s = _select(k, d, 0)
    return torch.einsum("ocuv,apyu,bqxv->oabcpqyx", w, s, s).reshape(4 * o, 4 * c, d, d)


def tail_kernel(w: torch.Tensor) -> torch.Tensor:
    """A 3x3 convolution (O x C x 3 x 3) at full size, as a 3x3 convolution of the phase
    map padded by one phase row and column: 4O x 4C x 3 x 3."""
    o, c = w.shape[:2]
    s = _select(3, 3, 1)
    return torch.einsum("ocuv,apyu,bqxv->oabcpqyx", w, s, s).reshape(4 * o, 4 * c, 3, 3)


def down_kernel(w: torch.Tensor) -> torch.Tensor:
    """A 3x3 convolution at stride 2 (O x C x 3 x 3) of a full-size map padded by one, as a
    2 x 2 convolution of its phase map padded by one phase row and column on the top and
    left: O x 4C x 2 x 2."""
    o, c = w.shape[:2]
    s = _select(3, 2, 1, outputs=1)[0]
    return torch.einsum("ocuv,pyu,qxv->ocpqyx", w, s, s).reshape(o, 4 * c, 2, 2)


def up_kernel(w: torch.Tensor) -> torch.Tensor:
    """Nearest x2 upsampling, then a 3x3 convolution (O x C x 3 x 3), as a 3x3 convolution
    of the small map padded by one, whose 4O outputs are the phase map: 4O x C x 3 x 3.
    The upsampled row ``2 i + a + u - 1`` is the small map's row ``i + (a + u - 1) // 2``."""
    o, c = w.shape[:2]
    s = torch.zeros(2, 3, 3, dtype=torch.float32)
    for a in range(2):
        for u in range(3):
            s[a, (a + u + 1) // 2, u] = 1
    return torch.einsum("ocuv,ayu,bxv->oabcyx", w, s, s).reshape(4 * o, c, 3, 3)


def unshuffle(x: torch.Tensor) -> torch.Tensor:
    """The phase map of ``x`` (B x C x H x W, even sides), channels-last: each phase copied
    on its own (a tenth of the time of one permuted copy of the 3-channel input)."""
    b, c, h, w = x.shape
    out = torch.empty(b, h // 2, w // 2, c, 2, 2, dtype=x.dtype, device=x.device)
    rows = x.permute(0, 2, 3, 1)
    for a in range(2):
        for p in range(2):
            out[..., a, p] = rows[:, a::2, p::2, :]
    return out.view(b, h // 2, w // 2, 4 * c).permute(0, 3, 1, 2)


def norm(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Instance norm of the full-size channels whose phase map is ``z``."""
    return F.group_norm(z, z.shape[1] // 4, weight.to(z.dtype).repeat_interleave(4),
                        bias.to(z.dtype).repeat_interleave(4), eps)


def down_conv(z: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The 2 x 2 convolution of :func:`down_kernel` over ``z`` padded on the top and left by
    replication, without the padded copy (the first row and column taken again)."""
    h, w = z.shape[-2:]
    y = F.conv2d(z, k, padding=1)[..., :h, :w]
    y[..., :1, :] = F.conv2d(F.pad(z[..., :1, :], (1, 0, 1, 0), mode="replicate"), k)[..., :w]
    y[..., :, :1] = F.conv2d(F.pad(z[..., :, :1], (1, 0, 1, 0), mode="replicate"), k)[..., :h, :]
    return y.contiguous(memory_format=torch.channels_last)
