"""``painterly train STYLE --photos DIR -o MODEL``: a style network trained with the
perceptual objective that ``stylize`` optimises (:class:`painterly.objective.PerceptualLoss`:
same VGG, layers, weights and normalisation).

One step: a batch of random square crops (random flips) of the photos goes through the
network; the loss compares the outputs' VGG features with the photos' own (content) and
with the style image's Gram matrices, fixed once; Adam updates the network.  bfloat16
autocast where it is fast (``--precision auto``).

Data-parallel under ``torchrun --nproc_per_node=N -m painterly train ...``: every process
holds the network (DistributedDataParallel averages the gradients; gloo on CPUs, NCCL on
GPUs), a DistributedSampler gives each its share of every global batch, and only rank 0
writes files.  The crops of photo i in epoch e are drawn from a generator seeded by (seed,
e, i), so a global batch holds the same crops whatever N, and the loss (a mean over the
batch) gives the same gradient: the same network within float noise.

Photos held out of training (``--holdout``, chosen by the seed, named in the model file)
are the previews (``--previews DIR``, every ``--preview-every`` steps).  Checkpoints
(network, Adam state, step) go to ``MODEL.ckpt`` (a model file too) every
``--checkpoint-every`` steps, on Ctrl-C or SIGTERM and at the end; ``--resume`` continues
from it (after a finished run, from its last step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DistributedSampler

from .. import bars, dist, losses
from .. import device as dev
from ..config import Runtime
from ..errors import (
    OUT_OF_MEMORY,
    ImageError,
    Interrupted,
    PainterlyError,
    UsageError,
    is_out_of_memory,
)
from ..images import (
    check_style,
    image_tensor,
    load_image,
    save_image,
    to_pil,
)
from ..inputs import scan, warn, warn_emulated
from ..objective import PerceptualLoss, feature_net, for_training, load_styles
from ..paths import free_interrupted_path, kept_note
from ..signals import deferred
from ..trainfiles import check_previews_shown, held_out_again, make_previews
from ..training import (
    Crops,
    StopFlag,
    adam_state,
    batches,
    load_adam_state,
    seeded,
    split_photos,
)
from ..version import __version__
from ..vgg import VGGWeights
from ..weights import resolve, sha256_file
from .estimate import Estimate, for_run
from .guard import check_outputs, keeps_earlier, resume_from, start_from
from .modelfile import ModelFile, save_model, thumbnail_png
from .options import TrainOptions
from .quality import describe, figure, seen_style
from .transform import Arch, TransformNet

CALIBRATION_PHOTOS = 8
REPLAN_EVERY = 25  # steps between two plans of a --minutes run, until its lr decays
CLOSING_STEPS = 5  # the run's end (the quality figure, the files) takes about as long


def checkpoint_path(model: str | Path) -> Path:
    return Path(f"{model}.ckpt")


def preview(net: TransformNet, photos: list[torch.Tensor], device: torch.device,
            precision: str) -> torch.Tensor:
    """Held-out photos (left) and the network's results (right), one pair per row."""
    rows = []
    was = net.training
    net.eval()
    with torch.no_grad(), dev.autocast(device, precision):
        for p in photos:
            y = net(p.to(device).contiguous(memory_format=torch.channels_last))
            rows.append(torch.cat([p, y.float().clamp(0, 1).cpu()], -1))
    net.train(was)
    width = max(r.shape[-1] for r in rows)
    rows = [torch.nn.functional.pad(r, (0, width - r.shape[-1]), value=1.0) for r in rows]
    return torch.cat(rows, -2)


@dataclasses.dataclass
class TrainProgress:
    """What a ``callback`` of :func:`train` is given after every step (rank 0 only)."""

    step: int  # steps done in all (with those before --resume)
    total: int  # the steps to reach
    losses: dict[str, float]  # this step's loss terms and "total", over the global batch
    elapsed: float  # seconds since this run's first step
    eta: float  # seconds left, at this run's pace
    preview: Image.Image | None = None  # held-out photos | results, at the preview steps


