"""URL fetching: the checks on their own, then every protection against a real server on 127.0.0.1."""

from __future__ import annotations

import io
import ipaddress
import logging
import socket

import pytest
from PIL import Image

from pipeline.errors import BadInput
from pipeline.ingest import fetch
from pipeline.ingest.fetch import UrlPolicy, check_url, fetch_url
from tests.http_fixture import Reply, self_signed_tls, serve

LOOPBACK = UrlPolicy(allow_loopback=True, timeout_s=5)
PUBLIC = ipaddress.ip_address("93.184.215.14")


def public_dns(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """A stand-in resolver that answers every name with one public address (nothing is connected)."""
    return [PUBLIC]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png_bytes()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed (http and https only)"),
        ("ftp://example.com/a.png", "scheme 'ftp' is not allowed (http and https only)"),
        ("http://user:secret@example.com/a.png", "URLs with a user name or password are not fetched"),
        ("http://example.com@127.0.0.1/a.png", "URLs with a user name or password are not fetched"),
        ("https:///nohost", "URL has no host"),
        ("http://example.com:99999/a.png", "not a valid URL: Port out of range"),
        ("http://127.0.0.1:8080/a.png", "resolves to loopback address 127.0.0.1"),
        ("http://localhost/a.png", "resolves to loopback address 127.0.0.1"),
        ("http://[::1]/a.png", "resolves to loopback address ::1"),
        ("http://10.1.2.3/a.png", "resolves to private address 10.1.2.3"),
        ("http://172.16.0.1/a.png", "resolves to private address 172.16.0.1"),
        ("http://192.168.1.1/a.png", "resolves to private address 192.168.1.1"),
        ("http://[fc00::1]/a.png", "resolves to private address fc00::1"),
        ("http://169.254.1.1/a.png", "resolves to link-local address 169.254.1.1"),
        ("http://[fe80::1%25eth0]/a.png", "resolves to link-local address fe80::1"),
        ("http://100.64.0.1/a.png", "resolves to shared (carrier-grade NAT) address 100.64.0.1"),
        ("http://0.0.0.0/a.png", "resolves to unspecified address 0.0.0.0"),
        ("http://[::]/a.png", "resolves to unspecified address ::"),
        ("http://224.0.0.1/a.png", "resolves to multicast address 224.0.0.1"),
        ("http://192.0.2.10/a.png", "resolves to documentation address 192.0.2.10"),
        ("http://240.0.0.1/a.png", "resolves to reserved address 240.0.0.1"),
        ("http://169.254.169.254/latest/meta-data", "resolves to cloud metadata address 169.254.169.254"),
        ("http://[fd00:ec2::254]/latest/meta-data", "resolves to cloud metadata address fd00:ec2::254"),
        ("http://100.100.100.200/latest/meta-data", "resolves to cloud metadata address 100.100.100.200"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a cloud metadata host"),
        ("http://[::ffff:192.168.0.1]/a.png", "resolves to private address 192.168.0.1 (embedded in ::ffff:"),
        ("http://[2002:a00:5::1]/a.png", "resolves to private address 10.0.0.5 (embedded in 2002:a00:5::1)"),
        (  # Teredo: the client address is stored inverted
            "http://[2001:0:4136:e378:8000:63bf:f5ff:fffa]/a.png",
            "resolves to private address 10.0.0.5 (embedded in 2001:0:4136:e378:8000:63bf:f5ff:fffa)",
        ),
        ("http://[64:ff9b::a9fe:a9fe]/a.png", "resolves to cloud metadata address 169.254.169.254 (embedded in"),
        ("http://no-such-host.invalid/a.png", "cannot resolve host 'no-such-host.invalid'"),
    ],
)
def test_urls_that_could_reach_internal_services_are_refused_naming_the_reason(url, reason):
    with pytest.raises(BadInput) as caught:
        check_url(url, UrlPolicy())
    assert caught.value.source == url
    assert caught.value.reason.startswith(reason), caught.value.reason


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "127.0.0.01"])
def test_ipv4_in_odd_notations_is_refused_although_the_resolver_would_read_it_as_loopback(host):
    assert socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)[0][4][0] == "127.0.0.1"
    with pytest.raises(BadInput, match="non-standard notation; write it as a.b.c.d"):
        check_url(f"http://{host}/a.png", LOOPBACK)


def test_a_public_host_gives_the_target_to_connect_to():
    target = check_url("https://Bücher.example./a b.png?size=large&q=1 2#top", UrlPolicy(), resolve=public_dns)
    assert (target.host, target.port, target.addresses) == ("xn--bcher-kva.example", 443, (PUBLIC,))
    assert target.path == "/a%20b.png?size=large&q=1%202"
    assert target.host_header == "xn--bcher-kva.example"
    assert check_url("http://[2606:4700::1111]:8080/", UrlPolicy()).host_header == "[2606:4700::1111]:8080"


