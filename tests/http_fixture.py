"""A real HTTP(S) server on 127.0.0.1 for URL tests: canned replies by path, served from a thread.

    with serve() as server:
        server.routes["/a.png"] = Reply(png_bytes, "image/png")
        fetch_url(server.url("/a.png"), UrlPolicy(allow_loopback=True))

Replies can be redirects, framed by Content-Length, by closing the connection or in chunks,
and dripped a byte at a time, so fetch limits are tested against real sockets.
"""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Reply:
    body: bytes = b""
    content_type: str | None = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    framing: Literal["length", "close", "chunked"] = "length"
    drip_s: float = 0.0  # pause before each body byte: a slow server

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, content_type=None, headers={"Location": location})


class LocalServer:
    """The running server: add routes, build URLs to it, see which requests reached it."""

    def __init__(self, httpd: ThreadingHTTPServer, scheme: str) -> None:
        self.routes: dict[str, Reply] = {}
        self.seen: list[tuple[str, str]] = []  # (path, Host header) of every request received
        self.port = httpd.server_address[1]
        self.scheme = scheme

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@contextmanager
def serve(
    tls: ssl.SSLContext | None = None, handler: type[BaseHTTPRequestHandler] | None = None
) -> Iterator[LocalServer]:
    """Serve on a free loopback port until the block ends; with `tls`, serve HTTPS; with `handler`, answer
    with it instead of the canned routes."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler or _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server = LocalServer(httpd, "https" if tls else "http")
    httpd.local = server  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def self_signed_tls(folder: Path, host: str) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for `host` and the certificate file a client must trust (SSL_CERT_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{host}.crt", folder / f"{host}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: LocalServer = self.server.local  # type: ignore[attr-defined]
        server.seen.append((self.path, self.headers.get("Host", "")))
        reply = server.routes.get(self.path, Reply(b"not found", "text/plain", status=404))
        self.close_connection = True
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (as fetch_url does on a refused body)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.framing == "length":
            self.send_header("Content-Length", str(len(reply.body)))
        elif reply.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        size = 1 if reply.drip_s else max(1, len(reply.body))
        for start in range(0, len(reply.body), size):
            piece = reply.body[start : start + size]
            if reply.drip_s:
                time.sleep(reply.drip_s)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.framing == "chunked" else piece)
            self.wfile.flush()
        if reply.framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass
