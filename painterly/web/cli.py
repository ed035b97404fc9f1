"""``painterly serve``: start the web studio (FastAPI served by uvicorn)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import socket
import sys
import time
from pathlib import Path

from ..config import Runtime, add_flags, from_args
from ..errors import PainterlyError, UsageError
from ..network.options import TrainFiles
from .options import ServeOptions

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the web studio in your browser",
                       description="Start the web studio: a local page to stylize images "
                                   "and clips, apply and train style networks, with a job "
                                   "queue and a gallery of results.")
    add_flags(p, ServeOptions, title="the studio")
    add_flags(p, Runtime, title="the studio")
    add_flags(p, TrainFiles, skip=("previews", "workers", "init_from", "resume"),
              title="the studio")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Every option checked, then the studio served until Ctrl-C."""
    try:
        import uvicorn  # noqa: F401

        from .app import create_app
    except ImportError as e:
        raise UsageError(f"the web studio needs {e.name}: pip install 'painterly[web]'"
                         ) from None
    so, runtime = from_args(ServeOptions, args), from_args(Runtime, args)
    photos = from_args(TrainFiles, args).photos or None
    for flag, folder in [*(("--models", m) for m in so.models), ("--photos", photos)]:
        if folder is not None and not Path(folder).is_dir():
            raise UsageError(f"{flag} {folder}: no such folder")
    from ..device import pick_device

    pick_device(runtime.device)  # a clear error now rather than in every job
    _check_weights(runtime.weights)
    if runtime.fast_model:  # read now: a wrong path would show only as the shipped model
        from ..fast.modelfile import load_fast

        try:
            load_fast(runtime.fast_model)
        except PainterlyError as e:
            raise UsageError(f"--fast-model {e}") from None
    check_port(so.host, so.port)
    token, access = _access(so)
    data_dir = so.data_dir or default_dir()
    try:
        app = create_app(data_dir, runtime.weights or None, runtime.device,
                         limits=_limits(so), access=access, model_folders=so.models,
                         photo_folder=photos, fast_model=runtime.fast_model)
    except OSError as e:
        raise UsageError(f"--data-dir {data_dir}: cannot use it ({e.strerror or e})") from None
    _announce(so, token, data_dir)
    return _serve(app, so)


def _check_weights(explicit: str) -> None:
    """Weights named by --weights or PAINTERLY_WEIGHTS, read now: a wrong file would fail
    every picture the page asks for.  The cached VGG-19 (or its first fetch) waits for the
    first picture, as on the command line."""
    if not explicit and not os.environ.get("PAINTERLY_WEIGHTS"):
        return
    from ..weights import resolve

    try:
        resolve(explicit, fetch=False)
    except PainterlyError as e:
        raise UsageError(f"--weights {e}" if explicit else str(e)) from None


def default_dir() -> Path:
    from .app import default_data_dir

    return default_data_dir()


def _access(so: ServeOptions):
    from .access import Access, is_local, new_token

    token = None if so.no_token else (so.token or (None if is_local(so.host)
                                                    else new_token()))
    return token, Access.for_server(so.host, so.allow_host, token)


def _limits(so: ServeOptions):
    from .uploads import Limits

    return Limits(max_bytes=so.max_upload_mb * 1024 * 1024, max_size=so.max_size,
                  max_clip_bytes=so.max_clip_mb * 1024 * 1024,
                  max_clip_seconds=so.max_clip_seconds, max_clip_frames=so.max_clip_frames)


def _announce(so: ServeOptions, token: str | None, data_dir) -> None:
    from .access import is_local

    if not is_local(so.host) and token is None:
        print(f"painterly: warning: listening on {so.host} without a token: anyone who "
              "can reach this address can use the studio", file=sys.stderr)
    query = f"?token={token}" if token else ""
    first, *more = [f"http://{_bracketed(name)}:{so.port}/{query}"
                    for name in addresses(so.host)]
    print(f"painterly studio: {first}  (data in {data_dir}; Ctrl-C stops)", file=sys.stderr)
    if more:
        print(f"  also: {', '.join(more)}", file=sys.stderr)


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def addresses(host: str) -> list[str]:
    """The names a browser can open the studio by: ``host`` itself, but for a wildcard
    (0.0.0.0, ::), which no browser can open, this machine's address in its network, its
    host name and localhost (each of them answered: see :mod:`painterly.web.access`)."""
    from .access import WILDCARDS

    if host.strip("[]") not in WILDCARDS:
        return [host.strip("[]")]
    found = [own_ip(), socket.gethostname().lower().rstrip("."), "localhost"]
    return [n for n in dict.fromkeys(found) if n]


def own_ip() -> str:
    """This machine's address on the network it reaches others by ("" when it has none):
    the source address of a route to a documentation address (nothing is sent)."""
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                ip = sock.getsockname()[0]
        except OSError:
            continue
        if not ipaddress.ip_address(ip).is_loopback and not ipaddress.ip_address(
                ip).is_unspecified:
            return ip
    return ""


def _serve(app, so: ServeOptions) -> int:
    import uvicorn

    studio = app.state.studio

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            studio.closing = True  # ends the open progress streams, so Ctrl-C is quick
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets=None) -> None:
            await super().shutdown(sockets)  # the jobs are stopped and recorded by now
            if await _still_working(self.server_state.tasks):
                leave_now()

    config = uvicorn.Config(app, host=so.host, port=so.port, log_level="warning",
                            timeout_graceful_shutdown=5)
    try:
        Server(config).run()
    except OSError as e:
        raise UsageError(f"cannot listen on {so.host}:{so.port} ({e.strerror or e})"
                         ) from None
    finally:
        studio.release()
    return 0


async def _still_working(tasks, wait: float = 0.5) -> bool:
    """Whether requests are still being worked on ``wait`` seconds after they were told to
    stop: a request working in a thread (a long estimate, a large picture) cannot be
    stopped, and the end of the event loop would wait for it."""
    import asyncio

    end = time.monotonic() + wait
    while any(not t.done() for t in tasks) and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return any(not t.done() for t in tasks)


def leave_now(code: int = 0) -> None:
    """End the process at once (the requests still working in threads are dropped; they
    write nothing that a restart needs)."""
    print("painterly: stopped (requests still being worked on were dropped)",
          file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def check_port(host: str, port: int) -> None:
    """UsageError with one line if ``host:port`` cannot be listened on (taken, no such
    address); the socket is closed again at once for the server to open."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"--host {host}: not an address of this machine "
                         f"({getattr(e, 'strerror', None) or e})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is taken by another program; "
                                 "use --port N") from None
            raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
