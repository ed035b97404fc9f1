"""Who may talk to the studio: the Host names it serves and an optional access token.

A page on another site can point its own domain name at 127.0.0.1 (DNS rebinding) and then
talk to the studio as if it were on the same origin; the browser still sends that domain in
the Host header.  So every request must name a host the studio serves: the loopback names,
the address given with ``--host``, names given with ``--allow-host``, and, when it listens
on every interface (0.0.0.0 or ::), any IP address and this machine's own name.  Anything
else is answered 421 before any work.

With a token (``painterly serve --host ADDR`` makes one for non-local addresses) every
request must carry it: as the cookie the studio sets when its address is opened with
``?token=...``, or as ``Authorization: Bearer ...``.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
COOKIE = "painterly_token"


def host_name(header: str | None) -> str | None:
    """The name in a Host header, without port, lower case; None if malformed."""
    if not header or len(header) > 300:
        return None
    h = header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        if end < 0 or (h[end + 1:] and not h[end + 1:].startswith(":")):
            return None
        return h[1:end]
    if h.count(":") == 1:
        h, port = h.split(":")
        if not port.isdigit():
            return None
    elif ":" in h:
        return None
    return h.rstrip(".") or None


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass
class Access:
    """The names the studio answers to and its token (None: no token needed)."""

    hosts: set[str] = field(default_factory=lambda: set(LOOPBACK_NAMES))
    any_ip: bool = False
    token: str | None = None

    @classmethod
    def for_server(cls, bind: str = "127.0.0.1", allow: Iterable[str] = (),
                   token: str | None = None) -> Access:
        hosts = set(LOOPBACK_NAMES)
        hosts |= {n for n in (host_name(a) for a in allow) if n}
        bind_name = bind.strip("[]").lower()
        any_ip = bind_name in WILDCARDS
        if any_ip:
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    hosts.add(name.lower().rstrip("."))
        elif bind_name:
            hosts.add(bind_name.rstrip("."))
        return cls(hosts, any_ip, token or None)

    def host_ok(self, header: str | None) -> bool:
        name = host_name(header)
        if name is None:
            return False
        return name in self.hosts or (self.any_ip and is_ip(name))

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        return bool(given) and secrets.compare_digest(given.encode(), self.token.encode())


def new_token() -> str:
    return secrets.token_urlsafe(18)


def is_local(host: str) -> bool:
    """True for addresses only this machine can reach."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
