"""Files of the fast model: the tensors in safetensors, everything else as JSON.

The header metadata holds ``painterly`` (the JSON description: format, architecture, how
the model was made: photos, steps, time, painterly version) and ``sha256``, a digest of that
text and of every tensor, so a file changed after it was written is refused.  Nothing in
the file is executed (no pickle).  Every problem raises :class:`FastModelError`, one line.
Training checkpoints are model files with more tensors (``opt.*``, the optimizer state).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..device import from_state, shapes_of
from ..errors import PainterlyError
from ..images import atomic_write
from .model import KIND, FastArch, FastNet

FORMAT = "painterly-fast-model"
NETWORK_FORMAT = "painterly-style-network"  # a style network's files (said, not read)
FORMAT_VERSION = 1
MAX_HEADER = 16 * 2 ** 20
DTYPES = ("F32", "BF16", "F16", "F64", "I64")
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "fast.safetensors"


class FastModelError(PainterlyError):
    """A fast model file that is missing, damaged, foreign or inconsistent (exit 2)."""


@dataclass
class FastModelFile:
    arch: FastArch
    state: dict[str, torch.Tensor]
    meta: dict[str, Any]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    digest: str = ""

    def network(self) -> FastNet:
        net = from_state(lambda: FastNet(self.arch), self.state)  # no initial weights drawn
        return net.eval().requires_grad_(False)


def digest(meta_text: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\n{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def encode(state: dict[str, torch.Tensor], arch: FastArch, meta: dict[str, Any],
           extra: dict[str, torch.Tensor] | None = None, dtype: torch.dtype = torch.float32
           ) -> bytes:
    """The bytes of a model file (the network's tensors in ``dtype``)."""
    from safetensors.torch import save

    tensors = {f"net.{k}": v.detach().to(dtype).cpu().contiguous() for k, v in state.items()}
    tensors.update({k: v.detach().cpu().contiguous() for k, v in (extra or {}).items()})
    text = json.dumps({**meta, "format": FORMAT, "format_version": FORMAT_VERSION,
                       "kind": "fast", "arch": arch.to_dict()}, sort_keys=True)
    return save(tensors, metadata={"painterly": text, "sha256": digest(text, tensors)})


def save_fast(path: str | os.PathLike, state: dict[str, torch.Tensor], arch: FastArch,
              meta: dict[str, Any], extra: dict[str, torch.Tensor] | None = None,
              dtype: torch.dtype = torch.float32) -> Path:
    """Write a model file atomically (a temporary name, then renamed)."""
    data = encode(state, arch, meta, extra, dtype)
    with atomic_write(path) as fh:
        fh.write(data)
    return Path(path)


def _header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise FastModelError(f"{name}: not a painterly fast model file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > MAX_HEADER or data[8:9] != b"{":
        raise FastModelError(f"{name}: not a painterly fast model file (no safetensors header)")
    if 8 + n > len(data):
        raise FastModelError(f"{name}: the file is truncated; copy or export it again")
    try:
        head = json.loads(data[8:8 + n])
        info = head["__metadata__"]
        meta = json.loads(info["painterly"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise FastModelError(f"{name}: not a painterly fast model file") from None
    if isinstance(meta, dict) and meta.get("format") == NETWORK_FORMAT:
        raise FastModelError(f"{name}: a style network, made by 'painterly train', not the "
                             f"any-painting model of 'painterly train-fast': it paints with "
                             f"'painterly apply {name} PHOTO -o OUT' and is continued by "
                             f"'train --resume'")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FastModelError(f"{name}: not a painterly fast model file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise FastModelError(f"{name}: fast model format version "
                             f"{meta.get('format_version')!r} is not {FORMAT_VERSION}; use "
                             f"the painterly version that wrote it")
    for k, v in head.items():
        if k != "__metadata__" and (not isinstance(v, dict) or v.get("dtype") not in DTYPES):
            raise FastModelError(f"{name}: tensor {k!r} has an unsupported type")
    return {"meta": meta, "text": info["painterly"], "sha256": info.get("sha256")}


def _arch(a: Any, name: str) -> FastArch:
    if not isinstance(a, dict) or a.get("kind") != KIND:
        raise FastModelError(f"{name}: unknown fast model kind "
                             f"{a.get('kind') if isinstance(a, dict) else None!r}")
    w, s, act = a.get("widths"), a.get("statistic"), a.get("act", "relu")
    if not isinstance(w, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                          for v in w) or not isinstance(s, str):
        raise FastModelError(f"{name}: the model's shape is not readable")
    try:
        return FastArch(tuple(w), s, act).check()
    except PainterlyError as e:
        raise FastModelError(f"{name}: {e}") from None


def decode(data: bytes, name: str = "model") -> FastModelFile:
    """Parse and check the bytes of a model file; :class:`FastModelError` on any problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    head = _header(data, name)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError):
        raise FastModelError(f"{name}: the file is truncated or damaged; copy or export it "
                             f"again") from None
    if digest(head["text"], tensors) != head["sha256"]:
        raise FastModelError(f"{name}: the file was modified after it was written (checksum "
                             f"mismatch); use the original")
    arch = _arch(head["meta"].get("arch"), name)
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    want = shapes_of(lambda: FastNet(arch))
    if set(state) != set(want):
        odd = sorted(set(state) ^ set(want))[0]
        raise FastModelError(f"{name}: the tensors do not fit the model ({odd!r})")
    for k, t in want.items():
        if tuple(state[k].shape) != tuple(t.shape) or not torch.isfinite(state[k]).all():
            raise FastModelError(f"{name}: tensor {k!r} has the wrong shape or bad values")
        state[k] = state[k].float()  # float32 whatever torch's default type
    extra = {k: v for k, v in tensors.items() if not k.startswith("net.")}
    return FastModelFile(arch, state, head["meta"], extra, head["sha256"])


def load_fast(path: str | os.PathLike) -> FastModelFile:
    """Read and check a model file (see :func:`decode`)."""
    p = Path(path)
    if not p.is_file():
        raise FastModelError(f"{path}: no such fast model file" if not p.exists() else
                             f"{path}: not a file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise FastModelError(f"{path}: cannot read ({e.strerror or e})") from None
    return decode(data, str(path))


def export(checkpoint: str | os.PathLike, out: str | os.PathLike = SHIPPED,
           planned_steps: int | None = None) -> Path:
    """Write the model of a training checkpoint (or model file) without the optimizer
    state, saying in its metadata when it was exported and whether it is an intermediate
    model (fewer steps than ``planned_steps``, default: the run's own ``--steps``)."""
    import time

    mf = load_fast(checkpoint)
    steps = int(mf.meta.get("steps", 0))
    planned = planned_steps or int(mf.meta.get("training", {}).get("steps", steps))
    meta = {**mf.meta, "intermediate": steps < planned, "planned_steps": planned,
            "exported_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return save_fast(out, mf.state, mf.arch, meta)