@dataclasses.dataclass
class Trained:
    """What :func:`train` returns (on every process under torchrun)."""

    net: TransformNet  # this process's copy of the network
    steps: int  # steps done in all (with those before --resume)
    interrupted: bool  # stopped by Ctrl-C or SIGTERM (a checkpoint was written)


@dataclasses.dataclass
class Run:
    """Everything a training run works with, made once by :func:`_setup`."""

    w: dist.World
    device: torch.device
    precision: str
    topts: TrainOptions
    start: int
    out: Path
    ckpt: Path
    net: TransformNet
    model: torch.nn.Module  # the network, or its DistributedDataParallel wrapper
    opt: torch.optim.Adam
    params: list[torch.nn.Parameter]
    loss_fn: PerceptualLoss
    data: Iterator[torch.Tensor]
    held_t: list[torch.Tensor]
    meta: dict
    arch: Arch
    keep: bool = False  # an earlier model stays: a stopped run writes beside it
    estimate: Estimate | None = None  # before the first step (rank 0: not quiet, or --minutes)
    weights: VGGWeights | None = None  # the VGG's, for the quality figure
    style_q: torch.Tensor | None = None  # the painting as training sees it
    deadline: float = 0.0  # --minutes: when the run is to end (time.perf_counter)

    def save(self, step: int, path: Path, with_opt: bool, quality: bool = False) -> dict:
        """Write the network (rank 0); a model (``quality``) with its quality figure.  The
        metadata written (nothing on the other ranks)."""
        if not self.w.main:
            return {}
        meta = {**self.meta, "steps": step,  # the plan (--minutes changes it) resumes to
                "training": {**self.meta["training"], "steps": self.topts.steps}}
        if quality and (q := self.quality(step)) is not None:
            meta["quality"] = q
        save_model(path, self.net, self.arch, meta,
                   adam_state(self.opt, self.params) if with_opt else None)
        return meta

    def quality(self, step: int) -> dict | None:
        """The quality figure (:mod:`.quality`) of the network after ``step`` steps; None
        (with a warning line) when it cannot be measured."""
        try:
            return figure(self.net, self.held_t, self.style_q, self.weights, self.device,
                          self.precision, step, self.topts.batch)
        except (RuntimeError, ValueError, PainterlyError) as e:
            warn(f"the network's quality could not be measured ({e}); the model has no "
                 f"quality figure")
            return None

    def write(self, step: int, target: Path) -> dict:
        """The checkpoint and the model (with its quality figure) of ``step`` steps, both or
        neither held back from Ctrl-C; the model's metadata."""
        with deferred():
            self.save(step, self.ckpt, True)
            return self.save(step, target, False, quality=True)

    def stopped(self, step: int) -> str:
        """Write the checkpoint and the model of the finished steps (beside an earlier
        model); the words that say so."""
        target = free_interrupted_path(self.out) if self.keep else self.out
        self.write(step, target)
        steps = f"{step} step{'s' * (step != 1)}"
        return (f"wrote {target} and the checkpoint {self.ckpt} of the {steps} done "
                f"(--resume continues){kept_note(self.out, target)}")


