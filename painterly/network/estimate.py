"""How long a training run will take on this machine, measured before it starts.

``painterly train`` times a forward and backward pass of its own network and objective on
a batch of its crop size (after one untimed pass that sets the kernels up), adds the time
its photos take to decode (each is decoded once and kept), and prints one line before the
progress bar::

    painterly: about 52 min for 2000 steps on this machine (1.6 s a step)

The measured passes leave the network, its optimizer and the order of the photos as they
were: the run trains exactly as without them.  The studio asks :func:`for_options` (a
network and objective made for the form's options, on generated pictures, one picture per
pass, scaled to the batch) and keeps the answer per shape of the run.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from .. import device as dev
from ..config import Runtime
from ..objective import PerceptualLoss, feature_net, for_training
from ..training import seeded
from ..weights import resolve
from .options import TrainOptions, default_work
from .transform import TransformNet

TIMED = 2  # passes timed by train (after one untimed)


@dataclasses.dataclass
class Estimate:
    """Seconds a step and the steps to go."""

    seconds_per_step: float
    steps: int
    decode_seconds: float = 0.0  # decoding the photos, once each
    batch: int = 0  # photos a step (0: not known, no note)

    @property
    def seconds(self) -> float:
        return self.seconds_per_step * self.steps + self.decode_seconds

    def line(self) -> str:
        steps = f"{self.steps} step{'s' * (self.steps != 1)}"
        return (f"painterly: about {duration(self.seconds)} for {steps} on this machine "
                f"({self.seconds_per_step:.2g} s a step)")

    def note(self, planned: int | None = None) -> str:
        """A sentence when a run of ``planned`` steps in all (default: :attr:`steps`) sees
        fewer photos than the default recipe, after which its measured quality came
        (docs/networks.md): how many it sees, and how long the recipe's share takes here;
        "" otherwise.  On a slow machine ``--minutes 60`` plans fewer steps than the
        recipe's (918 of 2000 in float32 on a 2-core CPU without bfloat16)."""
        planned = self.steps if planned is None else planned
        recipe, full = TrainOptions(), default_work()
        if not self.batch or planned * self.batch >= full:
            return ""
        need, seen = -(-full // self.batch), planned * self.batch
        steps = f"{planned} step of" if planned == 1 else f"{planned} steps of"
        sees = "sees" if planned == 1 else "see"
        return (f"{steps} {self.batch} {sees} {seen:,} photo{'s' * (seen != 1)}; the "
                f"default recipe's measured quality came after {full:,} ({recipe.steps} x "
                f"{recipe.batch}): expect a weaker network, or give it {need} "
                f"step{'s' * (need != 1)} (about "
                f"{duration(need * self.seconds_per_step + self.decode_seconds)} here)")

    def to_json(self) -> dict[str, float | int | str]:
        return {"seconds": round(self.seconds, 1), "steps": self.steps,
                "seconds_per_step": round(self.seconds_per_step, 4), "note": self.note()}


def duration(seconds: float) -> str:
    """A duration in the words of the line: 40 s, 52 min, 3 h 10 min."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def time_pass(net: torch.nn.Module, loss_fn: PerceptualLoss, x: torch.Tensor,
              device: torch.device, precision: str, repeats: int = TIMED) -> float:
    """Seconds of one forward and backward pass of ``net`` and its loss on ``x``: the mean
    of ``repeats`` after an untimed one.  The gradients are cleared afterwards; nothing else
    changes."""
    def once() -> None:
        with dev.autocast(device, precision):
            y = net(x)
        loss_fn(y, content=x).total.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    try:
        once()
        t0 = time.perf_counter()
        for _ in range(repeats):
            once()
        return (time.perf_counter() - t0) / repeats
    finally:
        net.zero_grad(set_to_none=True)


def made_batch(batch: int, crop: int, device: torch.device) -> torch.Tensor:
    """Generated pictures of the run's shape (their own random numbers: training's are not
    drawn from)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, crop, crop, generator=g)
    return x.to(device).contiguous(memory_format=torch.channels_last)


def for_run(net: torch.nn.Module, loss_fn: PerceptualLoss, device: torch.device,
            precision: str, local_batch: int, crop: int, steps: int,
            decode_seconds: float = 0.0, batch: int = 0) -> Estimate:
    """The estimate of a run that is set up (its network and objective on ``device``;
    ``batch``: the photos of a step in all processes)."""
    x = made_batch(local_batch, crop, device)
    return Estimate(time_pass(net, loss_fn, x, device, precision), steps, decode_seconds,
                    batch)


def for_options(topts: TrainOptions, runtime: Runtime, steps: int | None = None) -> Estimate:
    """The estimate of training with ``topts`` here, without photos: the network and the
    objective made as train makes them (style and photos generated).  On a CPU one picture
    a pass, times the batch (two passes of one picture: a few seconds at the defaults); on
    a GPU the whole batch."""
    device = dev.pick_device(runtime.device)
    precision = dev.resolve_precision(topts.precision, device)
    lopts = dataclasses.replace(topts.loss_options(), precision=precision)
    weights = resolve(runtime.weights)
    vgg = feature_net(weights, lopts, device, {})
    per = 1 if device.type == "cpu" else topts.batch
    x = made_batch(per, topts.crop, device)
    loss_fn = for_training(vgg, lopts, made_batch(1, topts.photo_size, device).float(),
                           topts.photo_size, x)
    with seeded(topts.seed):  # as train makes it; the process's random numbers untouched
        net = TransformNet(topts.arch())
    net = net.to(device, memory_format=torch.channels_last).train()
    seconds = time_pass(net, loss_fn, x, device, precision, repeats=1)
    return Estimate(seconds * topts.batch / per, topts.steps if steps is None else steps,
                    batch=topts.batch)
