"""Clips, frame by frame: the method's ``frames`` through :func:`painterly.video.process_clip`
(rate, timestamps and audio kept), for ``painterly stylize clip.mp4 STYLE`` (the method
``--method`` names) and ``painterly apply MODEL clip.mp4`` (the model's method).  Every check
comes before the method is made; each method brings its own steadier."""

from __future__ import annotations

from collections.abc import Sequence

from . import methods, video
from .config import ClipOutput, MaskPaths, Options, Runtime, validate
from .errors import UsageError
from .network.options import ApplyOptions
from .optimise.clips import ClipOptions


def stylize_clip(content: str, styles: list[str], output: str, opts: Options,
                 runtime: Runtime, paths: MaskPaths, clip: ClipOptions, kept: ClipOutput, *,
                 quiet: bool = False, image_only: Sequence[str] = (),
                 overwrite: bool = False) -> int:
    """``painterly stylize`` of a clip; ``image_only`` names the image-only flags given; a
    file already at ``output`` is refused unless ``overwrite``."""
    from .images import load_image

    video.check_output(output, [content, *styles], kept.quality, overwrite)
    validate(opts, len(styles))
    if paths.mask or paths.style_masks:
        raise UsageError("--mask and --style-masks apply to images, not to clips")
    for flag in image_only:
        raise UsageError(f"--{flag.replace('_', '-')} applies to images, not to clips")
    info = video.probe(content)
    s_imgs = [load_image(s) for s in styles]
    fn = methods.for_options(opts, runtime, clip=clip).frames(s_imgs, opts)
    return video.process_clip(content, output, fn, opts.size, quiet=quiet, audio=kept.audio,
                              info=info, quality=kept.quality)


def apply_clip(model: str, inputs: list[str], output: str, opts: ApplyOptions,
               runtime: Runtime, kept: ClipOutput, *, quiet: bool = False,
               overwrite: bool = False) -> int:
    """``painterly apply`` on one clip into a video output (checked before the model is
    loaded; a file already there is refused unless ``overwrite``)."""
    from .dist import world

    if len(inputs) != 1 or not video.sniff_video(inputs[0]):
        raise UsageError("a clip is applied on its own: one clip as INPUT and a video file as "
                         "-o (images go to an image or a folder output)")
    if not video.is_video_output(output):
        raise UsageError(f"-o {output}: a clip needs a video output file "
                         f"({', '.join(sorted(video.OUTPUT_FORMATS))}), not a folder or image")
    if world().size > 1:
        raise UsageError("a clip runs in one process; start it without torchrun")
    video.check_output(output, [*inputs, model], kept.quality, overwrite)
    info = video.probe(inputs[0])
    method = methods.for_apply(model, runtime, opts=opts)
    if not quiet:  # a network's quality figure (and warning)
        from .inputs import warn_emulated

        methods.tell_notes(method)
        warn_emulated(opts.precision, runtime.device, quiet)  # as for pictures
    fn = method.frames([], opts)
    return video.process_clip(inputs[0], output, fn, opts.size or None, quiet=quiet,
                              audio=kept.audio, info=info, quality=kept.quality,
                              about=getattr(method, "about", ""))
