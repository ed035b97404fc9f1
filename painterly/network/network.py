"""The in-process API of trained style networks: load once, stylize many images.

>>> net = painterly.Network.load("starry.safetensors")
>>> net.stylize("photo.jpg", size=1024).save("out.png")

Inference path (chosen by measurement, ``benchmarks/nets_speed.py``): on bfloat16 hardware
(``--precision auto``) the weights are converted to bfloat16 once and the activations kept
channels-last, which oneDNN and cuDNN run fastest.  In float32 on the CPU, onnxruntime runs
the network's ONNX graph (:func:`~.export.to_onnx`, built in memory at load) where it is
installed (``--runtime auto``); otherwise torch, float32, channels-last.
"""

from __future__ import annotations

import numbers
import operator
import os

import torch
from PIL import Image

from .. import color
from ..config import KEYWORDS, make
from ..device import pick_device, resolve_precision
from ..errors import ImageError, UsageError
from ..images import (
    ImageLike,
    LoadedImage,
    check_content,
    fit_longest,
    load_image,
    resize_tensor,
    to_pil,
    to_tensor,
)
from .export import INPUT, INSTALL, to_onnx
from .modelfile import ModelFile, load_model
from .options import PRESERVE, ApplyOptions
from .transform import TransformNet


class Network:
    """A trained style network held on a device, ready to stylize."""

    def __init__(self, model: ModelFile | str | os.PathLike, device: str = "auto",
                 precision: str = "auto", runtime: str = "auto"):
        make(ApplyOptions, spelling=KEYWORDS, precision=precision, runtime=runtime)  # checked
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        elif not isinstance(model, ModelFile):
            raise TypeError(f"Network takes a model file's path (or a loaded ModelFile), "
                            f"not {type(model).__name__}")
        self.model = model
        self.device = pick_device(device)
        if runtime == "onnxruntime":
            check_onnxruntime(self.device, precision)
            precision = "fp32"
        self.precision = resolve_precision(precision, self.device)
        if runtime == "auto":
            ort = self.precision == "fp32" and self.device.type == "cpu" and has_onnxruntime()
            runtime = "onnxruntime" if ort else "torch"
        self.runtime = runtime  # "torch" or "onnxruntime": what runs the network
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        net = model.network().to(self.device, self.dtype)
        self.net: TransformNet = net.to(memory_format=torch.channels_last)
        self._session = ort_session(model) if runtime == "onnxruntime" else None

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto", precision: str = "auto",
             runtime: str = "auto") -> Network:
        """Read a model file (checked; see :mod:`painterly.network.modelfile`)."""
        return cls(load_model(path), device, precision, runtime)

    def __getstate__(self) -> dict:
        """Pickling and ``copy.deepcopy``: onnxruntime's session cannot be pickled; it is
        left out and built again from the model when the copy is made."""
        state = dict(self.__dict__)
        state["_session"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.runtime == "onnxruntime":
            self._session = ort_session(self.model)

    @property
    def meta(self) -> dict:
        """The model file's description: style, training options, steps, version."""
        return self.model.meta

    @torch.no_grad()
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a batch B x 3 x H x W in 0..1 -> B x 3 x H x W in 0..1 (float32,
        on the network's device): an ordinary tensor without gradient, which the caller may
        change in place or use beside tensors that need one (not an inference-mode tensor,
        which refuses both)."""
        _check_batch(x)
        if self._session is not None:
            a = x.detach().to("cpu", torch.float32).contiguous().numpy()
            return torch.from_numpy(self._session.run(None, {INPUT: a})[0])
        x = x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        return self.net(x).float().clamp_(0, 1).contiguous()

    @property
    def stride(self) -> int:
        """The network's total downsampling: its output is the same for inputs shifted by a
        multiple of this, and differs for other shifts (the texture's phase on the grid)."""
        return 2 ** self.net.arch.downs

    @torch.no_grad()
    def transform_at(self, x: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
        """:meth:`transform` with the picture placed ``ox``, ``oy`` pixels (0 .. stride-1) right
        and down on the network's grid: the input is padded by reflection on the left and
        top, the output cropped back to ``x``'s size."""
        _check_batch(x)
        ox, oy = (_offset(v, k, self.stride) for k, v in (("ox", ox), ("oy", oy)))
        if not (ox or oy):
            return self.transform(x)
        h, w = x.shape[-2:]
        mode = "reflect" if ox < w and oy < h else "replicate"
        y = self.transform(torch.nn.functional.pad(x.float(), (ox, 0, oy, 0), mode=mode))
        return y[..., oy:oy + h, ox:ox + w]

    run, run_at = transform, transform_at  # the names of earlier versions

    def finish(self, y: torch.Tensor, photo: torch.Tensor, preserve_color: str = "none",
               strength: float = 1.0) -> torch.Tensor:
        """Colour preservation and blending with the photo (both B x 3 x H x W, 0..1).
        ``preserve_color`` is none or luminance and ``strength`` 0..1, as for
        :meth:`stylize` (another value was taken as none, or blended past the photo)."""
        if preserve_color not in PRESERVE:
            raise UsageError(f"preserve_color={preserve_color!r} is not one of "
                             f"{', '.join(PRESERVE)}")
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) \
                or not 0.0 <= strength <= 1.0:
            raise UsageError(f"strength={strength!r} is not a number from 0 to 1")
        if y.shape != photo.shape:
            raise ImageError(f"Network.finish takes a picture and its photo of one shape; got "
                             f"{tuple(y.shape)} and {tuple(photo.shape)}")
        photo = photo.to(y.device, torch.float32)
        if preserve_color == "luminance":
            y = torch.cat([color.recombine(color.luminance(y[i:i + 1]), photo[i:i + 1])
                           for i in range(y.shape[0])])
        if strength < 1.0:
            y = strength * y + (1.0 - strength) * photo
        return y.clamp(0, 1)

    def stylize(self, image: ImageLike | LoadedImage, size: int | None = None,
                preserve_color: str = "none", strength: float = 1.0) -> Image.Image:
        """Stylize one image (path, bytes, PIL, array or tensor); ``size`` is the output's
        longest side (default: the image's own).  Returns a PIL image (RGBA if it had alpha)."""
        o = make(ApplyOptions, spelling=KEYWORDS, size=0 if size is None else size,
                 preserve_color=preserve_color, strength=strength)
        img = check_content(image if isinstance(image, LoadedImage) else load_image(image),
                            o.size or None)
        x = photo_tensor(img, o.size or None)  # 0: the picture's own size, as for apply
        y = self.finish(self.transform(x), x, o.preserve_color, o.strength)
        return to_pil(y.cpu(), img.alpha)


def _check_batch(x: object) -> None:
    """A batch the network takes: a float tensor B x 3 x H x W, or a TypeError or ImageError
    in one line (a uint8 picture gave garbage without a word; its values are not read, which
    would wait for a GPU every frame)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"Network.transform takes a tensor B x 3 x H x W, not "
                        f"{type(x).__name__}; Network.stylize takes a picture of any kind")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ImageError(f"Network.transform takes a batch B x 3 x H x W; got shape "
                         f"{tuple(x.shape)}")
    if 0 in x.shape[2:]:
        raise ImageError(f"Network.transform takes pictures of at least 1 x 1 pixel; got "
                         f"shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ImageError(f"Network.transform takes floats in 0..1; got {x.dtype} (divide a "
                         f"0..255 picture by 255)")


def _offset(v: object, name: str, stride: int) -> int:
    """An offset of :meth:`Network.transform_at`: a whole number of pixels, 0 .. stride-1 (a
    negative one cropped the picture: an 8 x 8 picture came back 8 x 1)."""
    try:
        i = operator.index(v) if not isinstance(v, bool) else None
    except TypeError:
        i = None
    if i is None or not 0 <= i < stride:
        raise UsageError(f"Network.transform_at: {name}={v!r} is not a whole number of pixels "
                         f"from 0 to {stride - 1} (the network's stride is {stride})")
    return i


def has_onnxruntime() -> bool:
    """Whether onnxruntime and onnx (the ``onnx`` extra) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def check_onnxruntime(device: torch.device, precision: str) -> None:
    """``--runtime onnxruntime`` runs float32 on the CPU, with the ``onnx`` extra."""
    if precision == "bf16":
        raise UsageError("--runtime onnxruntime runs float32 only: leave out --precision bf16 "
                         "or use --runtime torch")
    if device.type != "cpu":
        raise UsageError(f"--runtime onnxruntime runs on the CPU, not {device}: add --device "
                         f"cpu or use --runtime torch")
    if not has_onnxruntime():
        raise UsageError(f"--runtime onnxruntime needs onnxruntime and onnx: {INSTALL}")


def ort_session(model: ModelFile):
    """An onnxruntime session (CPU) of the model's graph, built in memory, on as many threads
    as torch uses; idle threads sleep at once rather than spin."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(to_onnx(model).SerializeToString(), opts,
                                        providers=["CPUExecutionProvider"])


def photo_tensor(img: LoadedImage, size: int | None) -> torch.Tensor:
    """1 x 3 x H x W of the image, its longest side resized to ``size`` (None: as it is)."""
    x = to_tensor(img.rgb)
    if size is None:
        return x
    w, h = fit_longest(*img.size, size)
    return resize_tensor(x, (h, w))
