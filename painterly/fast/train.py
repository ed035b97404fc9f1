"""``painterly train-fast --photos DIR... -o MODEL``: train the fast model on photos only.

One step: a batch of content crops c and of style crops s (other photos, resized smaller
and made more painting-like at random: some repainted in brush strokes, all jittered in
colour and contrast, :mod:`painterly.fast.augment`, so the statistics vary more than photos'
do).  The model paints c with the statistics of s at its four levels; the loss, seen
through the frozen VGG-19, is

    content_weight * |F(out) - F(c)|^2 / |F(c)|^2                    (relu4_2)
  + style_weight * sum_l |G_l(out) - G_l(s)|^2 / |G_l(s)|^2         (relu1_1..relu4_1)
  + recon_weight * mean |out_0 - c_0|                               (pixels)

where the first pair of every batch has its own photo as the style (its statistics are its
own, so the model must give the photo back: the pixel term), and the style term is the
texture distance of benchmarks/score.py.  Adam updates the encoder and decoder.  The
decoder thus learns to render statistics it has never seen, and to give back a photo from
its own.

Data-parallel under ``torchrun --nproc_per_node=N -m painterly train-fast ...`` as
``painterly train`` is: every process has the model, DistributedDataParallel averages the
gradients, each takes its share of every global batch, rank 0 writes files.  Checkpoints
(model, Adam state, step) go to ``MODEL.ckpt`` every ``--checkpoint-every`` steps and on
Ctrl-C or SIGTERM; ``--resume`` continues from it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DistributedSampler

from .. import device as dev
from .. import dist
from ..config import Runtime, make
from ..errors import UsageError
from ..images import image_tensor, load_image, save_image, to_pil
from ..inputs import collect, warn_emulated
from ..statistics import gram
from ..trainfiles import check_training_outputs, held_out_again, make_previews
from ..training import Crops, StopFlag, adam_state, batches, load_adam_state, seeded, split_photos
from ..version import __version__
from ..vgg import build
from ..weights import resolve
from .augment import augment
from .model import FastArch, FastNet
from .modelfile import load_fast, save_fast
from .options import FastTrainOptions

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_2"


def checkpoint_path(model: str | Path) -> Path:
    return Path(f"{model}.ckpt")


class FastLoss:
    """The training loss above, with the frozen VGG-19."""

    def __init__(self, vgg, topts: FastTrainOptions):
        self.vgg, self.t = vgg, topts

    def __call__(self, out: torch.Tensor, c: torch.Tensor, s: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
        layers = [*STYLE_LAYERS, CONTENT_LAYER]
        with torch.no_grad():
            fc = self.vgg(c, [CONTENT_LAYER])[CONTENT_LAYER].float()
            fs = self.vgg(s, list(STYLE_LAYERS))
            gs = {k: gram(v) for k, v in fs.items()}
        fo = self.vgg(out, layers)
        content = ((fo[CONTENT_LAYER].float() - fc).pow(2).sum((1, 2, 3))
                   / fc.pow(2).sum((1, 2, 3)).clamp_min(1e-8)).mean()
        style = sum(((gram(fo[k]) - gs[k]).pow(2).sum((1, 2))
                     / gs[k].pow(2).sum((1, 2)).clamp_min(1e-12)).mean() for k in STYLE_LAYERS)
        pixels = (out[:1].float() - c[:1]).abs().mean()
        total = (self.t.content_weight * content + self.t.style_weight * style
                 + self.t.recon_weight * pixels)
        return {"content": content, "style": style, "pixels": pixels, "total": total}


def preview(net: FastNet, pairs: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
            precision: str) -> torch.Tensor:
    """Rows of content | style | result for held-out photo pairs."""
    rows = []
    was = net.training
    net.eval()
    with torch.no_grad(), dev.autocast(device, precision):
        for c, s in pairs:
            st = net.style_stats(s.to(device))
            y = net(c.to(device), st).float().clamp(0, 1).cpu()
            s_small = torch.nn.functional.interpolate(s, size=c.shape[-2:], mode="area")
            rows.append(torch.cat([c, s_small, y], -1))
    net.train(was)
    width = max(r.shape[-1] for r in rows)
    rows = [torch.nn.functional.pad(r, (0, width - r.shape[-1]), value=1.0) for r in rows]
    return torch.cat(rows, -2)


def _meta(topts: FastTrainOptions, folders: list[str], n_train: int, held: list[Path],
          w: dist.World) -> dict:
    return {"training": dataclasses.asdict(topts),
            "data": {"folders": [Path(f).name for f in folders], "photos": n_train,
                     "holdout": [f.name for f in held]},
            "processes": w.size, "painterly_version": __version__}


def _setup(folders: list[str], out: str, topts: FastTrainOptions, resume: bool,
           given: dict | None):
    """(options, start step, state, adam state, seconds trained, model shape, held-out
    names) from the arguments or the checkpoint.  On --resume the checkpoint's options
    hold, but for those in ``given`` (the flags given: the schedule and the loss weights
    may change, the model may not)."""
    ckpt = checkpoint_path(out)
    if not resume:  # the outputs are checked (check_training_outputs)
        return topts, 0, None, {}, 0.0, None, None
    if not ckpt.exists():
        raise UsageError(f"--resume: no checkpoint {ckpt} to resume from")
    mf = load_fast(ckpt)
    saved = mf.meta.get("training", {})
    explicit = given is not None  # the command line says which flags it was given
    given = dict(given or {})
    for k in ("widths", "statistic"):
        if k in given and str(given.pop(k)) != str(saved.get(k)):
            raise UsageError(f"--{k} differs from the checkpoint's ({saved.get(k)}); a resumed "
                             f"run keeps its model's shape")
    done = int(mf.meta.get("steps", 0))
    # the --steps given (or, from Python without ``given``, the options'); else the plan
    plan = saved.get("steps", topts.steps)
    target = topts.steps if not explicit else given.get("steps", plan)
    if target <= done:
        how = f"--steps {target}" if target != plan or "steps" in given else \
            f"its plan of {plan} steps"
        raise UsageError(f"--resume: the checkpoint {ckpt} has done {done} steps, {how} "
                         f"leaves nothing to do; give --steps above {done}")
    topts = make(FastTrainOptions, **{**saved, **given, "steps": target})
    data = mf.meta.get("data") if isinstance(mf.meta.get("data"), dict) else {}
    return (topts, done, mf.state, mf.extra,
            float(mf.meta.get("train_seconds", 0.0)), mf.arch, data.get("holdout"))


def train_fast(folders: list[str], out: str, topts: FastTrainOptions, runtime: Runtime, *,
               resume: bool = False, previews: str | None = None, workers: int = 0,
               quiet: bool = False, given: dict | None = None,
               init_from: str | None = None, overwrite: bool = False) -> FastTrained:
    """Train (or resume) and write the model file (rank 0); returns the steps done in all
    and whether it was stopped.
    Ctrl-C or SIGTERM stops after the current step, writing the model and a checkpoint.
    ``given``: the options set explicitly, which override a checkpoint's on --resume;
    ``init_from``: a fast model file whose weights a new run starts from; ``overwrite``: a
    fresh run may replace a model and checkpoint already at ``out``."""
    w = dist.world()
    device = dist.device_for(runtime.device, w)
    check_training_outputs(folders, out, checkpoint_path(out), previews, resume,
                           inputs=[runtime.weights, init_from or ""], overwrite=overwrite)
    topts, start, state, adam, seconds, saved_arch, recorded = _setup(folders, out, topts,
                                                                      resume, given)
    lineage = {}
    if init_from:
        state, saved_arch, lineage = _init_from(init_from, topts, resume)
    if topts.batch % w.size:
        raise UsageError(f"--batch {topts.batch} is not a multiple of the {w.size} processes")
    train_files, held = _photos(folders, topts, w, recorded)
    if len(train_files) < 2 * topts.batch:
        raise UsageError(f"--photos: {len(train_files)} photos to train on, fewer than twice "
                         f"--batch {topts.batch}")
    dist.init(w, device)
    try:
        precision = dev.resolve_precision(topts.precision, device)
        vgg = build(resolve(runtime.weights), [*STYLE_LAYERS, CONTENT_LAYER], "max")
        vgg = vgg.to(device, memory_format=dev.memory_format(device))
        loss_fn = FastLoss(vgg, topts)
        arch = saved_arch or FastArch(topts.width_list(), topts.statistic).check()
        with seeded(topts.seed):  # the initial weights; the process's random numbers untouched
            net = FastNet(arch)
        if state is not None:
            net.load_state_dict(state)
        net = net.to(device, memory_format=torch.channels_last).train()
        params = list(net.parameters())
        opt = torch.optim.Adam(params, lr=topts.lr)
        load_adam_state(opt, params, adam, device)
        model = net if w.size == 1 else torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
        contents = Crops(train_files, topts.photo_size, topts.crop, topts.seed)
        styles = Crops(train_files, topts.style_photo_size, topts.crop, topts.seed + 1)
        local, per_epoch = topts.batch // w.size, len(contents) // topts.batch
        data_c = batches(contents, _sampler(contents, w, topts.seed), local, per_epoch, start,
                         workers)
        data_s = batches(styles, _sampler(styles, w, topts.seed + 1), local, per_epoch, start,
                         workers)
        pairs = [(image_tensor(load_image(a), 256), image_tensor(load_image(b), 256))
                 for a, b in zip(held[0::2], held[1::2])]
        meta = {**_meta(topts, folders, len(train_files), held, w), "train_seconds": seconds,
                **({"init_from": lineage} if lineage else {})}
        if w.main:  # created (earlier previews removed on --overwrite) once all is checked
            make_previews(previews, resume, overwrite)
        return _loop(model, net, opt, params, loss_fn, (data_c, data_s), pairs, meta, out,
                     topts, start, device, precision, previews, quiet, w)
    finally:
        dist.done(w)


def _photos(folders: list[str], topts: FastTrainOptions, w: dist.World,
            recorded: object) -> tuple[list[Path], list[Path]]:
    """The photos to train on and the held-out ones: drawn by the seed, or on --resume
    those the checkpoint held out (``recorded``), kept as they were."""
    files = collect(folders, quiet=not w.main)
    if topts.holdout >= len(files):
        raise UsageError(f"--holdout {topts.holdout}: the folders have only {len(files)} "
                         f"photos, none left to train on; add photos or lower --holdout "
                         f"(at least 2)")
    if recorded is not None:
        with contextlib.suppress(ValueError):  # none recorded: drawn as they were
            return held_out_again(files, recorded, ", ".join(folders))
    return split_photos(files, topts.holdout, topts.seed)


def _init_from(path: str, topts: FastTrainOptions, resume: bool):
    """(weights, model shape, lineage) of a fast model file to start a new run from; the
    lineage (its file name, digest and steps) goes into the new model's metadata."""
    if resume:
        raise UsageError("--init-from starts a new run; --resume continues one: give one")
    mf = load_fast(path)
    if mf.arch.widths != topts.width_list() or mf.arch.statistic != topts.statistic:
        raise UsageError(f"--init-from {path}: its model has --widths "
                         f"{','.join(map(str, mf.arch.widths))} --statistic "
                         f"{mf.arch.statistic}; give the same to train from it")
    lineage = {"file": Path(path).name, "sha256": mf.digest, "steps": mf.meta.get("steps")}
    return mf.state, mf.arch, lineage


