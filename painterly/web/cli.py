"""``painterly serve``: start the web studio (FastAPI served by uvicorn)."""

from __future__ import annotations

import argparse
import sys

from ..errors import UsageError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the web studio in your browser",
                       description="Start the web studio: a local page to stylize images, "
                                   "with a job queue and a gallery of results.")
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
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..device import pick_device
        from .app import create_app, default_data_dir
        from .uploads import Limits
    except ImportError as e:
        raise UsageError(f"the web studio needs {e.name}: pip install 'painterly[web]'"
                         ) from None
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a port number")
    if args.max_upload_mb < 1 or args.max_size < 16:
        raise UsageError("--max-upload-mb must be at least 1 and --max-size at least 16")
    pick_device(args.device)  # a clear error now rather than in every job
    data_dir = args.data_dir or default_data_dir()
    limits = Limits(max_bytes=args.max_upload_mb * 1024 * 1024, max_size=args.max_size)
    try:
        app = create_app(data_dir, args.weights or None, args.device, limits=limits)
    except OSError as e:
        raise UsageError(f"--data-dir {data_dir}: cannot use it ({e.strerror or e})") from None
    if args.host not in LOCAL_HOSTS:
        print(f"painterly: warning: listening on {args.host}: the studio has no login; "
              "anyone who can reach this address can use it", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"painterly studio: http://{shown}:{args.port}/  (data in {data_dir}; "
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
