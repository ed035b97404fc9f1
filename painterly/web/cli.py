"""``painterly serve``: start the web studio (FastAPI served by uvicorn)."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path

from ..config import check_range
from ..errors import UsageError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the web studio in your browser",
                       description="Start the web studio: a local page to stylize images "
                                   "and clips, apply and train style networks, with a job "
                                   "queue and a gallery of results.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on [default: 127.0.0.1, this machine only]")
    p.add_argument("--port", type=int, default=8000, help="port [default: 8000]")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where uploads, jobs and results are kept [default: "
                        "$XDG_DATA_HOME/painterly/studio or ~/.local/share/painterly/studio]")
    p.add_argument("--weights", metavar="PATH", default="",
                   help="VGG weights file [default: the cached VGG-19; env PAINTERLY_WEIGHTS]")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N [default: auto]")
    p.add_argument("--max-upload-mb", type=int, default=20, metavar="MB",
                   help="largest accepted upload [default: 20]")
    p.add_argument("--max-size", type=int, default=2048, metavar="PX",
                   help="largest output side a page may ask for [default: 2048]")
    p.add_argument("--max-clip-mb", type=int, default=200, metavar="MB",
                   help="largest accepted video clip [default: 200]")
    p.add_argument("--max-clip-seconds", type=float, default=60.0, metavar="S",
                   help="longest accepted video clip [default: 60]")
    p.add_argument("--max-clip-frames", type=int, default=3600, metavar="N",
                   help="most frames of an accepted video clip [default: 3600]")
    p.add_argument("--models", action="append", default=[], metavar="DIR",
                   help="a folder of style networks (.safetensors) to offer, read only; "
                        "repeatable (networks trained from the page are kept in the data "
                        "folder)")
    p.add_argument("--photos", metavar="DIR",
                   help="a folder of photos that training jobs may use without uploading "
                        "them (the page never sees its path)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another host name the studio answers to (e.g. a name in your "
                        "network for --host 0.0.0.0); repeatable")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--token", metavar="TOKEN",
                     help="access token every request must carry [default: a new one for "
                          "a --host other than this machine, none for 127.0.0.1]")
    tok.add_argument("--no-token", action="store_true",
                     help="no access token, even on a network address")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..device import pick_device
        from .access import Access, is_local, new_token
        from .app import create_app, default_data_dir
        from .uploads import Limits
    except ImportError as e:
        raise UsageError(f"the web studio needs {e.name}: pip install 'painterly[web]'"
                         ) from None
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a port number")
    check_range("--max-upload-mb", args.max_upload_mb, 1, 4096)
    check_range("--max-size", args.max_size, 16, 8192)
    check_range("--max-clip-mb", args.max_clip_mb, 1, 65536)
    check_range("--max-clip-seconds", args.max_clip_seconds, 0.1, 86400)
    check_range("--max-clip-frames", args.max_clip_frames, 1, 10_000_000)
    for flag, folder in [*(("--models", m) for m in args.models), ("--photos", args.photos)]:
        if folder is not None and not Path(folder).is_dir():
            raise UsageError(f"{flag} {folder}: no such folder")
    if args.token is not None and (len(args.token) < 8 or not args.token.isprintable()
                                   or " " in args.token):
        raise UsageError("--token: use at least 8 printable characters without spaces")
    pick_device(args.device)  # a clear error now rather than in every job
    check_port(args.host, args.port)
    token = None if args.no_token else (args.token or (None if is_local(args.host)
                                                        else new_token()))
    access = Access.for_server(args.host, args.allow_host, token)
    data_dir = args.data_dir or default_data_dir()
    limits = Limits(max_bytes=args.max_upload_mb * 1024 * 1024, max_size=args.max_size,
                    max_clip_bytes=args.max_clip_mb * 1024 * 1024,
                    max_clip_seconds=args.max_clip_seconds,
                    max_clip_frames=args.max_clip_frames)
    try:
        app = create_app(data_dir, args.weights or None, args.device, limits=limits,
                         access=access, model_folders=args.models,
                         photo_folder=args.photos)
    except OSError as e:
        raise UsageError(f"--data-dir {data_dir}: cannot use it ({e.strerror or e})") from None
    if not is_local(args.host) and token is None:
        print(f"painterly: warning: listening on {args.host} without a token: anyone who "
              "can reach this address can use the studio", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    query = f"?token={token}" if token else ""
    print(f"painterly studio: http://{shown}:{args.port}/{query}  (data in {data_dir}; "
          "Ctrl-C stops)", file=sys.stderr)
    studio = app.state.studio

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            studio.closing = True  # ends the open progress streams, so Ctrl-C is quick
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=5)
    try:
        Server(config).run()
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})"
                         ) from None
    return 0


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
