"""One stylization as the command line runs it: checks first, then progress, snapshots,
animation, loss log, and the output written atomically (also on Ctrl-C)."""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
import sys
from pathlib import Path

from . import methods
from .bars import step_bar
from .config import ANIMATION_SIDE, INIT_INSTEAD, MaskPaths, Options, Runtime, validate
from .engine import MIN_SCALE_SIDE, Progress, n_scales
from .errors import EXIT_INTERRUPTED, Interrupted, UsageError, report_written
from .images import (
    check_content,
    check_image_file,
    check_style,
    check_writable,
    enlarge_note,
    fit_longest,
    frames_note,
    load_image,
    load_named,
    named,
    save_bytes,
    save_image,
    save_result,
    to_pil,
)
from .inputs import IMAGE_EXTS, warn_emulated
from .paths import (
    STEP_PICTURES,
    check_output,
    check_output_folder,
    clear_earlier_steps,
    folders_to_make,
    kept_note,
    partial_target,
    refuse_earlier_steps,
    remove_empty,
    same_file,
)
from .signals import deferred


class Recorder:
    """The per-step callback of the CLI: progress bar, CSV log, snapshots, animation frames."""

    def __init__(self, quiet: bool, save_every: int, snapshots: Path | None,
                 animate: Path | None, frame_size: tuple[int, int], alpha=None):
        self.alpha = alpha  # the photo's transparency: snapshots keep it, as the result does
        self.quiet = quiet
        self.save_every = save_every
        self.snapshots = snapshots
        self.animate = animate
        self.frame_size = frame_size  # of the animation's frames
        self.rows: list[dict] = []
        self.frames: list = []
        self.saved = 0  # snapshots written
        self.bar = None

    def __call__(self, p: Progress) -> None:
        self.rows.append({"step": p.step, "scale": p.scale + 1, "height": p.height,
                          "width": p.width, **{k: p.losses.get(k, 0.0) for k in
                                               ("content", "style", "tv", "total")},
                          "elapsed": round(p.elapsed, 4)})
        if not self.quiet:
            self._bar(p)
        every = self.save_every
        if self.snapshots is not None and every and p.step % every == 0:
            save_image(to_pil(p.image_tensor(), self.alpha),
                       self.snapshots / f"step_{p.step:05d}.png")
            self.saved += 1
        if self.animate is not None:
            frame_every = every or max(1, p.total // 60)
            if p.step % frame_every == 0 or p.step == 1:
                self.frames.append(p.image().resize(self.frame_size))

    def _bar(self, p: Progress) -> None:
        if self.bar is None:
            self.bar = step_bar(p.total)
        ls = p.losses
        self.bar.eta = p.eta
        self.bar.set_description_str(f"scale {p.scale + 1}/{p.n_scales} {p.width}x{p.height}",
                                     refresh=False)
        self.bar.set_postfix_str(f"content {ls.get('content', 0):.3g}, style "
                                 f"{ls.get('style', 0):.3g}, tv {ls.get('tv', 0):.3g}",
                                 refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def write_log(self, path: Path) -> None:
        buf = io.StringIO()
        fields = ["step", "scale", "height", "width", "content", "style", "tv", "total",
                  "elapsed"]
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(self.rows)
        save_bytes(buf.getvalue().encode(), path)

    def write_animation(self, path: Path) -> bool:
        """The recorded frames as a GIF or an mp4; False (nothing written) when no step
        was recorded (a run stopped before its first)."""
        if not self.frames:
            return False
        if path.suffix.lower() == ".gif":
            buf = io.BytesIO()
            frames = self.frames + [self.frames[-1]] * 10  # linger on the result
            frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                           duration=80, loop=0, optimize=True)
            save_bytes(buf.getvalue(), path)
        else:
            write_mp4(self.frames, path)
        return True


def write_mp4(frames: list, path: Path) -> None:
    """The frames (PIL images) as an H.264 clip at 12 frames a second, the last one held
    for a second (PyAV, as clips are written)."""
    import numpy as np

    from .video import write_mp4 as write

    held = frames + [frames[-1]] * 12
    write([np.asarray(f.convert("RGB")) for f in held], path, 12)


def input_files(content: str, styles: list[str], opts: Options,
                runtime: Runtime | None = None, paths: MaskPaths | None = None) -> list[str]:
    """Every file a run reads (an output must not replace one of them)."""
    files = [content, *styles]
    if opts.init_is_path:
        files.append(opts.init)
    if paths is not None:
        files += [m for m in [paths.mask, *paths.style_masks] if m and m != "-"]
    if runtime is not None:
        files += [f for f in (runtime.weights, runtime.fast_model) if f]
    return files


def write_results(rec: Recorder, result, status: int, existed: dict[str, bool], output: str,
                  log: str | None, plot: str | None, animate: str | None
                  ) -> tuple[Path, list[str]]:
    """Write the image and the other outputs; an interrupted run (``status``) writes each
    beside a file that was there before (``existed``) rather than over it, and no log, plot
    or animation when it stopped before its first step.  The image's path, and the words
    for everything else written (the snapshots too)."""
    def target(path: str) -> Path:
        return partial_target(path, existed[path]) if status else Path(path)

    written = save_result(result, target(output))
    others = []
    if log and rec.rows:  # a run stopped before its first step recorded none
        others.append(str(target(log)))
        rec.write_log(Path(others[-1]))
    if plot and rec.rows:  # an empty plot is no plot
        from .plot import plot_losses

        others.append(str(target(plot)))
        plot_losses(rec.rows, Path(others[-1]))
    if animate and rec.write_animation(target(animate)):
        others.append(str(target(animate)))
    if rec.saved:
        others.append(f"{rec.saved} snapshot{'s' * (rec.saved != 1)} in {rec.snapshots}")
    return written, others


def _check_log(log: str | None) -> None:
    """The loss log is a CSV: a picture's, a clip's or a plot's name (a slip for -o or
    --plot) would get CSV text in it."""
    from .video import INPUT_EXTS, OUTPUT_FORMATS

    not_csv = IMAGE_EXTS | {".avif", ".heic", ".svg", ".pdf"} | INPUT_EXTS | set(OUTPUT_FORMATS)
    if log and Path(log).suffix.lower() in not_csv:
        raise UsageError(f"--log {log}: the log is a CSV table, not a "
                         f"{Path(log).suffix.lower()[1:].upper()} file; name it .csv")


def _check_animation(animate: str | None) -> Path | None:
    anim = Path(animate) if animate else None
    if anim is not None:
        if anim.suffix.lower() not in (".gif", ".mp4"):
            raise UsageError(f"--animate {animate}: use a .gif or .mp4 file name")
        if anim.suffix.lower() == ".mp4" and importlib.util.find_spec("av") is None:
            raise UsageError("--animate .mp4 needs PyAV: pip install av, or use a .gif")
    return anim


def _check_steps_recorded(opts: Options, **given) -> None:
    """UsageError when files that record the optimisation steps are asked of a run that
    takes none (--method fast --refine 0: the model's picture alone); they were left out or
    written empty without a word."""
    if opts.method == "fast" and opts.refine <= 0:
        flags = [f"--{name.replace('_', '-')}" for name, v in given.items() if v]
        if flags:
            raise UsageError(f"{', '.join(flags)}: --method fast with --refine 0 takes no "
                             f"optimisation steps to record; give --refine N (steps at "
                             f"256 px), or leave {'it' if len(flags) == 1 else 'them'} out")


def _check_outputs(output: str, inputs: list[str], log: str | None, plot: str | None,
                   animate: str | None, snapshots: str | None,
                   overwrite: bool = False) -> Path | None:
    """Every output writable, apart from the inputs and each other and, unless
    ``overwrite``, not there yet; the snapshots' folder (made if needed)."""
    outputs = [(flag, path) for flag, path in (("-o", output), ("--log", log),
                                               ("--plot", plot), ("--animate", animate))
               if path]
    check_writable(output, "-o", inputs=inputs, others=outputs[1:], overwrite=overwrite)
    for i, (flag, path) in enumerate(outputs[1:], 1):
        check_output(path, flag, inputs=inputs,
                     others=[o for j, o in enumerate(outputs) if j != i], overwrite=overwrite)
    if not snapshots:
        return None
    for flag, path in outputs:
        if same_file(path, snapshots):
            raise UsageError(f"--snapshots {snapshots}: is also given as {flag}; give the "
                             "snapshots a folder of their own")
        if same_file(Path(path).parent, snapshots) and Path(path).name.startswith("step_"):
            raise UsageError(f"{flag} {path}: snapshots would replace it; use another "
                             "--snapshots folder")
    for src in inputs:  # a step picture given as an input (a run continued from one)
        if any(Path(at).match(STEP_PICTURES) and same_file(Path(at).parent, snapshots)
               for at in (src, os.path.realpath(src))):
            raise UsageError(f"--snapshots {snapshots}: holds the input {src}, which this "
                             "run's snapshots would replace; give the snapshots another "
                             "folder")
    folder = check_output_folder(snapshots, "--snapshots")
    refuse_earlier_steps(folder, f"--snapshots {snapshots}", "snapshots", overwrite)
    return folder


STRETCH_NOTED = 0.05  # a mask or start picture whose shape differs more is noted


def stretch_note(what: str, size: tuple[int, int], target: str,
                 target_size: tuple[int, int]) -> str:
    """A note when a picture laid over another (a mask, a start picture) has another shape,
    so it is stretched to fit: often one painted on a phone's photo turned the other way
    (as stored, not as shown); '' when the shapes match."""
    (w, h), (tw, th) = size, target_size
    if abs(math.log((w / h) / (tw / th))) <= math.log1p(STRETCH_NOTED):
        return ""
    return (f"{what} is {w}x{h} and {target} {tw}x{th} (as shown): it is stretched to fit; "
            f"give it the same shape")


def _read_inputs(content: str, styles: list[str], opts: Options, paths: MaskPaths,
                 quiet: bool) -> tuple:
    """The content, styles and start image, read and checked (sizes; the masks, which the
    engine reads again, checked from their headers); a note when the content is enlarged or a
    file holds frames besides the first."""
    c_img = check_content(load_image(content), opts.size)
    s_imgs = [check_style(load_image(s)) for s in styles]
    init = load_named(opts.init, "--init", INIT_INSTEAD) if opts.init_is_path else None
    notes = [frames_note(c_img), *(frames_note(s, painted=False) for s in s_imgs)]
    if init is not None:
        notes.append(stretch_note(f"--init {opts.init}", init.size, content, c_img.size))
    if paths.mask:
        with named("--mask"):
            size = check_image_file(paths.mask)
        notes.append(stretch_note(f"--mask {paths.mask}", size, content, c_img.size))
    for m, s in zip(paths.style_masks, s_imgs):
        if m and m != "-":
            with named("--style-masks"):
                size = check_image_file(m)
            notes.append(stretch_note(f"--style-masks {m}", size, s.name, s.size))
    for note in notes:
        if note and not quiet:
            print(f"painterly: note: {note}", file=sys.stderr)
    fits = n_scales(opts, opts.size)
    if opts.method == "optimise" and opts.scales > fits and not quiet:
        print(f"painterly: note: --scales {opts.scales}: a {opts.size} px picture has room for "
              f"{fits} (no scale below {MIN_SCALE_SIDE} px); it is painted at {fits}",
              file=sys.stderr)
    note = enlarge_note(c_img, opts.size)
    if note and not quiet:
        print(f"painterly: note: {note}", file=sys.stderr)
    return c_img, s_imgs, init


def stylize_picture(content: str, styles: list[str], output: str, opts: Options,
                    runtime: Runtime | None = None, paths: MaskPaths | None = None, *,
                    quiet: bool = False, save_every: int = 0, snapshots: str | None = None,
                    animate: str | None = None, log: str | None = None,
                    plot: str | None = None, overwrite: bool = False) -> int:
    """``painterly stylize`` of one picture by the method ``opts.method`` names; files
    already at the outputs are refused unless ``overwrite``."""
    # --- every check that can fail comes before any work --------------------------------
    runtime = runtime or Runtime()
    paths = paths or MaskPaths()
    validate(opts, len(styles))
    _check_steps_recorded(opts, snapshots=snapshots, save_every=save_every, animate=animate,
                          log=log, plot=plot)
    if save_every < 0:
        raise UsageError("--save-every: must be 0 or more")
    if snapshots and not save_every:
        save_every = 50
    elif save_every and not snapshots:
        raise UsageError("--save-every needs --snapshots DIR")
    anim = _check_animation(animate)
    made = folders_to_make(Path(snapshots)) if snapshots else []  # removed if left empty
    snap_dir = _check_outputs(output, input_files(content, styles, opts, runtime, paths), log,
                              plot, animate, snapshots, overwrite)
    try:
        _check_log(log)  # after the outputs' checks: an input named is said first
        if plot:
            from .plot import plot_format  # fails early if plotting is unavailable

            plot_format(plot)  # a name it can be written as

        c_img, s_imgs, init = _read_inputs(content, styles, opts, paths, quiet)
        method = methods.for_options(opts, runtime)
        warn_emulated(opts.precision, runtime.device, quiet)  # after every check
        if snap_dir is not None and overwrite:  # not mixed with the new run's
            clear_earlier_steps(snap_dir, f"--snapshots {snapshots}")
        existed = {path: os.path.lexists(path) for path in (output, log, plot, animate)
                   if path}  # kept if interrupted
        rec = Recorder(quiet, save_every, snap_dir, anim,
                       fit_longest(*c_img.size, min(opts.size, ANIMATION_SIDE)), c_img.alpha)
        status = 0
        try:
            result = method.picture(
                c_img, s_imgs, opts, rec, mask=paths.mask or None, style_masks=paths.style_masks,
                init=init)
        except Interrupted as e:
            result = e.image
            status = EXIT_INTERRUPTED
        finally:
            rec.close()
        with deferred():  # a second Ctrl-C or a SIGTERM waits until the result is written
            written, others = write_results(rec, result, status, existed, output, log, plot,
                                            animate)
            also = f" (and {', '.join(others)})" if others else ""
            report_written(status, f"{written}{kept_note(output, written)}{also}", quiet)
        return status
    finally:
        remove_empty(made)  # folders made by this run and left empty: not kept