def _sampler(ds: Crops, w: dist.World, seed: int) -> DistributedSampler:
    return DistributedSampler(ds, num_replicas=w.size, rank=w.rank, shuffle=True, seed=seed,
                              drop_last=True)


def _loop(model, net, opt, params, loss_fn, data, pairs, meta, out, topts, start, device,
          precision, previews, quiet, w) -> int:
    ckpt = checkpoint_path(out)
    t_run = time.perf_counter()
    spent_before = float(meta.get("train_seconds", 0.0))

    def save(step: int, path: Path, with_opt: bool) -> None:
        if w.main:
            m = {**meta, "steps": step, "intermediate": step < topts.steps,
                 "train_seconds": round(spent_before + time.perf_counter() - t_run)}
            save_fast(path, net.state_dict(), net.arch, m,
                      adam_state(opt, params) if with_opt else None)

    bar = None
    if w.main and not quiet:
        from tqdm import tqdm

        warn_emulated(precision, str(device), quiet)
        bar = tqdm(total=topts.steps, initial=start, unit="step", file=sys.stderr,
                   dynamic_ncols=True, desc="train-fast")
    g = torch.Generator().manual_seed(topts.seed * 1000003 + start * 7 + w.rank)
    step, bad = start, 0
    with StopFlag() as stop:
        while step < topts.steps:
            vals = _step(model, net, opt, params, loss_fn, data, g, topts, device, precision,
                         w, step + 1)
            step += 1
            bad = 0 if vals else bad + 1
            if bad > MAX_BAD_STEPS:
                raise UsageError(f"the loss was not finite {bad} steps in a row; lower --lr, "
                                 f"--clip-grad or use --precision fp32")
            if bar is not None:
                bar.set_postfix_str(" ".join(f"{k} {v:.3g}" for k, v in (vals or {}).items())
                                    or "loss not finite: step skipped", refresh=False)
                bar.update(1)
            if previews and w.main and pairs and topts.preview_every and \
                    step % topts.preview_every == 0:
                save_image(to_pil(preview(net, pairs, device, precision)),
                           Path(previews) / f"step_{step:06d}.png")
            if topts.checkpoint_every and step % topts.checkpoint_every == 0:
                save(step, ckpt, True)
            if dist.any_true(stop.set, w, device):
                break
    save(step, ckpt, True)
    save(step, Path(out), False)
    dist.barrier(w)
    if bar is not None:
        bar.close()
    stopped = step < topts.steps
    if w.main and not quiet:
        what = f"interrupted at step {step} of {topts.steps}" if stopped else f"{step} steps"
        print(f"painterly: {what}; wrote {out} and the checkpoint {ckpt} (--resume "
              f"continues)", file=sys.stderr)
    return FastTrained(step, stopped)


