"""Model files of style networks: the tensors in safetensors, everything else as JSON.

One file, ``NAME.safetensors`` by convention.  Its header metadata (string to string, as
the safetensors format allows) holds:

* ``painterly``: the JSON description: format version, the method's kind (``network``:
  :mod:`painterly.methods` hands the file to this room), architecture (kind, width, blocks,
  downs, down, up: an arch without down and up, as files written before them, is the
  stride-2 layout with nearest upsampling), the training preset, the style image's name,
  sha256 and a small PNG thumbnail (base64), the training options, the steps trained and
  the painterly version;
* ``sha256``: a digest of that JSON text and of every tensor (name, dtype, shape, bytes),
  so that a file changed after it was written is refused.

Reading parses the header as JSON and the tensors as raw numbers (safetensors): nothing in
the file is ever executed, and no pickle is involved.  Every problem (missing, truncated,
foreign, modified, wrong shapes) raises :class:`ModelError`, one line for the user.

Training checkpoints use the same format with more tensors (``opt.*``: the optimizer's
state) and a ``resume`` entry in the JSON.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..device import from_state, shapes_of
from ..errors import PainterlyError
from ..filekinds import HEAD, read_limited, what_is
from ..images import atomic_write
from .transform import KIND, Arch, TransformNet

FORMAT = "painterly-style-network"
FAST_FORMAT = "painterly-fast-model"  # the any-painting model's files (said, not read)
FORMAT_VERSION = 1
METHOD_KIND = "network"  # the room that loads these files (painterly.methods); older files
# do not name it
MAX_HEADER = 16 * 2 ** 20  # a painterly header is a few kB (the thumbnail); refuse huge ones
MAX_BYTES = 2 ** 30  # the largest network with its optimizer state is far below this
FLOATS = ("F32", "BF16", "F16", "F64")
OLD_LAYOUT = {"down": "stride", "up": "nearest"}  # what an arch without these keys means
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64,
          "U8": torch.uint8, "F64": torch.float64}


class ModelError(PainterlyError):
    """A model file that is missing, damaged, foreign or inconsistent (exit status 2)."""


@dataclass
class ModelFile:
    """What a model file holds."""

    arch: Arch
    state: dict[str, torch.Tensor]  # the network's parameters and buffers
    meta: dict[str, Any]  # the JSON description (style, training, steps, version, ...)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # checkpoints: opt.* etc.

    def network(self) -> TransformNet:
        net = from_state(lambda: TransformNet(self.arch), self.state)  # no weights drawn
        return net.eval().requires_grad_(False)


def thumbnail_png(x: torch.Tensor, side: int = 96) -> str:
    """A 1 x 3 x H x W image in 0..1 as a small base64 PNG (for the metadata)."""
    from ..images import fit_longest, resize_tensor, to_pil

    w, h = fit_longest(x.shape[-1], x.shape[-2], side)
    buf = io.BytesIO()
    to_pil(resize_tensor(x.float().cpu(), (h, w))).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _digest(meta_text: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\n{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def encode(net_or_state: TransformNet | dict[str, torch.Tensor], arch: Arch,
           meta: dict[str, Any], extra: dict[str, torch.Tensor] | None = None) -> bytes:
    """The bytes of a model file."""
    from safetensors.torch import save

    state = net_or_state.state_dict() if isinstance(net_or_state, torch.nn.Module) \
        else net_or_state
    tensors = {f"net.{k}": v.detach().float().cpu().contiguous() for k, v in state.items()}
    for k, v in (extra or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": METHOD_KIND,
            "arch": arch.to_dict(), **meta}
    text = json.dumps(full, sort_keys=True, allow_nan=False)  # strict JSON: never NaN
    return save(tensors, metadata={"painterly": text, "sha256": _digest(text, tensors)})


def save_model(path: str | os.PathLike, net_or_state: TransformNet | dict[str, torch.Tensor],
               arch: Arch, meta: dict[str, Any],
               extra: dict[str, torch.Tensor] | None = None) -> Path:
    """Write a model file atomically (a temporary name in the folder, then renamed)."""
    data = encode(net_or_state, arch, meta, extra)
    with atomic_write(path) as fh:
        fh.write(data)
    return Path(path)


def _header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise ModelError(f"{name}: not a painterly model file (too short: {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if data[8:9] != b"{" or n < 2:
        raise _foreign(data, name)
    if n > MAX_HEADER:
        raise ModelError(f"{name}: its header claims {n:,} bytes (a model's is a few kB); "
                         f"the file is damaged or not a painterly model file")
    if 8 + n > len(data):
        raise ModelError(f"{name}: the file is truncated; copy or train it again")
    try:
        head = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ModelError(f"{name}: the file's header is damaged") from None
    if not isinstance(head, dict):
        raise ModelError(f"{name}: the file's header is damaged")
    return head


def _header_size(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


def _tensor_bytes(head: dict[str, Any]) -> int:
    """The bytes the header's tensors take after it (safetensors: the largest end offset);
    -1 where the header does not say it in numbers."""
    try:
        return max((int(v["data_offsets"][1]) for k, v in head.items()
                    if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return -1


def _parse_arch(a: Any, name: str) -> Arch:
    if not isinstance(a, dict) or "kind" not in a:  # not a kind it does not know: none
        raise ModelError(f"{name}: the description does not give the network's architecture "
                         f"('arch' with its 'kind'); the file is damaged or was not written by "
                         f"painterly")
    if a.get("kind") != KIND:
        raise ModelError(f"{name}: unknown network kind {a.get('kind')!r}; a newer painterly "
                         f"may read it")
    try:
        vals = {k: a[k] for k in ("width", "blocks", "downs")}
    except KeyError as e:
        raise ModelError(f"{name}: the description lacks {e.args[0]!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals.values()):
        raise ModelError(f"{name}: the network's shape is not given as whole numbers")
    layout = {k: a.get(k, OLD_LAYOUT[k]) for k in OLD_LAYOUT}  # older files: the old layout
    if not all(isinstance(v, str) for v in layout.values()):
        raise ModelError(f"{name}: the network's layout (down, up) is not given as names")
    try:
        return Arch(**vals, **layout).check()
    except PainterlyError as e:
        raise ModelError(f"{name}: {e}") from None


def decode(data: bytes, name: str = "model") -> ModelFile:
    """Parse and check the bytes of a model file; :class:`ModelError` on any problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    head = _header(data, name)
    info = head.get("__metadata__")
    if not isinstance(info, dict) or "painterly" not in info:
        raise ModelError(f"{name}: a safetensors file, but not a painterly style network")
    try:
        meta = json.loads(info["painterly"])
    except (TypeError, ValueError, RecursionError):
        raise ModelError(f"{name}: the description in the file is damaged") from None
    if isinstance(meta, dict) and meta.get("format") == FAST_FORMAT:
        raise ModelError(f"{name}: the any-painting model, made by 'painterly train-fast', not a "
                         f"style network of 'painterly train': it paints with 'painterly "
                         f"stylize PHOTO PAINTING -o OUT --method fast --fast-model {name}', "
                         f"is continued by 'train-fast --resume' and is not exported")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or meta.get("kind", METHOD_KIND) != METHOD_KIND:
        raise ModelError(f"{name}: not a painterly style network")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{name}: model format version {meta.get('format_version')!r} is not "
                         f"{FORMAT_VERSION}; use the painterly version that wrote it")
    for k, v in head.items():  # dtypes we can read, before handing the bytes over
        if k != "__metadata__" and (not isinstance(v, dict) or v.get("dtype") not in DTYPES):
            raise ModelError(f"{name}: tensor {k!r} has an unsupported type; the file is "
                             f"damaged or was not written by painterly")
        if str(k).startswith("net.") and v.get("dtype") not in FLOATS:
            raise ModelError(f"{name}: tensor {k!r} is stored as {v.get('dtype')}, not as "
                             f"floating point; the file is damaged or was not written by "
                             f"painterly")
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        msg = "truncated" if "incomplete" in str(e).lower() or "size" in str(e).lower() \
            else "damaged"
        if msg == "truncated" and 0 <= _tensor_bytes(head) < len(data) - 8 - _header_size(data):
            msg = "longer than its tensors (bytes were added at its end)"
        raise ModelError(f"{name}: the file is {msg}; copy or train it again") from None
    if _digest(info["painterly"], tensors) != info.get("sha256"):
        raise ModelError(f"{name}: the file was modified after it was written (checksum "
                         f"mismatch); use the original")
    arch = _parse_arch(meta.get("arch"), name)
    extra = {k: v for k, v in tensors.items() if not k.startswith("net.")}
    return ModelFile(arch, _network_state(tensors, arch, name), meta, extra)


