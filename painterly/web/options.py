"""Options of ``painterly serve``, defined once with :mod:`painterly.config`'s machinery
(where it runs, :class:`~painterly.config.Runtime`, and the photo folder,
:class:`~painterly.network.options.TrainFiles`, are shared with the other commands)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from ..errors import UsageError


@dataclass
class ServeOptions:
    """Where the studio listens, what it keeps, and what it accepts."""

    host: str = option("127.0.0.1", "Address to listen on (127.0.0.1: this machine only).",
                       metavar="HOST", web=False)
    port: int = option(8000, "Port.", minimum=1, maximum=65535, metavar="PORT", web=False)
    data_dir: str = option("", "Where uploads, jobs and results are kept (none: "
                               "$XDG_DATA_HOME/painterly/studio or "
                               "~/.local/share/painterly/studio).", metavar="DIR", web=False)
    max_upload_mb: int = option(20, "Largest accepted upload.", minimum=1, maximum=4096,
                                metavar="MB", web=False)
    max_size: int = option(2048, "Largest output side a page may ask for.", minimum=16,
                           maximum=8192, metavar="PX", web=False)
    max_clip_mb: int = option(200, "Largest accepted video clip.", minimum=1, maximum=65536,
                              metavar="MB", web=False)
    max_clip_seconds: float = option(60.0, "Longest accepted video clip.", minimum=0.1,
                                     maximum=86400, metavar="S", web=False)
    max_clip_frames: int = option(3600, "Most frames of an accepted video clip.", minimum=1,
                                  maximum=10_000_000, metavar="N", web=False)
    models: list[str] = option([], "A folder of style networks (.safetensors) to offer, read "
                                   "only; repeatable (networks trained from the page are kept "
                                   "in the data folder).", metavar="DIR", repeat=True,
                               web=False)
    allow_host: list[str] = option([], "Another host name the studio answers to (e.g. a name "
                                       "in your network for --host 0.0.0.0); repeatable.",
                                   metavar="NAME", repeat=True, web=False)
    token: str = option("", "Access token every request must carry (none: a new one for a "
                            "--host other than this machine, no token for 127.0.0.1).",
                        metavar="TOKEN", web=False)
    no_token: bool = option(False, "No access token, even on a network address.", web=False)

    def check(self) -> None:
        if self.token and self.no_token:
            raise UsageError("--token and --no-token: give one of them")
        if self.token and (len(self.token) < 8 or not self.token.isprintable()
                           or " " in self.token):
            raise UsageError("--token: use at least 8 printable characters without spaces")
