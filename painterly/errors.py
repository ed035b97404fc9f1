"""Errors a user can cause.  The CLI turns each into one line on stderr and exit status 2."""

from __future__ import annotations

import sys


class PainterlyError(Exception):
    """Base class of errors caused by input, options or the environment (exit status 2)."""


class UsageError(PainterlyError):
    """A bad option value or combination."""


class ImageError(PainterlyError):
    """An image that cannot be read or written."""


class WeightsError(PainterlyError):
    """Weights that are missing, corrupt or of an unknown format."""


class Interrupted(Exception):
    """Raised by the engine on Ctrl-C or cancellation; carries the current image."""

    def __init__(self, image=None):
        super().__init__("interrupted")
        self.image = image


EXIT_USAGE = 2  # exit status of an error the user can fix
EXIT_INTERRUPTED = 130  # exit status after Ctrl-C or a cancel (128 + SIGINT)
OUT_OF_MEMORY = "out of memory; try a smaller size"


def is_out_of_memory(e: BaseException) -> bool:
    """A MemoryError, CUDA running out of memory, or the CPU allocator giving up."""
    if isinstance(e, MemoryError):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg
                                            or "can't allocate memory" in msg)


def report_written(status: int, path: object, quiet: bool,
                   partial: str = "the current image") -> int:
    """The closing line of a run on stderr: what an interrupted run wrote (``partial``), or
    where the result is (unless ``quiet``).  Returns ``status``."""
    if status:
        print(f"painterly: interrupted; wrote {partial} to {path}", file=sys.stderr)
    elif not quiet:
        print(f"wrote {path}", file=sys.stderr)
    return status
