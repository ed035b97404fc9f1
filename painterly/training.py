"""What training on photos shares, whatever is trained (a style network, the fast model):
held-out photos, random crops that repeat whatever the number of processes, the stop flag of
Ctrl-C and SIGTERM, and the optimizer state kept in checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .errors import ImageError
from .images import fit_longest, load_image, resize_tensor, to_tensor
from .inputs import warn

CACHE_BYTES = 2 * 2 ** 30  # photos kept decoded in memory up to this much


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside, the CPU's random numbers start from ``seed`` (a new network's initial weights:
    the same for a seed); after, the process's random numbers are as they were before."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


def split_photos(files: list[Path], holdout: int, seed: int) -> tuple[list[Path], list[Path]]:
    """(training photos, held-out photos), the held-out ones drawn by the seed (the caller
    checks that ``holdout`` is fewer than the photos)."""
    held = set(random.Random(seed).sample(range(len(files)), holdout))
    return ([f for i, f in enumerate(files) if i not in held],
            [f for i, f in enumerate(files) if i in held])


class Crops(Dataset):
    """Random square crops (and flips) of photos resized to a longest side.

    Item i in epoch e depends only on (seed, e, i).  Decoded photos are kept in memory (as
    8-bit) while they fit in CACHE_BYTES."""

    def __init__(self, files: list[Path], photo_size: int, crop: int, seed: int):
        self.files, self.photo_size, self.crop, self.seed = files, photo_size, crop, seed
        self.epoch = 0
        self._cache: dict[int, torch.Tensor] = {}
        self._bytes = 0
        self.bad: set[int] = set()  # photos found damaged when decoded

    def __len__(self) -> int:
        return len(self.files)

    def photo(self, i: int) -> torch.Tensor:
        """3 x H x W uint8, longest side photo_size and shortest at least the crop."""
        if i in self._cache:
            return self._cache[i]
        img = load_image(self.files[i])
        w, h = fit_longest(*img.size, self.photo_size)
        if min(w, h) < self.crop:
            s = self.crop / min(w, h)
            w, h = max(self.crop, round(w * s)), max(self.crop, round(h * s))
        x = resize_tensor(to_tensor(img.rgb), (h, w))[0]
        q = (x * 255 + 0.5).clamp(0, 255).to(torch.uint8)
        if self._bytes + q.numel() <= CACHE_BYTES:
            self._cache[i] = q
            self._bytes += q.numel()
        return q

    def usable(self, i: int) -> tuple[int, torch.Tensor]:
        """Photo ``i``, or the next one that can be used, and its index: a photo damaged
        behind a good header, or of one flat colour, is skipped with one warning line (and
        not tried again)."""
        n = len(self.files)
        for j in ((i + k) % n for k in range(n)):
            if j in self.bad:
                continue
            try:
                x = self.photo(j)
            except ImageError as e:
                self.bad.add(j)
                warn(f"{e}; skipped")
                continue
            if _flat(x):
                self.bad.add(j)
                warn(f"{self.files[j]}: one flat colour, nothing to learn from; skipped")
                continue
            return j, x
        raise ImageError(f"{self.files[i].parent}: none of the photos can be used (damaged, "
                         f"or each one flat colour)")

    def __getitem__(self, i: int) -> torch.Tensor:
        """A crop with something in it: a crop of one flat colour (a white border, a black
        bar) is drawn again, up to :data:`CROP_TRIES` times, then taken from the next photo.
        A flat crop leaves every map of a style network constant, and each instance norm
        of a constant map multiplies the gradient by 1/sqrt(eps), about 300: through a
        network's twenty norms the gradient overflowed and the weights became NaN."""
        g = torch.Generator().manual_seed(_mix(self.seed, self.epoch, i))
        j, x = self.usable(i)
        for k in range(CROP_TRIES * len(self.files)):
            top = int(torch.randint(0, x.shape[1] - self.crop + 1, (1,), generator=g))
            left = int(torch.randint(0, x.shape[2] - self.crop + 1, (1,), generator=g))
            c = x[:, top:top + self.crop, left:left + self.crop]
            if not _flat(c):
                break
            if k % CROP_TRIES == CROP_TRIES - 1:  # this photo is flat where it is cropped
                j, x = self.usable((j + 1) % len(self.files))
        if bool(torch.rand((), generator=g) < 0.5):
            c = c.flip(-1)
        return c.float() / 255


CROP_TRIES = 8  # draws of a crop position before the next photo is taken
FLAT_LEVELS = 2  # a picture whose 8-bit values span at most this many levels is flat


def _flat(x: torch.Tensor) -> bool:
    """Whether a 3 x H x W uint8 picture is one flat colour (every channel within
    :data:`FLAT_LEVELS` levels)."""
    flat = x.reshape(x.shape[0], -1)
    return bool(((flat.amax(1).int() - flat.amin(1).int()) <= FLAT_LEVELS).all())


def _mix(*ints: int) -> int:
    return int.from_bytes(hashlib.blake2b(repr(ints).encode(), digest_size=7).digest(), "big")


def batches(ds: Crops, sampler: DistributedSampler, local: int, steps_per_epoch: int,
            start: int, workers: int) -> Iterator[torch.Tensor]:
    """This process's share of every global batch from step ``start`` on, endlessly."""
    step = start
    while True:
        epoch, pos = divmod(step, steps_per_epoch)
        ds.epoch = epoch
        sampler.set_epoch(epoch)
        idx = list(sampler)[pos * local:steps_per_epoch * local]
        loader = DataLoader(ds, batch_size=local, sampler=idx, num_workers=workers,
                            drop_last=True, pin_memory=False,
                            worker_init_fn=_worker_ignores_signals if workers else None)
        for b in loader:
            yield b
            step += 1


def _worker_ignores_signals(_worker_id: int) -> None:
    """A photo-decoding process leaves Ctrl-C and SIGTERM to the training process (a
    terminal's Ctrl-C, or ``timeout``, signals the whole process group): that one stops
    after its step, writes the model and ends the workers; a worker that died of the
    signal first would turn the clean stop into a traceback."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


class StopFlag:
    """Ctrl-C and SIGTERM ask to stop after the current step (then a checkpoint is written)."""

    def __init__(self):
        self.set = False
        self._old: dict[int, object] = {}

    def __enter__(self) -> StopFlag:
        for s in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.set:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def adam_state(opt: torch.optim.Adam, params: list[torch.nn.Parameter]) -> dict[str, torch.Tensor]:
    out = {}
    for i, p in enumerate(params):
        st = opt.state.get(p)
        if st:
            out[f"opt.{i}.exp_avg"] = st["exp_avg"]
            out[f"opt.{i}.exp_avg_sq"] = st["exp_avg_sq"]
            out[f"opt.{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    return out


def load_adam_state(opt: torch.optim.Adam, params: list[torch.nn.Parameter],
                    extra: dict[str, torch.Tensor], device: torch.device) -> None:
    for i, p in enumerate(params):
        if f"opt.{i}.exp_avg" in extra:
            opt.state[p] = {
                "step": torch.tensor(float(extra[f"opt.{i}.step"][0])),
                "exp_avg": extra[f"opt.{i}.exp_avg"].to(device, torch.float32),
                "exp_avg_sq": extra[f"opt.{i}.exp_avg_sq"].to(device, torch.float32)}