def train(style: str, photos: str, out: str, topts: TrainOptions, runtime: Runtime, *,
          resume: bool = False, previews: str | None = None, workers: int = 0,
          quiet: bool = False, style_name: str | None = None,
          callback: Callable[[TrainProgress], None] | None = None,
          steps_given: bool = True, overwrite: bool = False,
          init_from: str | None = None) -> Trained:
    """Train (or resume) and write the model file (rank 0).  Ctrl-C or SIGTERM stops after
    the current step, writing the model and a checkpoint.

    ``style_name`` is the style's name recorded in the model file (default: the file's
    name).  ``callback`` (rank 0) gets a :class:`TrainProgress` after every step, with the
    preview image at the steps ``--preview-every`` names; it may raise
    :class:`~painterly.errors.Interrupted` to stop as Ctrl-C does (the model and the
    checkpoint are written, and the result says ``interrupted``).  With ``resume``, training
    goes on to ``topts.steps`` (``steps_given``) or to the checkpoint's own plan; any stop
    (an error, Ctrl-C, SIGTERM) after a step writes the model and the checkpoint of the
    finished steps, beside an earlier model (``NAME.interrupted.safetensors``) rather than
    over it.  A fresh run refuses a model or checkpoint already at ``out`` unless
    ``overwrite``, and starts from the network ``init_from`` (any painting's) if given."""
    began = time.perf_counter()
    w = dist.world()
    device = dist.device_for(runtime.device, w)
    ckpt = checkpoint_path(out)
    check_outputs(style, photos, out, ckpt, previews, resume, runtime.weights, overwrite,
                  init_from or "")
    style_img = check_style(load_image(style))  # a missing or broken file: one line
    style_sha = sha256_file(style)  # read once: the checkpoint's check and the model's
    start, state, adam, recorded, lineage = 0, None, {}, None, {}
    if init_from:
        state, lineage = start_from(init_from, topts, resume)
    if resume:  # the checkpoint's options, to the --steps given (or the checkpoint's plan)
        topts, mf, start = resume_from(ckpt, topts, steps_given, style, style_sha, overwrite)
        state, adam, recorded = mf.state, mf.extra, mf.meta.get("holdout")
    check_previews_shown(previews, topts.holdout, str(ckpt) if resume else "")
    keep = keeps_earlier(out, resume, start)  # a stopped run then writes beside it
    if topts.batch % w.size:
        raise UsageError(f"--batch {topts.batch} is not a multiple of the {w.size} processes")
    train_files, held = _photos(photos, topts, w, recorded)
    style_t = load_styles([style_img], topts.photo_size, topts.style_scale)[0]
    meta = {"style": {"name": style_name or Path(style).name, "sha256": style_sha,
                      "thumbnail_png": thumbnail_png(style_t)},
            "training": {**dataclasses.asdict(topts), **topts.layout(),  # as built
                         "style_weight": topts.style_strength()},
            **({"init_from": lineage} if lineage else {}),
            "preset": topts.preset, "holdout": [f.name for f in held],
            "processes": w.size, "painterly_version": __version__}
    dist.init(w, device)
    try:
        with _tuned(device):  # fixed shapes: cuDNN may pick its fastest kernels
            run = _setup(w, device, topts, runtime, style_t, train_files, held, start,
                         (state, adam, workers), meta, (Path(out), ckpt, keep),
                         measure=w.main and (not quiet or topts.minutes > 0))
            if w.main:  # created once everything else is checked
                make_previews(previews, resume, overwrite)
            run.style_q = seen_style(style_t, topts.photo_size, topts.style_scale)
            line = ""
            if topts.minutes:  # the steps that fit, from the pace measured on rank 0
                run.deadline = began + topts.minutes * 60
                est = run.estimate
                _plan(run, start, est.seconds_per_step if est else 1.0,
                      est.decode_seconds if est else 0.0)
                if est is not None:
                    est.steps = run.topts.steps - start
                    line = f", planned for --minutes {topts.minutes:g}"
            if run.estimate is not None and not quiet:
                print(run.estimate.line() + line, file=sys.stderr, flush=True)
                warn_emulated(topts.precision, runtime.device, quiet)
                note = run.estimate.note(run.topts.steps)
                if note:
                    print(f"painterly: note: {note}", file=sys.stderr, flush=True)
            return _loop(run, previews, callback, quiet)
    finally:
        dist.done(w)


