"""Where a URL someone typed may send requests: public addresses only, checked when the socket connects.

A URL a visitor types into a hosted app is a request the server makes on their behalf (server-side request
forgery): without a check it reaches the host's loopback services, its private network and the cloud
metadata endpoint, and error messages read those back. The check runs at connect time, on the address
the connection really uses (after DNS resolution, every time), so a name that resolves to a public address
when checked and to a private one when used (DNS rebinding) is refused too. Redirects are never followed
and environment proxies never used by the clients that take this guard (a proxy would connect for us).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

ALLOW_PRIVATE_ENV = "SAM3_AGENT_ALLOW_PRIVATE_URLS"
ALLOWED_HOSTS_ENV = "SAM3_AGENT_ALLOWED_HOSTS"


class URLRefused(ValueError):
    """A typed URL that may not be used; the message says why in one sentence."""


def check_base_url(url: str) -> str:
    """`url` as a base URL a chat path can be appended to: http(s), a host, no credentials, query or fragment.

    A query or fragment would swallow the appended `/chat/completions` (`http://host/admin?x=` posts to
    `/admin`), and credentials in the URL would be sent to whatever host follows them.
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise URLRefused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise URLRefused("the server URL must start with http:// or https://")
    if not parts.hostname:
        raise URLRefused("the server URL has no host name")
    if parts.username is not None or parts.password is not None:
        raise URLRefused("the server URL must not contain a user name or password (give the API key instead)")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise URLRefused("the server URL must not contain '?' or '#': give the base URL, e.g. https://host/v1")
    if port == 0:
        raise URLRefused("the server URL has port 0")
    return url.rstrip("/")


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address is off limits (loopback, private, link-local, metadata, ...), or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_private:
        return "a private network address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "not a public internet address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses typed URLs may reach: public ones, plus private ones only where the owner allows."""

    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)  # host names or IPs allowed anyway

    @classmethod
    def from_env(cls) -> AddressPolicy:
        """`SAM3_AGENT_ALLOW_PRIVATE_URLS=1` allows every address; `SAM3_AGENT_ALLOWED_HOSTS=a,b` those hosts."""
        allow = os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        hosts = {h.strip().lower() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()}
        return cls(allow, frozenset(hosts))

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """Raises `URLRefused` unless every address `host` resolved to may be reached."""
        if self.allow_private or host.lower().strip("[]") in self.allowed_hosts:
            return
        for address in addresses:
            if address.lower() in self.allowed_hosts:
                continue
            why = _forbidden(ipaddress.ip_address(address.split("%")[0]))
            if why:
                raise URLRefused(
                    f"{host} resolves to {why}, which a typed server URL may not reach "
                    f"(the app's owner can allow it with {ALLOW_PRIVATE_ENV}=1 or {ALLOWED_HOSTS_ENV})"
                )


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host itself, checks every address, then connects to a checked one (no second lookup)."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        try:
            self.policy.check(host, addresses)
        except URLRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")


class GuardedTransport(httpx.HTTPTransport):
    """An `httpx` transport whose every connection goes through `AddressPolicy` (TLS still verifies the
    certificate against the URL's host name: only the socket is opened to the checked address)."""

    def __init__(self, policy: AddressPolicy):
        super().__init__()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend(policy)
        )
