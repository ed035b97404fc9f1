"""A frozen VGG feature extractor with named layers, truncated at the deepest layer needed.

Layer names follow the paper: ``conv4_2`` (before its ReLU), ``relu4_2`` (after) and
``pool3``.  Keras-style names are accepted too: ``block4_conv2`` means ``relu4_2`` (a Keras
conv layer includes its ReLU), ``block4_relu2`` means ``relu4_2`` and ``block3_pool`` means
``pool3``.  The network takes RGB images in 0..1 and applies the preprocessing its weights
were trained with (Caffe: BGR 0..255 minus the mean pixel; torchvision: ImageNet mean/std).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import winograd
from .device import from_state
from .errors import UsageError

ARCHS = {
    "vgg19": (2, 2, 4, 4, 4),  # convolutions per block
    "vgg16": (2, 2, 3, 3, 3),
}
CHANNELS = (64, 128, 256, 512, 512)  # output channels of each block's convolutions

# input conventions of the two kinds of weights (see painterly/weights.py)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


@dataclass
class VGGWeights:
    """Convolution weights by name (``conv1_1.weight`` ...) and how inputs must be prepared:
    ``caffe`` (BGR 0..255 minus the mean pixel) or ``torch`` (RGB 0..1, ImageNet mean/std).
    Loaded, fetched and checked by :mod:`painterly.weights`."""

    arch: str  # vgg19 | vgg16
    preprocess: str  # caffe | torch
    state: dict[str, torch.Tensor]
    source: str
    # Winograd kernels of the float32 convolutions by layer name (painterly/winograd.py),
    # made on first use and shared by every feature extractor built from these weights
    kernels: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    def describe(self) -> str:
        conv = "BGR 0..255 minus mean pixel" if self.preprocess == "caffe" else \
            "RGB 0..1, ImageNet mean/std"
        return f"{self.arch.upper()} ({conv}) from {self.source}"


def conv_names(arch: str) -> list[str]:
    """The convolutions of an architecture in order: conv1_1, conv1_2, conv2_1, ..."""
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(ARCHS[arch]) for i in range(n)]


def layer_names(arch: str = "vgg19") -> list[str]:
    """All layer names of the network in order."""
    names = []
    for b, n in enumerate(ARCHS[arch], start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


def canonical(name: str, arch: str = "vgg19") -> str:
    """Map any accepted spelling of a layer to its canonical name, or raise UsageError."""
    n = name.strip().lower()
    if m := re.fullmatch(r"block(\d)_(?:conv|relu)(\d)", n):
        n = f"relu{m.group(1)}_{m.group(2)}"
    elif m := re.fullmatch(r"block(\d)_pool", n):
        n = f"pool{m.group(1)}"
    if n not in layer_names(arch):
        raise UsageError(f"unknown layer '{name}' for {arch} (use names such as conv4_2, "
                         f"relu4_2, pool3 or block4_conv2)")
    return n


def receptive_field(name: str, arch: str = "vgg19") -> int:
    """Side in input pixels of the square that one feature of layer ``name`` sees (3x3
    convolutions with stride 1 add two steps each, 2x2 pools add one and double the step):
    relu1_1 3, relu2_1 10, relu3_1 24, relu4_1 68, relu5_1 156 for VGG-19."""
    target = canonical(name, arch)
    rf, step = 1, 1
    for n in layer_names(arch):
        if n.startswith("conv"):
            rf += 2 * step
        elif n.startswith("pool"):
            rf += step
            step *= 2
        if n == target:
            return rf
    raise AssertionError(target)  # canonical() accepted the name, so it is in the list


class VGGFeatures(nn.Module):
    """VGG convolutional layers up to ``last``; returns the requested features by name."""

    def __init__(self, weights: VGGWeights, last: str, pooling: str = "max",
                 winograd_convs: bool = True):
        super().__init__()
        self.winograd = winograd_convs  # False: every convolution direct (comparisons)
        self._kernels = weights.kernels  # shared: one copy however many extractors
        self.arch = weights.arch
        self.preprocess = weights.preprocess
        names = layer_names(self.arch)
        last = canonical(last, self.arch)
        self.names = names[: names.index(last) + 1]
        self.convs = nn.ModuleDict()
        f32 = torch.float32  # whatever torch's default type: the weights' and inputs' type
        for name in self.names:
            if name.startswith("conv"):
                w = weights.state[f"{name}.weight"]
                self.convs[name] = from_state(  # given the weights, none drawn
                    lambda w=w: nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1),
                    {"weight": w, "bias": weights.state[f"{name}.bias"]})
        self.pooling = pooling
        if self.preprocess == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR, dtype=f32).flip(0) / 255.0  # as RGB in 0..1
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0, dtype=f32))
            self.register_buffer("mean", mean.view(1, 3, 1, 1))
        else:
            self.register_buffer("scale", 1.0 / torch.tensor(TORCH_STD, dtype=f32).view(1, 3, 1, 1))
            self.register_buffer("mean", torch.tensor(TORCH_MEAN, dtype=f32).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """RGB 0..1 -> the network's input convention."""
        y = (x - self.mean) * self.scale
        if self.preprocess == "caffe":
            y = y.flip(1)  # RGB -> BGR
        return y

    def forward(self, x: torch.Tensor, layers: set[str] | list[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        h = self.prepare(x)
        for name in self.names:
            kind = name[:4]
            if kind == "conv":
                h = self._conv(name, h)
            elif kind == "relu":
                h = F.relu(h, inplace=name not in wanted and _prev(name) not in wanted)
            else:
                h = F.max_pool2d(h, 2, ceil_mode=True) if self.pooling == "max" else \
                    F.avg_pool2d(h, 2, ceil_mode=True)
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return out


    def _conv(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """One convolution: by Winograd's algorithm where it is the faster (float32 on the
        CPU, enough channels: painterly/winograd.py), its kernel made once for the weights."""
        conv = self.convs[name]
        if not (self.winograd and winograd.applies(h, conv.weight)):
            return conv(h)
        if name not in self._kernels:
            self._kernels[name] = winograd.kernel(conv.weight)
        return winograd.conv3x3(h, self._kernels[name], conv.bias)


def _prev(relu_name: str) -> str:
    return "conv" + relu_name[4:]


def build(weights: VGGWeights, layers: list[str], pooling: str = "max",
          winograd_convs: bool = True) -> VGGFeatures:
    """A feature extractor for the given (already canonical) layers."""
    order = layer_names(weights.arch)
    last = max(layers, key=order.index)
    return VGGFeatures(weights, last, pooling, winograd_convs)
