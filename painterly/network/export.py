"""``painterly export MODEL -o model.onnx``: a trained style network as an ONNX graph, to run
without painterly or torch (onnxruntime or any other ONNX runtime).

The graph computes :meth:`Network.run <painterly.network.network.Network.run>` in float32:

* input ``image``: float32, N x 3 x H x W, RGB in 0..1, any N, H and W (from 1 pixel);
* output ``stylized``: float32, N x 3 x H x W, RGB in 0..1, the input's size.

The network pads its input to a multiple of its stride (and at least its smallest side) by
reflection, or by repeating the edge where the picture is too small to reflect
(:func:`~.transform.pad_to`).  In Python that is a branch on the size; in the graph it is
arithmetic on the input's shape: the padded rows and columns are gathered through index
lists that pick reflection or repetition, so one graph gives ``Network.run``'s result at
every size (``tests/test_onnx.py`` checks sizes on and off the stride).

The model's description travels as ONNX ``metadata_props`` (strings): see :func:`metadata`.

Exported with torch's TorchScript-based exporter (``dynamo=False``): it needs only the
``onnx`` package besides torch and exports the default network in 0.7 s.  The
torch.export-based exporter needs onnxscript and onnx-ir as well, and the padding written for
symbolic sizes (``torch.sym_max``, not tensors); it gave the same results in 12 s (torch
2.13, measured on a 2-core CPU).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from ..images import atomic_write
from ..paths import check_output
from ..version import __version__
from .modelfile import ModelFile, load_model
from .transform import TransformNet, min_side

OPSET = 17  # run by onnxruntime 1.13 and later
INPUT, OUTPUT = "image", "stylized"
SHAPE = "N x 3 x H x W"
INSTALL = "pip install 'painterly[onnx]'"


class PaddedGraph(nn.Module):
    """:class:`TransformNet` with its padding written as tensor arithmetic on the input's
    shape, and the output clamped to 0..1, so that a traced graph holds for every size.

    Under the tracer the sizes read off ``x`` are tensors and every step below is recorded;
    called directly (eagerly) it gives the network's own result."""

    def __init__(self, net: TransformNet):
        super().__init__()
        self.net = net
        self.stride = 2 ** net.arch.downs
        self.smallest = min_side(net.arch.downs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        h_in, w_in = torch.as_tensor(h), torch.as_tensor(w)
        h_pad, w_pad = self._padded(h_in), self._padded(w_in)
        reflect = (h_pad - h_in < h_in) & (w_pad - w_in < w_in)  # as in TransformNet.forward
        x = x.index_select(2, _rows(h_in, h_pad, reflect))
        x = x.index_select(3, _rows(w_in, w_pad, reflect))
        return self.net.layers(x)[..., :h, :w].clamp(0, 1)

    def _padded(self, side: torch.Tensor) -> torch.Tensor:
        """:func:`~.transform.pad_to` on a tensor."""
        m = self.stride
        return torch.clamp((side + m - 1) // m * m, min=self.smallest)


def _rows(side: torch.Tensor, padded: torch.Tensor, reflect: torch.Tensor) -> torch.Tensor:
    """The source index of each of ``padded`` rows: the rows as they are, then the rows
    before the last one mirrored (reflection) or the last one repeated."""
    i = torch.arange(padded)
    last = side - 1
    mirrored = torch.where(i <= last, i, 2 * last - i)
    return torch.where(reflect, mirrored, torch.minimum(i, last))


def metadata(model: ModelFile) -> dict[str, str]:
    """The graph's ``metadata_props``: the style, the steps trained, the painterly versions
    that trained and exported it, the network's shape and layout, the training preset (empty
    for files written before presets), the input and output conventions, and
    ``painterly``: the model file's whole description (JSON)."""
    meta, arch = model.meta, model.arch
    style = meta.get("style")
    return {
        "style": str(style.get("name", "")) if isinstance(style, dict) else "",
        "steps": str(meta.get("steps", "")),
        "trained_with": f"painterly {meta.get('painterly_version', '?')}",
        "painterly_version": __version__,
        "network": f"width {arch.width}, blocks {arch.blocks}, downs {arch.downs}, "
                   f"down {arch.down}, up {arch.up}",
        "preset": str(meta.get("preset", "")),
        "stride": str(2 ** arch.downs),
        "input": f"{INPUT}: float32 {SHAPE}, RGB in 0..1, any N, H, W",
        "output": f"{OUTPUT}: float32 {SHAPE}, RGB in 0..1, the input's size",
        "painterly": json.dumps(meta, sort_keys=True),
    }


def to_onnx(model: ModelFile) -> Any:
    """The ONNX graph (an ``onnx.ModelProto``) of a model, float32 with dynamic N, H, W."""
    onnx = _onnx()
    graph = PaddedGraph(model.network().float()).eval()
    side = min_side(model.arch.downs) + 3  # any size: the traced steps do not depend on it
    buf = io.BytesIO()
    dims = {0: "N", 2: "H", 3: "W"}
    with warnings.catch_warnings():  # the exporter's notes on tracing and its deprecation
        warnings.simplefilter("ignore")
        x = torch.rand(1, 3, side, side + 1, generator=torch.Generator().manual_seed(0),
                       dtype=torch.float32)
        torch.onnx.export(graph, (x,), buf, dynamo=False,
                          opset_version=OPSET, input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: dims, OUTPUT: dims})
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = (f"painterly style network: {INPUT} ({SHAPE}, 0..1) -> {OUTPUT} "
                        f"(same size, 0..1)")
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model: str | os.PathLike, path: str | os.PathLike,
                overwrite: bool = False) -> Path:
    """Write the ONNX graph of the model file ``model`` to ``path`` (``.onnx``) atomically.
    Every problem a user can cause (onnx missing, a bad model file, an unwritable path, a
    file already there unless ``overwrite``) raises a one-line
    :class:`~painterly.errors.PainterlyError` before anything is written."""
    _onnx()
    if Path(path).suffix.lower() != ".onnx":
        raise UsageError(f"-o {path}: give a file name ending in .onnx")
    check_output(path, "-o", inputs=[model], overwrite=overwrite)
    data = to_onnx(load_model(model)).SerializeToString()
    with atomic_write(path) as fh:
        fh.write(data)
    return Path(path)


def _onnx():
    try:
        import onnx
    except ImportError:
        raise UsageError(f"ONNX export needs the onnx package: {INSTALL}") from None
    return onnx