def test_every_resolved_address_must_be_public():
    def mixed(host, port):
        return [PUBLIC, ipaddress.ip_address("10.0.0.5")]

    with pytest.raises(BadInput, match="resolves to private address 10.0.0.5"):
        check_url("https://cdn.example.com/a.png", UrlPolicy(), resolve=mixed)


def test_loopback_flag_lets_only_loopback_through():
    assert check_url("http://127.0.0.1:8080/a.png", LOOPBACK).addresses == (ipaddress.ip_address("127.0.0.1"),)
    assert check_url("http://[::1]/a.png", LOOPBACK).addresses == (ipaddress.ip_address("::1"),)
    for url in ("http://10.0.0.5/", "http://169.254.169.254/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"):
        with pytest.raises(BadInput, match="resolves to"):
            check_url(url, LOOPBACK)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/a.png", True),
        ("https://cdn.example.com/a.png", True),
        ("https://EXAMPLE.com./a.png", True),
        ("https://badexample.com/a.png", False),
        ("https://example.com.evil.net/a.png", False),
        ("https://other.org/a.png", False),
    ],
)
def test_domain_allowlist_admits_the_domain_and_its_subdomains_only(url, allowed):
    policy = UrlPolicy(allowed_domains=("example.com", "images.partner.net"))
    if allowed:
        assert check_url(url, policy, resolve=public_dns).url == url
    else:
        with pytest.raises(BadInput, match=r"is not in the allowed domains \(example.com, images.partner.net\)"):
            check_url(url, policy, resolve=public_dns)


# --- against a real server on 127.0.0.1 ---


@pytest.fixture(scope="module")
def server():
    with serve() as running:
        hops = {f"/hop/{n}": Reply.redirect(f"/hop/{n + 1}") for n in range(6)}
        running.routes.update(
            {
                "/a.png": Reply(PNG, "image/png"),
                "/doc.pdf": Reply(PDF, "application/pdf"),
                "/clip.mp4": Reply(b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
                "/moved": Reply.redirect("/a.png", status=301),
                "/to-private": Reply.redirect("http://10.0.0.5/x"),
                "/to-metadata": Reply.redirect("http://169.254.169.254/latest/meta-data"),
                "/to-ftp": Reply.redirect("ftp://example.com/a.png"),
                "/to-ip": Reply.redirect(running.url("/a.png", host="127.0.0.1")),
                **hops,
                "/hop/6": Reply(PNG, "image/png"),
                "/big": Reply(b"\x89PNG" + bytes(5000), "image/png"),
                "/big-close": Reply(b"\x89PNG" + bytes(5000), "image/png", framing="close"),
                "/big-chunked": Reply(b"\x89PNG" + bytes(5000), "image/png", framing="chunked"),
                "/page.html": Reply(HTML, "text/html; charset=utf-8"),
                "/no-type": Reply(PNG, None),
                "/fake.png": Reply(HTML, "image/png"),
                "/gzip.png": Reply(PNG, "image/png", headers={"Content-Encoding": "gzip"}),
                "/short.png": Reply(PNG, "image/png", headers={"Content-Length": str(len(PNG) + 100)}, framing="close"),
            }
        )
        for framing in ("length", "close", "chunked"):
            running.routes[f"/slow-{framing}"] = Reply(b"\x89PNG" + bytes(46), "image/png", framing=framing, drip_s=0.2)
        yield running


@pytest.mark.parametrize(("path", "content_type"), [("/a.png", "image/png"), ("/doc.pdf", "application/pdf")])
def test_images_and_pdfs_are_fetched(server, path, content_type):
    fetched = fetch_url(server.url(path), LOOPBACK)
    assert fetched.body == server.routes[path].body and fetched.content_type == content_type


def test_videos_and_relative_redirects_are_followed(server):
    assert fetch_url(server.url("/clip.mp4"), LOOPBACK).content_type == "video/mp4"
    assert fetch_url(server.url("/moved"), LOOPBACK).body == PNG


def test_without_the_test_flag_the_local_server_is_refused_before_any_request(server):
    before = len(server.seen)
    with pytest.raises(BadInput) as caught:
        fetch_url(server.url("/a.png"), UrlPolicy())
    assert caught.value.reason == "resolves to loopback address 127.0.0.1"
    assert len(server.seen) == before


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/to-private", "redirect to http://10.0.0.5/x: resolves to private address 10.0.0.5"),
        (
            "/to-metadata",
            "redirect to http://169.254.169.254/latest/meta-data: resolves to cloud metadata address 169.254.169.254",
        ),
        ("/to-ftp", "redirect to ftp://example.com/a.png: scheme 'ftp' is not allowed (http and https only)"),
        ("/hop/0", "more than 5 redirects"),
    ],
)
def test_each_redirect_is_checked_again_and_named(server, path, reason):
    with pytest.raises(BadInput) as caught:
        fetch_url(server.url(path), LOOPBACK)
    assert (caught.value.source, caught.value.reason) == (server.url(path), reason)


