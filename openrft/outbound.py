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

The `headers` sent with such a request are secrets (an API key, a functions key). They are
stored, to be sent, but never shown again: `redact_headers` masks their values as `***` in
whatever openrft echoes (job objects, eval objects, `graders/validate`), and `reject_redacted`
makes a header that still reads `***` a 400, so a grader or tool copied back from an echo is
never sent with the mask in place of the key. `split_headers` / `join_headers` take the values
out of a stored JSON value (a job's method, an eval's criteria) and put them back, so the store
keeps them apart from the rows the API echoes (`openrft.jobs.secrets`, `openrft.evals.records`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from openrft.errors import InvalidRequestError

__all__ = [
    "ENV",
    "REDACTED",
    "OutboundPolicy",
    "check_url",
    "join_headers",
    "redact_headers",
    "reject_redacted",
    "split_headers",
]

ENV = "OPENRFT_OUTBOUND_HOSTS"
REDACTED = "***"
"""What a header value reads as wherever openrft echoes a tool or an endpoint grader."""


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


def redact_headers(obj: Any) -> Any:
    """A copy of `obj` (any JSON value) in which every outbound target's `headers` values read
    `***`: an object with a `headers` object beside a string `url` or `server_url` (an
    endpoint grader, a tool), at any depth (a `multi`'s sub-graders, a method's tools). A JSON
    schema whose properties are named `url` and `headers` is left alone."""
    if isinstance(obj, list):
        return [redact_headers(value) for value in obj]
    if not isinstance(obj, dict):
        return obj
    copy = {key: redact_headers(value) for key, value in obj.items()}
    headers = obj.get("headers")
    target = obj.get("url", obj.get("server_url"))
    if isinstance(headers, dict) and isinstance(target, str):
        copy["headers"] = {name: REDACTED for name in headers}
    return copy


def split_headers(obj: Any) -> tuple[Any, dict[str, dict[str, str]]]:
    """`redact_headers(obj)` and the values it masked: the path of each outbound target with
    headers (its keys and list indexes joined by `/`, `""` for `obj` itself) -> its headers.
    A value that already reads `***` is not taken."""
    values: dict[str, dict[str, str]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}" if path else str(index))
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            walk(value, f"{path}/{key}" if path else str(key))
        headers = node.get("headers")
        if isinstance(headers, dict) and isinstance(node.get("url", node.get("server_url")), str):
            kept = {name: value for name, value in headers.items() if value != REDACTED}
            if kept:
                values[path] = kept

    walk(obj, "")
    return redact_headers(obj), values


def join_headers(obj: Any, values: Mapping[str, Mapping[str, str]], *, what: str) -> Any:
    """`obj` (as stored: values masked) with `values` (`split_headers`'s) put back. A header
    that still reads `***` is an error naming it (`what` says whose), never sent as the mask."""

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, list):
            return [walk(value, f"{path}/{i}" if path else str(i)) for i, value in enumerate(node)]
        if not isinstance(node, dict):
            return node
        out = {
            key: walk(value, f"{path}/{key}" if path else str(key)) for key, value in node.items()
        }
        headers = node.get("headers")
        if isinstance(headers, dict) and isinstance(node.get("url", node.get("server_url")), str):
            given = values.get(path, {})
            out["headers"] = {name: given.get(name, value) for name, value in headers.items()}
            for name, value in out["headers"].items():
                if value == REDACTED:
                    raise InvalidRequestError(
                        f"the value of {what}'s header {name!r} is not kept any more (header "
                        "values are kept apart from the store's rows only while needed)",
                        code="header_secrets_missing",
                    )
        return out

    return walk(obj, "")


def reject_redacted(headers: Mapping[str, str] | None, *, param: str) -> None:
    """A 400 naming `param.<name>` when a header value is the mask: the object was copied
    from an echo, and sending `***` where a key belongs would fail on every request."""
    for name, value in (headers or {}).items():
        if value == REDACTED:
            raise InvalidRequestError(
                f"'{param}.{name}' is {REDACTED!r}, the mask openrft shows in place of a header "
                "value: header values are never echoed back, so send the real value again",
                param=f"{param}.{name}",
                code="redacted_header",
            )
