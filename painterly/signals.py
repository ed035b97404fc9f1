"""Ctrl-C (SIGINT) and SIGTERM for the command line.

:func:`catch` installs one handler for both signals: the first signal raises
KeyboardInterrupt wherever the program is (the engine turns it into
:class:`~painterly.errors.Interrupted` carrying the current image), and the signal is
remembered so that the exit status is 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
:func:`deferred` holds signals back while a finished result is being written; one that
arrives meanwhile takes effect when the writing is done.

The handler is installed by ``painterly.cli.main`` before anything heavy (torch) is
imported, so a Ctrl-C during start-up ends the program with one line, too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Catcher:
    """The installed handler and what it has seen."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.deferring = 0
        self.pending = False

    def __call__(self, signum: int, frame) -> None:
        if self.received is None or signum == signal.SIGTERM:
            self.received = signum
        if self.deferring:
            self.pending = True
            return
        raise KeyboardInterrupt

    def exit_status(self, default: int = 130) -> int:
        return 128 + self.received if self.received else default


@contextlib.contextmanager
def catch() -> Iterator[Catcher]:
    """Handle SIGINT and SIGTERM as interruptions inside the block (main thread only)."""
    catcher = Catcher()
    old = {}
    try:
        for s in SIGNALS:
            old[s] = signal.signal(s, catcher)
    except ValueError:  # not the main thread: leave the signals alone
        for s, h in old.items():
            signal.signal(s, h)
        old = {}
    try:
        yield catcher
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def current() -> Catcher | None:
    """The catcher installed by :func:`catch`, if any (found through the signal module)."""
    h = signal.getsignal(signal.SIGINT)
    return h if isinstance(h, Catcher) else None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back inside the block; raise KeyboardInterrupt after it if one
    came.  Without an installed catcher, or outside the main thread (where no signal
    handler runs), this does nothing."""
    c = current()
    if c is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    c.deferring += 1
    try:
        yield
    finally:
        c.deferring -= 1
    if not c.deferring and c.pending:
        c.pending = False
        raise KeyboardInterrupt
