"""Where openrft may send a request on a user's behalf: tool servers and endpoint graders.

A job's tools (`method.reinforcement.tools[].server_url`) and an `endpoint` grader's `url` make
the training process POST to a URL the user chose. Left open, that is a way into the operator's
network (cloud metadata at 169.254.169.254, an internal admin port). So every such URL must name
a host the operator allowed:

- loopback (`localhost`, 127.0.0.0/8, `::1`) is always allowed: a user's own tool server beside
  openrft, the demo's, the tests';
- `OPENRFT_OUTBOUND_HOSTS` (comma-separated) adds hosts: `tools.example.com` (any port),
  `tools.example.com:8443` (that port only), `*.example.com` (any subdomain, not the apex),
  `10.0.0.7` (an address as written), or `*` (any host: for a single-user machine).

Hosts are compared as written in the URL, after lower-casing; names are not resolved, so the
operator lists names they trust to resolve to where they expect. Only `http` and `https` URLs
are allowed, with no user-info part (`http://user:pass@host/`: credentials go in `headers`).
Callers do not follow redirects, which would lead around this check.

The check runs twice: when a job or grader is validated (a clear 400 naming the field) and
right before each request (the operator may have narrowed the list since).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from openrft.errors import InvalidRequestError

__all__ = ["ENV", "OutboundPolicy", "check_url"]

ENV = "OPENRFT_OUTBOUND_HOSTS"


@dataclass(frozen=True)
class OutboundPolicy:
    hosts: tuple[str, ...] = ()
    """The operator's entries, lower-cased: `host`, `host:port`, `*.domain` or `*`."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutboundPolicy:
        raw = (os.environ if env is None else env).get(ENV, "")
        return cls(tuple(h.strip().lower() for h in raw.split(",") if h.strip()))

    def problem(self, url: str) -> str | None:
        """Why `url` may not be called, or None when it may."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            return f"{url!r} is not a valid URL ({exc})"
        if parts.scheme not in ("http", "https"):
            return f"{url!r} must be an http:// or https:// URL"
        if parts.username is not None or parts.password is not None:
            return f"{url!r} carries credentials in the URL; pass them in `headers`"
        host = (parts.hostname or "").lower()
        if not host:
            return f"{url!r} names no host"
        if _loopback(host) or any(_matches(entry, host, port) for entry in self.hosts):
            return None
        return (
            f"{host!r} is not an allowed host for outbound requests: loopback is, and the "
            f"hosts the server's operator lists in {ENV}"
        )

    def check(self, url: str, *, param: str) -> None:
        """Raise a 400 (`code` = `url_not_allowed`) naming `param` when `url` may not be called."""
        problem = self.problem(url)
        if problem is not None:
            raise InvalidRequestError(problem, param=param, code="url_not_allowed")


def check_url(url: str, *, param: str) -> None:
    """`OutboundPolicy.from_env().check(url, param=param)`: the policy as configured now."""
    OutboundPolicy.from_env().check(url, param=param)


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _matches(entry: str, host: str, port: int | None) -> bool:
    if entry == "*":
        return True
    name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
    if entry_port and str(port) != entry_port:
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name.strip("[]")


def _has_port(entry: str) -> bool:
    """`host:port` or `[v6]:port`; a bare IPv6 address has colons but no port."""
    if entry.startswith("["):
        return "]:" in entry
    return entry.count(":") == 1
