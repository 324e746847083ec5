"""A client's http(s) image URL, fetched by the gateway and inlined as a data: URL.

Workers AI's vision model takes images only as data: URLs (the image_url parts of
https://developers.cloudflare.com/workers-ai/models/llama-3.2-11b-vision-instruct/ hold base64 data),
so the gateway downloads the rest itself, once the request is admitted (gateway/chat/service.py);
and a gateway that fetches URLs for its callers must not become their way into its own network
(SSRF). The guard, hop by hop:

- only http and https, no credentials in the URL (checked_url, also run when the request is parsed);
- the host is resolved once, and every address it resolves to must be public (not loopback,
  private, link-local, CGNAT, multicast, reserved or unspecified, also when embedded in an IPv6
  address, and whatever the spelling: octal, hex, one number), and the port 80 or 443, unless
  GATEWAY_IMAGE_FETCH_ALLOW_HOSTS names the host or a network holding the address; cloud metadata
  addresses are refused even then;
- the connection goes to that checked address, never to the name again, so a DNS answer that
  changes between check and connect (rebinding) cannot redirect it. The Host header carries the
  name, and for https so do SNI and the certificate check (urllib3's server_hostname and
  assert_hostname on a pool opened on the address);
- redirects are followed here, at most MAX_REDIRECTS, each hop checked like the first;
- one deadline for the whole fetch, name lookups of every hop included, a size cap enforced while
  reading, and an image/* type.

No proxy from the environment is used: a proxy would resolve the name itself, out of the guard's
sight. Every failure is a 400 naming the content part; the caller learns that an address was
refused, never which address or why it is internal.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import queue
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, LocationParseError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as TransferTimeout
from urllib3.util import Url, parse_url

from gateway.errors import GatewayError, invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK_BYTES = 64 * 1024
_IMAGE_TYPE = re.compile(r"^image/[a-z0-9][a-z0-9.+-]*$")
# Instance metadata services (AWS, GCP and Azure share the first; AWS's IPv6 one; Alibaba's):
# refused even when an allowlisted network contains them, which a broad CIDR easily does.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A public address is fetched on the web's ports only: a client must not make the gateway knock on
# arbitrary ports of hosts it can reach (an allowlisted host may use any port).
_PUBLIC_PORTS = {80, 443}
# One message for every refusal — private, not resolving, or a port other than 80 and 443: telling
# them apart would let a client map which names exist on the gateway's internal DNS, or which ports.
NOT_PUBLIC = "refused: images are fetched only from public addresses, on ports 80 and 443"


@dataclass(frozen=True)
class _Hop:
    scheme: str
    host: str  # the name (or literal) from the URL: Host header, SNI, certificate check
    port: int
    addresses: tuple[str, ...]  # what the host resolved to, all checked: connections go only here
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def fetch_image(url: str, *, param: str) -> str:
    """The image at an http(s) URL as a data: URL; a 400 naming `param` if that is not possible."""
    deadline = time.monotonic() + settings.GATEWAY_IMAGE_FETCH_TIMEOUT_SECONDS
    for _ in range(MAX_REDIRECTS + 1):
        hop = _hop(url, deadline, param)
        response = _get(hop, deadline, param)
        try:
            if response.status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise _failed(param, f"the server answered HTTP {response.status} without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise _failed(param, f"the server answered HTTP {response.status}")
            media_type = _media_type(response, param)
            data = _read_capped(response, deadline, param)
        finally:
            response.close()  # the connection goes with it: no pool outlives one hop
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    raise _failed(param, f"it redirected more than {MAX_REDIRECTS} times")


# --- the guard ---------------------------------------------------------------------------------


def checked_url(url: str, param: str) -> Url:
    """An http(s) URL's parts once its syntax passed (no lookup, no connection): what parsing a
    request checks, before the request is admitted, and what every hop of a fetch checks again."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise invalid(f"The image URL at {param} is not a valid URL.", param=param, code="invalid_image_url") from None
    if (parsed.scheme or "").lower() not in {"http", "https"}:
        raise invalid(
            f"The image URL at {param} must be an http, https or data: URL.", param=param, code="invalid_image_url"
        )
    if parsed.auth:
        raise invalid(f"The image URL at {param} must not carry credentials.", param=param, code="invalid_image_url")
    if not (parsed.host or "").strip("[]"):
        raise invalid(f"The image URL at {param} has no host.", param=param, code="invalid_image_url")
    return parsed


def _hop(url: str, deadline: float, param: str) -> _Hop:
    parsed = checked_url(url, param)
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").strip("[]").lower()
    port = parsed.port or (443 if scheme == "https" else 80)
    return _Hop(scheme, host, port, _checked_addresses(host, port, deadline, param), parsed.request_uri)


def _resolve(host: str, port: int, deadline: float, param: str) -> list[tuple]:
    """getaddrinfo, within the fetch's deadline.

    getaddrinfo takes no timeout (https://docs.python.org/3/library/socket.html#socket.getaddrinfo)
    and a socket's timeout covers only that socket, so a slow or silent DNS server would hold the
    request for as long as the system resolver retries. The lookup runs in a daemon thread instead;
    past the deadline it is left to finish on its own, its answer unread.
    """
    answers: queue.SimpleQueue[list[tuple] | Exception] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answers.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # handed to the waiting request, which decides
            answers.put(exc)

    threading.Thread(target=lookup, name="image-fetch-dns", daemon=True).start()
    try:
        answer = answers.get(timeout=max(deadline - time.monotonic(), 0))
    except queue.Empty:
        raise _failed(param, "it timed out") from None
    if isinstance(answer, Exception):
        raise answer
    return answer


