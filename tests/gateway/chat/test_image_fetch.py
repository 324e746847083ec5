"""The SSRF-guarded image fetch (gateway/chat/image_fetch.py) against a real local server.

The server listens on 127.0.0.1, which the guard refuses unless GATEWAY_IMAGE_FETCH_ALLOW_HOSTS
names it, so each test allowlists it only where a fetch must reach it. Name resolution is replaced
(monkeypatched getaddrinfo) only to give a test host name an answer, or a late one: the system
resolver of a slow DNS server, which no test can set up otherwise.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme
from image_origin import PNG, ImageOrigin

from gateway.chat.image_fetch import NOT_PUBLIC, fetch_image
from gateway.errors import GatewayError

PARAM = "messages[0].content[1].image_url.url"
REFUSED = f"Could not fetch the image at {PARAM}: {NOT_PUBLIC}."


@pytest.fixture
def origin() -> Iterator[ImageOrigin]:
    with ImageOrigin() as server:
        yield server


@pytest.fixture
def allow_origin(settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1/32"]


def fetch_error(url: str) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        fetch_image(url, param=PARAM)
    error = caught.value
    assert error.status == 400 and error.param == PARAM
    return error


def resolve_as(monkeypatch: pytest.MonkeyPatch, name: str, *answers: list[str]) -> list[str]:
    """getaddrinfo answers `name` with answers[0], then answers[1], …; other names as usual."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != name:
            return real(host, port, *args, **kwargs)
        addresses = answers[min(len(asked), len(answers) - 1)]
        asked.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# --- what the guard refuses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",
        "2130706433",  # 127.0.0.1 written as one number
        "0177.0.0.1",  # octal
        "0x7f.0.0.1",  # hex
        "0x7f000001",
        "017700000001",  # octal, one number
        "127.1",  # the short form
        "0177.1",
        "10.1",  # 10.0.0.1
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[fc00::1]",
        "[::]",
        "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
        "localhost",
    ],
)
def test_it_refuses_addresses_that_are_not_public(origin, host) -> None:  # type: ignore[no-untyped-def]
    error = fetch_error(f"http://{host}:{origin.port}/cat.png")

    assert error.code == "image_url_refused"
    assert error.message == REFUSED
    assert origin.hits == []