@dataclasses.dataclass(frozen=True)
class FastTrained:
    """What a run of :func:`train_fast` did: the steps done in all, and whether a stop
    (Ctrl-C, SIGTERM) ended it before its plan."""

    steps: int
    interrupted: bool = False


MAX_BAD_STEPS = 20  # non-finite losses in a row before training stops with a message


def _step(model, net, opt, params, loss_fn, data, g, topts, device, precision, w,
          step: int) -> dict[str, float] | None:
    """One training step: the losses (mean over the processes), or None when they were
    not finite and no update was made (every rank sees the same mean: all skip together)."""
    c = next(data[0]).to(device).contiguous(memory_format=torch.channels_last)
    s = augment(next(data[1]), g, topts.brushwork)
    s[:1] = c[:1].cpu()  # the first pair: the photo with its own statistics
    s = s.to(device).contiguous(memory_format=torch.channels_last)
    with dev.autocast(device, precision):
        with torch.no_grad():
            st = net.style_stats(s)
        parts = loss_fn(model(c, st), c, s)
    opt.zero_grad(set_to_none=True)
    parts["total"].backward()
    vals = _mean_over_ranks(parts, w, device)
    if not _finite(vals):
        return None
    _update(opt, params, topts, step)
    return vals


def _finite(vals: dict[str, float]) -> bool:
    return all(v == v and abs(v) != float("inf") for v in vals.values())


def _update(opt: torch.optim.Optimizer, params: list, topts: FastTrainOptions,
            step: int) -> None:
    """One Adam step: the learning rate ramps up linearly over the first ``--warmup``
    steps, and the gradient's norm is clipped to ``--clip-grad`` (0 = not clipped)."""
    for group in opt.param_groups:
        group["lr"] = topts.lr * min(1.0, step / topts.warmup) if topts.warmup else topts.lr
    if topts.clip_grad:
        torch.nn.utils.clip_grad_norm_(params, topts.clip_grad)
    opt.step()


def _mean_over_ranks(parts: dict[str, torch.Tensor], w: dist.World,
                     device: torch.device) -> dict[str, float]:
    t = torch.stack([v.detach().float() for v in parts.values()])
    if w.size > 1:
        torch.distributed.all_reduce(t)
        t = t / w.size
    return dict(zip(parts, t.tolist()))
