"""Where the network runs and in what arithmetic and memory layout: pure functions, no state.

* :func:`pick_device` turns ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a device, with one
  clear line when it is not there.
* :func:`resolve_precision` turns ``auto`` into ``bf16`` where bfloat16 is fast (CUDA GPUs
  that support it, CPUs with AMX or AVX512-BF16) and ``fp32`` elsewhere; :func:`autocast`
  is the matching context for the network's forward pass (Gram matrices and loss sums are
  always float32, see :mod:`painterly.losses`).
* :func:`memory_format` is the layout a network's weights should have on a device:
  channels-last, the layout cuDNN's tensor-core kernels prefer; on the CPU (oneDNN) it
  measured 4% faster side by side, within the noise (benchmarks/RESULTS.md).  Whoever builds a
  network puts it in that layout once; :func:`layout_of` reads the layout back from a network
  so that its input can follow it (:func:`to_layout`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
from torch import nn

from .config import check_device
from .errors import UsageError

M = TypeVar("M", bound=nn.Module)


def pick_device(name: str = "auto") -> torch.device:
    """The device named by ``--device`` (``auto``: the first CUDA GPU if any, else the CPU)."""
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA GPU is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) present")
    return dev


@functools.cache
def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return fh.read()
    except OSError:
        return ""


def _cpu_has_fast_bf16() -> bool:
    flags = _cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def emulated_precision(precision: str, device_name: str) -> str:
    """A warning when ``--precision bf16`` is asked of a CPU without bfloat16 instructions
    (AVX512-BF16 or AMX), which emulates it: ``stylize`` at 256 px took 29.4 s against
    13.4 s in float32 on a 2-core Ice Lake Xeon.  "" otherwise (and for a GPU)."""
    if precision != "bf16" or _cpu_has_fast_bf16() or pick_device(device_name).type != "cpu":
        return ""
    return ("--precision bf16: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), "
            "so it is emulated, about 2x slower than float32; leave --precision at auto")


def fast_bf16_products(device: torch.device) -> bool:
    """Whether bfloat16 matrix products (the style term's Gram matrices) beat float32 ones
    here: on GPUs and on CPUs with AMX (3-4x at VGG-19's shapes).  With AVX512-BF16 alone
    they were 1.3-1.6x slower than float32 (oneDNN capped at that ISA), so there the
    features are multiplied in float32."""
    return device.type == "cuda" or (device.type == "cpu" and "amx_bf16" in _cpu_flags())


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` or ``fp32`` for this device; ``bf16`` and ``fp32`` unchanged."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if _cpu_has_fast_bf16() else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context of the network's forward pass for a resolved precision."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout a network's weights and activations should have on ``device``."""
    return torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format


def layout_of(net: nn.Module) -> torch.memory_format:
    """The layout of a network's convolution weights (channels-last or contiguous)."""
    for p in net.parameters():
        if p.dim() == 4:
            cl = p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
            return torch.channels_last if cl else torch.contiguous_format
    return torch.contiguous_format


def to_layout(x: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
    """``x`` in the layout ``fmt`` (a view or copy; the gradient flows back to ``x``)."""
    return x.contiguous(memory_format=fmt)


def module_device(net: nn.Module) -> torch.device:
    """The device of a module's parameters."""
    return next(net.parameters()).device


def from_state(build: Callable[[], M], state: Mapping[str, torch.Tensor]) -> M:
    """The module that ``build()`` makes, holding the tensors of ``state`` (its parameters and
    persistent buffers; floating point in float32, whatever torch's default type) instead
    of initial values.  It is built on the meta device, so no
    initial weights are drawn: the caller's random numbers stay as they were, and nothing is
    computed to be thrown away (and no Python reference code run, whose first use imports
    sympy: 1.7 s).  The tensors are shared, not copied, but for those made under
    ``torch.inference_mode()`` (:func:`ordinary`).  A buffer that is not in a state dict
    must be made on the CPU explicitly (``device="cpu"``), or it is left on the meta
    device."""
    with torch.device("meta"):
        net = build()
    net.load_state_dict({k: ordinary(v.float() if v.is_floating_point() else v)
                         for k, v in state.items()}, assign=True)
    left = [n for n, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
    if left:
        raise AssertionError(f"{left[0]}: not in the state, and made on the meta device")
    return net


def shapes_of(build: Callable[[], nn.Module]) -> dict[str, torch.Tensor]:
    """The state dict of the module that ``build()`` makes, on the meta device: the names,
    shapes and types of its tensors, with nothing allocated and no random numbers drawn."""
    with torch.device("meta"):
        return build().state_dict()


def ordinary(x: torch.Tensor) -> torch.Tensor:
    """``x``, copied outside inference mode when it was made in it (autograd cannot save such
    a tensor for the backward pass, nor make it a parameter)."""
    return x.clone() if x.is_inference() else x
