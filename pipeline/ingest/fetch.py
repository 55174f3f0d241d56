"""Fetching media from URLs without letting a manifest row or an argument reach internal services.

Every hop (the URL and each redirect) is checked before a byte is sent: http(s) only, no
credentials in the URL, the host inside the allowed domains when that list is set, and every
address the host resolves to public. The connection then goes to a checked address itself, so
a second DNS answer cannot swap in an internal one (DNS rebinding), while the Host header and
the TLS certificate check still use the host name. One deadline covers connect, TLS, headers
and body together.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from pipeline.config import Settings
from pipeline.errors import BadInput

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]

ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
# Content types ingest can turn into assets: images, PDF pages, video frames.
MEDIA_TYPES = ("image/", "application/pdf", "video/")
CHUNK_BYTES = 64 * 1024

CLOUD_METADATA_HOSTS = frozenset({"metadata.google.internal"})
CLOUD_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer: a public address only Azure VMs reach
        "192.0.0.192",  # Oracle Cloud Classic
    )
)
_REFUSED_RANGES = tuple(
    (kind, tuple(ipaddress.ip_network(network) for network in networks))
    for kind, networks in (
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("unspecified", ("0.0.0.0/8", "::/128")),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
        ("link-local", ("169.254.0.0/16", "fe80::/10")),
        ("shared (carrier-grade NAT)", ("100.64.0.0/10",)),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
        ("documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")),
        ("reserved", ("192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4", "::/96")),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# WHATWG URL parsing reads a host whose last label is a number as IPv4 (2130706433, 0x7f.1, 0177.0.0.1).
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
# The WHATWG sniffing signatures of an HTML page: what a login wall or error page sends.
_HTML_START = re.compile(
    rb"[\t\n\x0c\r ]*(<!doctype html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a|<style|<title|<b|<body"
    rb"|<br|<p|<!--)[ >]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class UrlPolicy:
    """What a deployment lets ingest fetch (VLSEARCH_URL_* settings)."""

    max_bytes: int = 200 * 1024 * 1024
    timeout_s: float = 30.0
    allowed_domains: tuple[str, ...] = ()  # lower-case ASCII names, as Settings gives them
    allow_loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            max_bytes=settings.url_max_bytes,
            timeout_s=settings.url_timeout_s,
            allowed_domains=tuple(settings.url_allowed_domains),
            allow_loopback=settings.url_allow_loopback,
        )


@dataclass(frozen=True)
class Fetched:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Target:
    """One checked hop: the host as named (for Host, SNI and the certificate) and its vetted addresses."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]
    explicit_port: bool
    path: str

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"{name}:{self.port}" if self.explicit_port else name


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for host, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why nothing may be fetched from this address, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        reason = address_refusal(embedded)
        if reason is not None:
            return f"{reason} (embedded in {address})"
        if address.ipv4_mapped is not None or address in _NAT64:  # the IPv4 address is the destination
            return None
    if address in CLOUD_METADATA_ADDRESSES:
        return f"cloud metadata address {address}"
    for kind, networks in _REFUSED_RANGES:
        if any(address in network for network in networks):
            return None if kind == "loopback" and allow_loopback else f"{kind} address {address}"
    return None if address.is_global and not address.is_reserved else f"reserved address {address}"