def _photos(photos: str, topts: TrainOptions, w: dist.World,
            recorded: object = None) -> tuple[list[Path], list[Path]]:
    """The photos to train on and the held-out ones; damaged ones skipped with a warning
    (a folder with none usable, or too few for a batch, is refused).  ``recorded``: the
    held-out names of the checkpoint a resumed run goes on from, kept as they were."""
    found = scan([photos], quiet=not w.main)
    files = found.files
    if found.skipped and w.main:
        warn(f"{photos}: {found.summary()}; training on the other {len(files)}")
    topts.check_photos(len(files))
    if recorded is not None:
        with contextlib.suppress(ValueError):  # none recorded: drawn as they were
            return held_out_again(files, recorded, photos)
    return split_photos(files, topts.holdout, topts.seed)


@contextlib.contextmanager
def _on_stop(steps: Callable[[], int], start: int, stopped: Callable[[int], str],
             ended: list[int]):
    """Any stop inside the block (an error, out of memory, a second Ctrl-C) after steps were
    done writes the model and the checkpoint of the finished steps (``stopped``), and the
    error's line says so; a Ctrl-C is then taken as done (``ended`` gets the step)."""
    try:
        yield
    except (Exception, KeyboardInterrupt) as e:
        step = steps()
        if step <= start:
            raise
        said = stopped(step)
        if not isinstance(e, (PainterlyError, KeyboardInterrupt)) and not is_out_of_memory(e):
            raise  # not the user's doing: the finished steps are kept all the same
        if isinstance(e, KeyboardInterrupt):
            print(f"painterly: interrupted at step {step}; {said}", file=sys.stderr)
            ended.append(step)
            return
        why = str(e) if isinstance(e, PainterlyError) else f"{OUT_OF_MEMORY} (or --batch)"
        raise PainterlyError(f"{why}; {said}") from None


def _held_out(held: list[Path], side: int) -> list[torch.Tensor]:
    """The held-out photos as tensors; a damaged one is skipped with a warning."""
    out = []
    for f in held:
        try:
            out.append(image_tensor(load_image(f), side))
        except ImageError as e:
            warn(f"{e}; skipped")
    return out