def test_five_redirects_are_followed(server):
    assert fetch_url(server.url("/hop/1"), LOOPBACK).body == PNG


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/big", "body is 5,004 bytes, over the 1,000-byte limit"),
        ("/big-close", "body exceeds the 1,000-byte limit"),
        ("/big-chunked", "body exceeds the 1,000-byte limit"),
        ("/page.html", "content type 'text/html' is not an image, PDF or video"),
        ("/no-type", "content type '(none)' is not an image, PDF or video"),
        ("/fake.png", "the body is an HTML page, not image/png"),
        ("/gzip.png", "compressed answers (Content-Encoding: gzip) are not accepted"),
        ("/short.png", "fetch failed: IncompleteRead"),
        ("/missing.png", "server answered HTTP 404"),
    ],
)
def test_bodies_outside_the_limits_are_refused(server, path, reason):
    with pytest.raises(BadInput) as caught:
        fetch_url(server.url(path), UrlPolicy(allow_loopback=True, max_bytes=1000, timeout_s=5))
    assert caught.value.source == server.url(path)
    assert caught.value.reason.startswith(reason), caught.value.reason


@pytest.mark.parametrize("framing", ["length", "close", "chunked"])
def test_a_slow_drip_body_fails_at_the_overall_deadline(server, framing):
    # 50 bytes, one every 0.2 s: each read is quick, so only a deadline over the whole answer stops it.
    with pytest.raises(BadInput) as caught:
        fetch_url(server.url(f"/slow-{framing}"), UrlPolicy(allow_loopback=True, timeout_s=1))
    assert caught.value.reason == "no complete answer within 1 s"


def test_domain_allowlist_against_a_real_server_including_redirects(server):
    policy = UrlPolicy(allow_loopback=True, allowed_domains=("localhost",), timeout_s=5)
    assert fetch_url(server.url("/a.png", host="localhost"), policy).body == PNG
    with pytest.raises(BadInput, match=r"^.*: host '127.0.0.1' is not in the allowed domains \(localhost\)$"):
        fetch_url(server.url("/a.png"), policy)
    with pytest.raises(BadInput) as caught:
        fetch_url(server.url("/to-ip", host="localhost"), policy)
    assert caught.value.reason == (
        f"redirect to {server.url('/a.png')}: host '127.0.0.1' is not in the allowed domains (localhost)"
    )


def test_the_connection_goes_to_the_checked_address_not_a_second_dns_answer(server):
    answers = [[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("10.0.0.5")]]
    asked = []

    def rebinding_dns(host, port):
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    url = f"http://rebind.test:{server.port}/a.png"
    assert fetch_url(url, LOOPBACK, resolve=rebinding_dns).body == PNG
    assert asked == ["rebind.test"]
    assert server.seen[-1] == ("/a.png", f"rebind.test:{server.port}")


def test_the_test_flag_is_logged_once(server, caplog):
    fetch._warn_loopback_allowed.cache_clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.ingest.fetch"):
        fetch_url(server.url("/a.png"), LOOPBACK)
        fetch_url(server.url("/a.png"), LOOPBACK)
    assert [record.getMessage() for record in caplog.records] == [
        "VLSEARCH_URL_ALLOW_LOOPBACK is on: URLs may reach 127.0.0.1 and ::1 (meant for tests only)"
    ]


def test_https_is_pinned_to_the_checked_address_and_verified_against_the_host_name(tmp_path, monkeypatch):
    tls, certificate = self_signed_tls(tmp_path, "pinned.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))

    def loopback_dns(host, port):
        return [ipaddress.ip_address("127.0.0.1")]

    with serve(tls) as https:
        https.routes["/a.png"] = Reply(PNG, "image/png")
        assert fetch_url(https.url("/a.png", host="pinned.test"), LOOPBACK, resolve=loopback_dns).body == PNG
        assert https.seen[-1] == ("/a.png", f"pinned.test:{https.port}")
        with pytest.raises(BadInput, match="TLS certificate check failed: IP address mismatch"):
            fetch_url(https.url("/a.png"), LOOPBACK)
