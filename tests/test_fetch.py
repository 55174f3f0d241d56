import pytest

from pipeline.errors import BadInput
from pipeline.fetch import UrlPolicy, check_public_url, fetch_url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://example.com/a.png", "scheme 'ftp' is not allowed"),
        ("http://127.0.0.1:8080/a.png", "non-public address 127.0.0.1"),
        ("http://localhost/a.png", "non-public address"),
        ("http://169.254.169.254/latest/meta-data", "non-public address 169.254.169.254"),
        ("http://10.1.2.3/a.png", "non-public address 10.1.2.3"),
        ("http://[::1]/a.png", "non-public address ::1"),
        ("http://[::ffff:192.168.0.1]/a.png", "non-public address 192.168.0.1"),
        ("https:///nohost", "URL has no host"),
        ("http://no-such-host.invalid/a.png", "cannot resolve host"),
    ],
)
def test_urls_that_could_reach_internal_services_are_refused(url, reason):
    with pytest.raises(BadInput, match=reason.replace(".", r"\.").replace("[", r"\[")) as caught:
        check_public_url(url)
    assert caught.value.source == url


def test_fetch_checks_before_connecting():
    with pytest.raises(BadInput, match="non-public address"):
        fetch_url("http://127.0.0.1:9/a.png", UrlPolicy(max_bytes=1000))