def _checked_addresses(host: str, port: int, deadline: float, param: str) -> tuple[str, ...]:
    """The addresses the host resolves to, once every one of them passed the guard."""
    try:
        infos = _resolve(host, port, deadline, param)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    except (OSError, UnicodeError, ValueError):
        raise _refused(param) from None
    if not addresses:
        raise _refused(param)
    allowed_host, allowed_networks = _allowlist()
    for address in addresses:
        unwrapped = _unwrapped(address)
        if address in _METADATA or unwrapped in _METADATA:
            raise _refused(param)
        if host in allowed_host or any(_within(address, network) for network in allowed_networks):
            continue
        if not _is_public(address) or port not in _PUBLIC_PORTS:
            raise _refused(param)
    return tuple(dict.fromkeys(str(address).split("%")[0] for address in addresses))


def _allowlist() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts: set[str] = set()
    networks = []
    for entry in settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS:
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.lower())
    return hosts, networks


def _within(address: IPAddress, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return address in network or _unwrapped(address) in network


def _unwrapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host: judge that one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_public(address: IPAddress) -> bool:
    address = _unwrapped(address)
    if isinstance(address, ipaddress.IPv6Address):
        # 6to4 and NAT64 addresses carry an IPv4 address a relay may deliver to; Teredo's
        # 2001::/32 is not global, so it is refused below either way.
        embedded = address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not _is_public(embedded):
            return False
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


# --- the transfer ------------------------------------------------------------------------------


def _get(hop: _Hop, deadline: float, param: str) -> urllib3.BaseHTTPResponse:
    """The response of the first checked address that takes the connection, as create_connection
    would try them, but never resolving the name again."""
    for position, address in enumerate(hop.addresses):
        try:
            return _get_from(_pool(hop, address, deadline), hop, param)
        except NewConnectionError:
            if position == len(hop.addresses) - 1:
                raise _failed(param, "could not connect to the host") from None
    raise AssertionError("a hop has at least one address")


def _pool(hop: _Hop, address: str, deadline: float) -> urllib3.HTTPConnectionPool:
    remaining = max(deadline - time.monotonic(), 0.001)
    timeout = urllib3.Timeout(connect=remaining, read=remaining)
    if hop.scheme == "https":
        # Opened on the checked address; server_hostname sends the name as SNI and assert_hostname
        # verifies the certificate against the name, not against the address.
        return urllib3.HTTPSConnectionPool(
            address,
            hop.port,
            timeout=timeout,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=_ca_bundle(),
            assert_hostname=hop.host,
            server_hostname=hop.host,
        )
    return urllib3.HTTPConnectionPool(address, hop.port, timeout=timeout, maxsize=1, retries=False)


def _ca_bundle() -> str:
    # The same overrides requests honours (gateway/providers/http.py), so one CA setting serves both.
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()


def _get_from(pool: urllib3.HTTPConnectionPool, hop: _Hop, param: str) -> urllib3.BaseHTTPResponse:
    try:
        return pool.urlopen(
            "GET",
            hop.path,
            headers={
                "Host": hop.host_header,
                "Accept": "image/*",
                "Accept-Encoding": "identity",
                "User-Agent": "ai-gateway-image-fetch",
            },
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
        )
    except NewConnectionError:  # refused or unreachable: the next address may answer
        raise
    except TransferTimeout:
        raise _failed(param, "it timed out") from None
    except SSLError:
        raise _failed(param, "the TLS connection could not be verified") from None
    except HTTPError:
        raise _failed(param, "the connection failed") from None


def _media_type(response: urllib3.BaseHTTPResponse, param: str) -> str:
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not _IMAGE_TYPE.match(media_type):
        raise _failed(param, f"the content type is {media_type or 'missing'}, not an image")
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        raise _failed(param, "the server sent it compressed")
    return media_type


def _read_capped(response: urllib3.BaseHTTPResponse, deadline: float, param: str) -> bytes:
    cap = settings.GATEWAY_IMAGE_FETCH_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:  # a host may send "²", a digit
        raise too_large(param)
    chunks = []
    size = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _failed(param, "it timed out")
            # The deadline bounds the whole body, not each read: a server sending a byte at a time
            # would otherwise never trip a per-read timeout. read1 returns what one read brings.
            sock = getattr(response.connection, "sock", None)
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.read1(_CHUNK_BYTES, decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raise too_large(param)
            chunks.append(chunk)
    except (TransferTimeout, TimeoutError):
        raise _failed(param, "it timed out") from None
    except (ProtocolError, HTTPError, OSError):
        raise _failed(param, "the server broke off the transfer") from None
    if not size:
        raise _failed(param, "the server sent an empty body")
    return b"".join(chunks)


# --- errors ------------------------------------------------------------------------------------


def too_large(param: str) -> GatewayError:
    cap = settings.GATEWAY_IMAGE_FETCH_MAX_BYTES
    return invalid(f"The image at {param} is larger than this gateway accepts ({cap} bytes).", param, "image_too_large")


def _refused(param: str) -> GatewayError:
    return invalid(f"Could not fetch the image at {param}: {NOT_PUBLIC}.", param, "image_url_refused")


def _failed(param: str, reason: str) -> GatewayError:
    return invalid(f"Could not fetch the image at {param}: {reason}.", param, "image_fetch_failed")