def _network_state(tensors: dict[str, torch.Tensor], arch: Arch, name: str
                   ) -> dict[str, torch.Tensor]:
    """The network's tensors of a file (``net.*``), checked against the architecture and
    made float32; a first version's extra biases dropped."""
    extra = [k for k in tensors if not k.startswith("net.")]
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    want = shapes_of(lambda: TransformNet(arch))
    dropped = _norm_removes(state, want)
    if dropped and any(k.startswith("opt.") for k in extra):  # its Adam state by position
        raise ModelError(f"{name}: a checkpoint of painterly's first version (a bias in every "
                         f"convolution), whose optimizer state does not fit this version's "
                         f"network; train afresh (--overwrite), or apply its model file")
    for k in dropped:
        del state[k]
    missing = sorted(set(want) - set(state))
    unknown = sorted(set(state) - set(want))
    if missing or unknown:
        which = missing[0] if missing else unknown[0]
        raise ModelError(f"{name}: the tensors do not fit a {arch.width}-wide network "
                         f"({'missing' if missing else 'unexpected'} {which!r})")
    for k, t in want.items():
        if tuple(state[k].shape) != tuple(t.shape):
            raise ModelError(f"{name}: tensor {k!r} has shape {tuple(state[k].shape)}, the "
                             f"network needs {tuple(t.shape)}")
        if not torch.isfinite(state[k].float()).all():
            raise ModelError(f"{name}: the network is damaged (tensor {k!r} holds NaN or "
                             f"infinite values: its training diverged); train it again, with "
                             f"a lower --lr")
        state[k] = state[k].float()  # float32 whatever torch's default type
    return state


