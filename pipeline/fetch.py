"""Fetching images from URLs without letting a manifest reach internal services.

Every hop (the URL and each redirect) must be http(s) and resolve only to public addresses;
bodies are capped in size and time, and must say they are images.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

import urllib3

from pipeline.config import Settings
from pipeline.errors import BadInput

MAX_REDIRECTS = 5
_http = urllib3.PoolManager(retries=False)
# Content types ingest can turn into assets: images, PDF pages, video frames.
MEDIA_TYPES = ("image/", "application/pdf", "video/")


@dataclass(frozen=True)
class UrlPolicy:
    """What a deployment lets ingest fetch (VLSEARCH_URL_* settings)."""

    max_bytes: int = 200 * 1024 * 1024
    timeout_s: float = 30.0
    allowed_domains: tuple[str, ...] = ()
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


def check_public_url(url: str) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to loopback, private, link-local or reserved addresses."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise BadInput(url, f"scheme {parsed.scheme or '(none)'!r} is not allowed (http and https only)")
    if not parsed.hostname:
        raise BadInput(url, "URL has no host")
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as error:
        raise BadInput(url, f"cannot resolve host {parsed.hostname!r}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise BadInput(url, f"host {parsed.hostname!r} resolves to non-public address {address}")


def fetch_url(url: str, policy: UrlPolicy) -> Fetched:
    """Body of an image, PDF or video URL, following at most five redirects, each one checked again."""
    max_bytes, timeout_s = policy.max_bytes, policy.timeout_s
    deadline = time.monotonic() + timeout_s
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_public_url(current)
        try:
            response = _http.request(
                "GET",
                current,
                redirect=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=min(5.0, timeout_s), read=timeout_s),
                headers={"User-Agent": "vlsearch/0.1", "Accept": "image/*"},
            )
        except urllib3.exceptions.HTTPError as error:
            raise BadInput(url, f"fetch failed: {error}") from error
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise BadInput(url, f"redirect {response.status} without a Location header")
                current = urljoin(current, location)
                continue
            if response.status != 200:
                raise BadInput(url, f"server answered HTTP {response.status}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not content_type.startswith(MEDIA_TYPES):
                raise BadInput(url, f"content type {content_type or '(none)'!r} is not an image, PDF or video")
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise BadInput(url, f"body is {declared:,} bytes, over the {max_bytes:,}-byte limit")
            body = bytearray()
            for chunk in response.stream(64 * 1024):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise BadInput(url, f"body exceeds the {max_bytes:,}-byte limit")
                if time.monotonic() > deadline:
                    raise BadInput(url, f"download took longer than {timeout_s:g} s")
            return Fetched(bytes(body), content_type)
        except urllib3.exceptions.HTTPError as error:
            raise BadInput(url, f"fetch failed: {error}") from error
        finally:
            response.release_conn()
    raise BadInput(url, f"more than {MAX_REDIRECTS} redirects")