def test_it_refuses_a_name_if_any_of_its_addresses_is_private(origin, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1/32"]
    resolve_as(monkeypatch, "mixed.test", ["127.0.0.1", "10.1.2.3"])

    assert fetch_error(origin.url("/cat.png", host="mixed.test")).code == "image_url_refused"
    assert origin.hits == []


def test_an_allowlisted_network_never_opens_the_metadata_address(settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["169.254.0.0/16", "0.0.0.0/0", "::/0", "169.254.169.254"]

    assert fetch_error("http://169.254.169.254/latest/meta-data/").message == REFUSED
    assert fetch_error("http://[fd00:ec2::254]/latest/meta-data/").message == REFUSED


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/cat.png", "gopher://127.0.0.1:70/", "javascript:alert(1)", "http:///x"],
)
def test_it_takes_only_http_and_https(url) -> None:  # type: ignore[no-untyped-def]
    assert fetch_error(url).code == "invalid_image_url"


def test_it_refuses_credentials_in_the_url(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    assert fetch_error(f"http://user:secret@127.0.0.1:{origin.port}/cat.png").code == "invalid_image_url"
    assert origin.hits == []


# --- fetching ----------------------------------------------------------------------------------


def test_it_fetches_an_allowlisted_image_as_a_data_url(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    url = fetch_image(origin.url("/cat.png"), param=PARAM)

    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert [(hit.path, hit.host) for hit in origin.hits] == [("/cat.png", f"127.0.0.1:{origin.port}")]


def test_an_allowlisted_host_name_is_allowed_whatever_it_resolves_to(origin, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["Images.Test"]
    resolve_as(monkeypatch, "images.test", ["127.0.0.1"])

    assert fetch_image(origin.url("/cat.png", host="images.test"), param=PARAM).startswith("data:image/png;base64,")


def test_it_connects_to_the_address_it_checked_not_to_a_second_answer(origin, monkeypatch, allow_origin) -> None:  # type: ignore[no-untyped-def]
    # DNS rebinding: the first answer passes the guard, every later one points inside.
    asked = resolve_as(monkeypatch, "rebind.test", ["127.0.0.1"], ["10.0.0.1"])

    url = fetch_image(origin.url("/cat.png", host="rebind.test"), param=PARAM)

    assert url.startswith("data:image/png;base64,")
    assert asked == ["rebind.test"]  # resolved once, by the guard
    assert origin.hits[0].host == f"rebind.test:{origin.port}"  # the name still goes in Host


def test_it_tries_the_next_checked_address_when_one_refuses(origin, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.0/8"]
    resolve_as(monkeypatch, "two.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on .2

    assert fetch_image(origin.url("/cat.png", host="two.test"), param=PARAM).startswith("data:image/png;base64,")


def test_it_follows_redirects_checking_every_hop(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    assert fetch_image(origin.url("/hops?n=3"), param=PARAM).startswith("data:image/png;base64,")
    assert [hit.path for hit in origin.hits] == ["/hops?n=3", "/hops?n=2", "/hops?n=1", "/cat.png"]


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/cat.png", "http://169.254.169.254/latest/meta-data/", "http://[::1]:{port}/cat.png"]
)
def test_a_redirect_to_a_private_address_is_refused(origin, allow_origin, target) -> None:  # type: ignore[no-untyped-def]
    error = fetch_error(origin.url("/redirect?to=" + target.format(port=origin.port)))

    assert error.code == "image_url_refused" and error.message == REFUSED
    assert len(origin.hits) == 1  # the redirect itself, and no further


def test_more_than_three_redirects_are_refused(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    error = fetch_error(origin.url("/hops?n=4"))

    assert error.code == "image_fetch_failed" and "redirected more than 3 times" in error.message
    assert len(origin.hits) == 4


def test_it_refuses_what_is_not_an_image(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    error = fetch_error(origin.url("/page.html"))

    assert error.code == "image_fetch_failed"
    assert "text/html, not an image" in error.message


def test_an_error_status_is_a_failed_fetch(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    assert "HTTP 404" in fetch_error(origin.url("/nothing-here.png")).message


def test_an_image_over_the_cap_is_refused_by_its_length(origin, allow_origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_MAX_BYTES = 1000

    assert fetch_image(origin.url("/sized?bytes=1000"), param=PARAM).startswith("data:image/jpeg;base64,")
    assert fetch_error(origin.url("/sized?bytes=1001")).code == "image_too_large"


def test_a_length_header_int_cannot_read_is_no_500(origin, allow_origin) -> None:  # type: ignore[no-untyped-def]
    # "²" passes str.isdigit(); int() refuses it (a ValueError, once a 500). The header is ignored
    # and the body read as sent, under the same byte cap.
    assert fetch_image(origin.url("/odd-length"), param=PARAM).startswith("data:image/png;base64,")


def test_an_image_over_the_cap_is_cut_off_while_streaming(origin, allow_origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_MAX_BYTES = 1000
    started = time.monotonic()

    error = fetch_error(origin.url("/unsized?bytes=50000000"))

    assert error.code == "image_too_large" and "1000 bytes" in error.message
    assert time.monotonic() - started < 2  # it did not read 50 MB first


@pytest.fixture
def slow_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A host name whose lookup answers 127.0.0.1 only when the test is over (at most 10 s later)."""
    name = "slow.test"
    real = socket.getaddrinfo
    over = threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != name:
            return real(host, port, *args, **kwargs)
        over.wait(10)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield name
    over.set()


@pytest.mark.parametrize("first_hop", [True, False], ids=["url", "redirect"])
def test_a_slow_name_lookup_counts_against_the_deadline(origin, allow_origin, settings, slow_dns, first_hop) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_TIMEOUT_SECONDS = 0.5
    slow = origin.url("/cat.png", host=slow_dns)
    started = time.monotonic()

    error = fetch_error(slow if first_hop else origin.url("/redirect?to=" + slow))

    assert error.code == "image_fetch_failed" and "timed out" in error.message
    assert time.monotonic() - started < 1.5
    assert [hit.path for hit in origin.hits] == ([] if first_hop else ["/redirect?to=" + slow])


@pytest.mark.parametrize("path", ["/slow?seconds=3", "/drip?seconds=3"])
def test_a_slow_server_times_out(origin, allow_origin, settings, path) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_TIMEOUT_SECONDS = 0.5
    started = time.monotonic()

    error = fetch_error(origin.url(path))

    assert error.code == "image_fetch_failed" and "timed out" in error.message
    assert time.monotonic() - started < 1.5


# --- https: the name is verified although the connection goes to the address ------------------


@pytest.fixture
def tls(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))

    def origin_for(name: str) -> ImageOrigin:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(context)
        return ImageOrigin(ssl_context=context)

    return origin_for


def test_https_verifies_the_certificate_against_the_host_name(tls, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1/32"]
    resolve_as(monkeypatch, "images.test", ["127.0.0.1"])

    with tls("images.test") as origin:
        url = fetch_image(origin.url("/cat.png", host="images.test", scheme="https"), param=PARAM)

    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert origin.server_names == ["images.test"]  # SNI carries the name, not 127.0.0.1
    assert origin.hits[0].host == f"images.test:{origin.port}"


def test_https_refuses_a_certificate_for_another_name(tls, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1/32"]
    resolve_as(monkeypatch, "images.test", ["127.0.0.1"])

    with tls("someone-else.test") as origin:
        error = fetch_error(origin.url("/cat.png", host="images.test", scheme="https"))

    assert error.code == "image_fetch_failed" and "TLS" in error.message
    assert origin.hits == []


def test_a_name_that_does_not_resolve_reads_like_a_private_one() -> None:
    from gateway.chat.image_fetch import fetch_image
    from gateway.errors import GatewayError

    with pytest.raises(GatewayError) as caught:
        fetch_image("http://no-such-host.invalid/cat.png", param=PARAM)

    assert caught.value.message == REFUSED
    assert caught.value.code == "image_url_refused"


@pytest.mark.parametrize("port", [22, 6379, 8080, 8443])
def test_a_public_address_on_another_port_is_refused_as_a_private_one(monkeypatch, port) -> None:  # type: ignore[no-untyped-def]
    resolve_as(monkeypatch, "public.test", ["93.184.215.14"])  # a public address: never connected to here

    error = fetch_error(f"http://public.test:{port}/cat.png")

    assert (error.code, error.message) == ("image_url_refused", REFUSED)  # the same words for every refusal


def test_a_redirect_to_another_port_of_a_public_host_is_refused(origin, allow_origin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    resolve_as(monkeypatch, "public.test", ["93.184.215.14"])
    assert fetch_error(origin.url("/redirect?to=http://public.test:8080/cat.png")).message == REFUSED
    assert len(origin.hits) == 1  # the redirect itself, and no further