def _tuned(device: torch.device) -> contextlib.AbstractContextManager:
    """cuDNN's benchmark mode for the run only (the setting is restored afterwards)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    c = torch.backends.cudnn
    return c.flags(enabled=c.enabled, benchmark=True, deterministic=c.deterministic,
                   allow_tf32=c.allow_tf32)


def _setup(w: dist.World, device: torch.device, topts: TrainOptions, runtime: Runtime,
           style_t: torch.Tensor, train_files: list[Path], held: list[Path], start: int,
           saved: tuple, meta: dict, outs: tuple[Path, Path, bool], measure: bool = False
           ) -> Run:
    """The objective, the data, the network and its optimizer, on this process; with
    ``measure``, the time the steps will take (:mod:`.estimate`)."""
    state, adam, workers = saved
    precision = dev.resolve_precision(topts.precision, device)
    lopts = topts.loss_options()
    lopts = dataclasses.replace(lopts, precision=precision)
    weights = resolve(runtime.weights)
    vgg = feature_net(weights, lopts, device, {})
    ds = Crops(train_files, topts.photo_size, topts.crop, topts.seed)
    t0 = time.perf_counter()
    calib = torch.stack([ds[i] for i in range(min(CALIBRATION_PHOTOS, len(ds)))])
    decode = (time.perf_counter() - t0) / len(calib)  # a photo's, the first time
    loss_fn = for_training(vgg, lopts, style_t, topts.photo_size, calib)
    arch = topts.arch()
    if topts.grid_weight > 0:
        loss_fn.add_term("grid", topts.grid_weight,
                         functools.partial(losses.grid_loss, period=2 ** arch.downs))

    with seeded(topts.seed):  # the initial weights (the same on every rank)
        net = TransformNet(arch)
    if state is not None:
        net.load_state_dict(state)
    net = net.to(device, memory_format=torch.channels_last).train()
    est = None
    if measure:  # each photo is decoded once, then kept
        left = topts.steps - start
        fresh = max(0, min(left * topts.batch, len(ds)) - len(calib))
        est = for_run(net, loss_fn, device, precision, topts.batch // w.size, topts.crop,
                      left, decode * fresh, topts.batch)
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=topts.lr)
    load_adam_state(opt, params, adam, device)
    model = net
    if w.size > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = DistributedSampler(ds, num_replicas=w.size, rank=w.rank, shuffle=True,
                                 seed=topts.seed, drop_last=True)
    data = batches(ds, sampler, topts.batch // w.size, len(ds) // topts.batch, start, workers)
    held_t = _held_out(held, topts.photo_size)
    return Run(w, device, precision, topts, start, outs[0], outs[1], net, model, opt, params,
               loss_fn, data, held_t, meta, arch, outs[2], est, weights)


def _loop(r: Run, previews: str | None, callback: Callable[[TrainProgress], None] | None,
          quiet: bool) -> Trained:
    """Steps until the last, or until Ctrl-C, SIGTERM or the callback asks to stop."""
    bar = bars.bar(r.topts.steps, "step", "train", r.start) if r.w.main and not quiet \
        else None
    step = r.start
    t0 = time.perf_counter()
    paced = (t0, step)  # where the pace of a --minutes run is measured from
    ended: list[int] = []  # a second Ctrl-C stopped the run (the steps were written)
    with StopFlag() as stop, _on_stop(lambda: step, r.start, r.stopped, ended):
        while step < r.topts.steps:
            vals = _step(r, step)
            step += 1
            if bar is not None:
                bar.set_postfix_str(" ".join(f"{k} {v:.3g}" for k, v in vals.items()),
                                    refresh=False)
                bar.update(1)
            shown = _preview(r, step, previews) if previews or callback else None
            asked = _tell(callback, r, step, vals, time.perf_counter() - t0, shown)
            if r.topts.minutes and step % REPLAN_EVERY == 0 and step < r.topts.steps \
                    and step < decay_begins(r.topts):  # the plan holds once the lr decays
                now = time.perf_counter()
                _plan(r, step, (now - paced[0]) / (step - paced[1]))
                paced = (now, step)
                if bar is not None:
                    bar.total = r.topts.steps
            if r.topts.checkpoint_every and step % r.topts.checkpoint_every == 0 \
                    and step < r.topts.steps:
                r.save(step, r.ckpt, True)
            if dist.any_true(stop.set or asked, r.w, r.device):
                return _stopped(r, step, bar, stop.set)
    if bar is not None:
        bar.close()
    if ended:
        return Trained(r.net, step, True)
    meta = r.write(step, r.out)  # with its checkpoint: --resume goes on from the last step
    dist.barrier(r.w)
    if r.w.main and not quiet:
        n = step - r.start
        print(f"trained {n} step{'s' * (n != 1)} in {time.perf_counter() - t0:.0f} s; wrote "
              f"{r.out} and the checkpoint {r.ckpt} (--resume --steps N trains on to N)",
              file=sys.stderr)
        for line in describe(meta):
            print(f"painterly: {line}", file=sys.stderr)
    return Trained(r.net, step, False)


def decay_begins(topts: TrainOptions) -> float:
    """The step from which the learning rate decays (``--steps`` when it does not)."""
    return topts.steps * (1 - topts.lr_decay)


def lr_at(topts: TrainOptions, step: int) -> float:
    """The learning rate of the step after ``step`` done: ``--lr`` until the last
    ``--lr-decay`` fraction of ``--steps``, then along a half cosine towards zero."""
    span = topts.lr_decay * topts.steps
    begin = decay_begins(topts)
    if span <= 0 or step < begin:
        return topts.lr
    return topts.lr * 0.5 * (1 + math.cos(math.pi * (step - begin + 1) / (span + 1)))


def planned_steps(done: int, seconds_left: float, per_step: float) -> int:
    """The steps to reach in ``seconds_left`` at ``per_step`` seconds a step, keeping the
    time of :data:`CLOSING_STEPS` for the run's end; at least one more than ``done``."""
    return done + max(1, int(seconds_left / max(per_step, 1e-6)) - CLOSING_STEPS)