def check_url(url: str, policy: UrlPolicy, resolve: Resolver = resolve_host) -> Target:
    """The hop to connect to, once the URL and every address its host resolves to pass the policy."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadInput(url, f"not a valid URL: {error}") from error
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise BadInput(url, f"scheme {parts.scheme or '(none)'!r} is not allowed (http and https only)")
    if parts.username is not None or parts.password is not None:
        raise BadInput(url, "URLs with a user name or password are not fetched")
    host = _ascii_host(url, (parts.hostname or "").rstrip("."))
    if host in CLOUD_METADATA_HOSTS:
        raise BadInput(url, f"{host} is a cloud metadata host")
    if policy.allowed_domains and not any(
        host == domain or host.endswith("." + domain) for domain in policy.allowed_domains
    ):
        raise BadInput(url, f"host {host!r} is not in the allowed domains ({', '.join(policy.allowed_domains)})")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = tuple(resolve(host, port))
    except (OSError, UnicodeError, ValueError) as error:
        raise BadInput(url, f"cannot resolve host {host!r}: {error}") from error
    if not addresses:
        raise BadInput(url, f"cannot resolve host {host!r}")
    for address in addresses:
        reason = address_refusal(address, allow_loopback=policy.allow_loopback)
        if reason is not None:
            raise BadInput(url, f"resolves to {reason}")
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    return Target(url, scheme, host, port, addresses, parts.port is not None, path)


def fetch_url(url: str, policy: UrlPolicy, resolve: Resolver = resolve_host) -> Fetched:
    """Body of an image, PDF or video URL, following at most five redirects, each one checked again.

    Raises BadInput naming `url`; a refused redirect also names the hop ("redirect to ...: reason").
    """
    if policy.allow_loopback:
        _warn_loopback_allowed()
    deadline = time.monotonic() + policy.timeout_s
    hop = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            answer = _get(check_url(hop, policy, resolve), policy, deadline)
        except BadInput as refused:
            raise BadInput(url, refused.reason if hop == url else f"redirect to {hop}: {refused.reason}") from refused
        if isinstance(answer, Fetched):
            return answer
        hop = urljoin(hop, answer)
    raise BadInput(url, f"more than {MAX_REDIRECTS} redirects")


@functools.cache
def _warn_loopback_allowed() -> None:
    log.warning("VLSEARCH_URL_ALLOW_LOOPBACK is on: URLs may reach 127.0.0.1 and ::1 (meant for tests only)")


def _ascii_host(url: str, host: str) -> str:
    if not host:
        raise BadInput(url, "URL has no host")
    if ":" in host:  # an IPv6 literal; a zone id names an interface, not another address
        return host.split("%")[0]
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise BadInput(url, f"host {host!r} is not a valid name: {error}") from error
    if _NUMERIC_LABEL.fullmatch(ascii_host.rsplit(".", 1)[-1]):
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError:
            raise BadInput(
                url, f"host {host!r} is an IPv4 address in a non-standard notation; write it as a.b.c.d"
            ) from None
    return ascii_host


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64): packets can end up there."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _get(target: Target, policy: UrlPolicy, deadline: float) -> Fetched | str:
    """One GET to a checked address: the body, or the Location of a redirect."""
    url = target.url
    connection = _Connection(deadline)
    try:
        client = http.client.HTTPConnection(target.host, target.port)  # its socket comes from `connection`
        client.sock = connection.open(target)
        client.request(
            "GET",
            target.path,
            headers={
                "Host": target.host_header,
                "User-Agent": "vlsearch/0.1",
                "Accept": "image/*, application/pdf, video/*",
                "Accept-Encoding": "identity",
                "Connection": "close",
            },
        )
        response = client.getresponse()
        try:
            answer = _read(url, response, policy)
        finally:
            response.close()
        if connection.expired:  # a close-delimited body cut off by the deadline reads as complete
            raise TimeoutError
        return answer
    except ssl.SSLCertVerificationError as error:
        raise BadInput(url, f"TLS certificate check failed: {error.verify_message}") from error
    except (OSError, http.client.HTTPException) as error:
        if connection.expired:
            raise BadInput(url, f"no complete answer within {policy.timeout_s:g} s") from error
        raise BadInput(url, f"fetch failed: {error or type(error).__name__}") from error
    finally:
        connection.close()


def _read(url: str, response: http.client.HTTPResponse, policy: UrlPolicy) -> Fetched | str:
    if response.status in (301, 302, 303, 307, 308):
        location = response.getheader("Location")
        if not location:
            raise BadInput(url, f"redirect {response.status} without a Location header")
        return location
    if response.status != 200:
        raise BadInput(url, f"server answered HTTP {response.status}")
    content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if not content_type.startswith(MEDIA_TYPES):
        raise BadInput(url, f"content type {content_type or '(none)'!r} is not an image, PDF or video")
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise BadInput(url, f"compressed answers (Content-Encoding: {encoding}) are not accepted")
    if response.length is not None and response.length > policy.max_bytes:
        raise BadInput(url, f"body is {response.length:,} bytes, over the {policy.max_bytes:,}-byte limit")
    body = bytearray()
    # read1 returns what one socket read gives, so the size limit holds however the body is framed.
    while chunk := response.read1(CHUNK_BYTES):
        body += chunk
        if len(body) > policy.max_bytes:
            raise BadInput(url, f"body exceeds the {policy.max_bytes:,}-byte limit")
    if response.length:
        raise http.client.IncompleteRead(bytes(body), response.length)
    # Decoders refuse any other non-media body; an HTML page (a login wall, an error page) gets named here.
    if _HTML_START.match(body):
        raise BadInput(url, f"the body is an HTML page, not {content_type}")
    return Fetched(bytes(body), content_type)


class _Connection:
    """A socket to a checked address, shut down by a timer at the deadline.

    Socket timeouts bound each read, not the whole answer: a server sending a byte at a time
    would never trip them. Shutting the socket down ends TLS, headers and body reads alike.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def open(self, target: Target) -> socket.socket:
        """Connect to the first checked address that answers (never to a fresh DNS answer)."""
        error: OSError = OSError("no address")
        for address in target.addresses:
            sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
            self._use(sock)
            try:
                sock.settimeout(max(0.001, self.deadline - time.monotonic()))
                sock.connect((str(address), target.port))
                break
            except OSError as failed:
                error = failed
                sock.close()
        else:
            raise error
        if target.scheme == "https":
            with self._lock:
                sock = ssl.create_default_context().wrap_socket(
                    sock, server_hostname=target.host, do_handshake_on_connect=False
                )
                self._sock = sock
            sock.do_handshake()
        return sock

    def _use(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
        if self.expired:
            raise TimeoutError("deadline passed")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