def _norm_removes(state: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> list[str]:
    """The biases of convolutions that the network has without one: files of painterly's
    first version kept a bias in every convolution, and the instance norm that follows each
    of them (all but the last, which keeps its bias) subtracts every channel's mean, so the
    bias changes nothing and is left out (the same pictures, to float rounding)."""
    out = []
    for k, t in state.items():
        conv = k[: -len(".bias")] + ".weight" if k.endswith(".bias") else None
        if conv is None or k in want or conv not in want or want[conv].dim() != 4:
            continue
        if tuple(t.shape) == (want[conv].shape[0],):
            out.append(k)
    return out


def load_model(path: str | os.PathLike) -> ModelFile:
    """Read and check a model file (see :func:`decode`): a special file is refused by type
    and a huge one by size before any read; a known other kind of file (an ONNX graph, an
    image, an archive, text) is named."""
    try:
        data = read_limited(path, MAX_BYTES)
    except PainterlyError as e:
        msg = str(e).replace(": no such file", ": no such model file")
        raise ModelError(msg) from None
    return decode(data, str(path))


def _foreign(data: bytes, name: str) -> ModelError:
    """The error for bytes that are not a safetensors file: what they are, what to do."""
    kind = what_is(data[:HEAD], name)
    todo = "give the .safetensors file that 'painterly train' wrote"
    if kind == "an ONNX graph":
        return ModelError(f"{name}: an ONNX graph (as 'painterly export' writes), not a "
                          f"painterly model file; {todo} (run the graph with onnxruntime)")
    if kind:
        return ModelError(f"{name}: {kind}, not a painterly model file; {todo}")
    return ModelError(f"{name}: not a painterly model file (no safetensors header); {todo}")