def _plan(r: Run, done: int, per_step: float, extra: float = 0.0) -> None:
    """The steps of a ``--minutes`` run from rank 0's pace (``per_step`` seconds a step, and
    ``extra`` seconds of other work to come), the same on every rank."""
    left = r.deadline - time.perf_counter() - extra
    steps = dist.from_main(planned_steps(done, left, per_step) if r.w.main else 0, r.w,
                           r.device)
    r.topts = dataclasses.replace(r.topts, steps=steps)


def _step(r: Run, step: int) -> dict[str, float]:
    """One step on the next batch (``step`` done before it); the loss terms over the global
    batch."""
    x = next(r.data).to(r.device).contiguous(memory_format=torch.channels_last)
    with dev.autocast(r.device, r.precision):
        y = r.model(x)
    loss = r.loss_fn(y, content=x)
    vals = _mean_over_ranks(loss, r.w, r.device)
    if not all(v == v and abs(v) != float("inf") for v in vals.values()):  # before the update
        raise UsageError("the loss is not finite; lower --lr or use --precision fp32")
    for group in r.opt.param_groups:
        group["lr"] = lr_at(r.topts, step)
    r.opt.zero_grad(set_to_none=True)
    loss.total.backward()
    grads = [p.grad for group in r.opt.param_groups for p in group["params"]
             if p.grad is not None]
    if grads and not bool(torch.stack([g.isfinite().all() for g in grads]).all()):
        # a finite loss can still give an infinite gradient: the update would make every
        # weight NaN, and the model written at the stop with them (the weights of the step
        # before are written instead)
        raise UsageError("the gradients are not finite (the training diverged); lower --lr "
                         "or use --precision fp32")
    r.opt.step()
    return vals


def _preview(r: Run, step: int, previews: str | None) -> Image.Image | None:
    """The held-out photos and their results at the preview steps (rank 0), saved to
    ``previews``."""
    every = r.topts.preview_every
    if not (r.held_t and r.w.main and ((every and step % every == 0) or step == r.topts.steps)):
        return None
    shown = to_pil(preview(r.net, r.held_t, r.device, r.precision))
    if previews:
        save_image(shown, Path(previews) / f"step_{step:06d}.png")
    return shown


def _tell(callback: Callable[[TrainProgress], None] | None, r: Run, step: int,
          vals: dict[str, float], spent: float, shown: Image.Image | None) -> bool:
    """The callback told of the step (rank 0); True when it asked to stop."""
    if callback is None or not r.w.main:
        return False
    try:
        callback(TrainProgress(step, r.topts.steps, vals, spent, spent / (step - r.start)
                               * (r.topts.steps - step), shown))
    except Interrupted:
        return True
    return False


def _stopped(r: Run, step: int, bar, by_signal: bool) -> Trained:
    """The model and a checkpoint written after a stop (beside an earlier model)."""
    said = r.stopped(step)
    dist.barrier(r.w)
    if bar is not None:
        bar.close()
    if r.w.main and by_signal:
        print(f"painterly: interrupted at step {step}; {said}", file=sys.stderr)
    return Trained(r.net, step, True)


def _mean_over_ranks(loss, w: dist.World, device: torch.device) -> dict[str, float]:
    """The loss parts (and total), averaged over the processes: the global batch's loss."""
    names = [*loss.terms, "total"]
    t = torch.stack([*(v.detach().float() for v in loss.terms.values()),
                     loss.total.detach().float()])
    if w.size > 1:
        torch.distributed.all_reduce(t)
        t = t / w.size
    return dict(zip(names, t.tolist()))


def model_summary(mf: ModelFile) -> str:
    m = mf.meta
    return (f"{m.get('style', {}).get('name', '?')}, {mf.arch.width}-wide network, "
            f"{m.get('steps', '?')} steps")
