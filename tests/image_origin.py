"""A tiny image server on 127.0.0.1 for the image-fetch tests: images, redirects and misbehaviour.

Paths: /cat.png (a PNG), /page.html (text/html), /sized?bytes=N (an image of N bytes with its
Content-Length), /odd-length (a PNG whose Content-Length is "²"),
/unsized?bytes=N (the same without one, ended by closing), /slow?seconds=S (headers
after S seconds), /drip?seconds=S (headers at once, then a byte every 0.1 s for S seconds),
/redirect?to=URL (302), /hops?n=K (K redirects in all, the last to /cat.png), anything else 404. Every request
is recorded with the Host header it carried; with an SSL context it serves https and records SNI.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# The smallest valid PNG: 1x1, transparent.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082"
)


@dataclass(frozen=True)
class Hit:
    path: str
    host: str


class ImageOrigin:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.hits: list[Hit] = []
        self.server_names: list[str | None] = []
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        if ssl_context is not None:
            ssl_context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self) -> ImageOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], origin: ImageOrigin) -> None:
        self.origin = origin
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.origin.hits.append(Hit(self.path, self.headers.get("Host", "")))
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/cat.png":
            self._send(200, "image/png", PNG)
        elif url.path == "/page.html":
            self._send(200, "text/html; charset=utf-8", b"<html>not an image</html>")
        elif url.path == "/sized":
            self._send(200, "image/jpeg", b"x" * int(query["bytes"]))
        elif url.path == "/odd-length":  # a Content-Length of "²": a digit to str.isdigit(), not to int()
            self._odd_length()
        elif url.path == "/unsized":
            self._unsized(int(query["bytes"]))
        elif url.path == "/slow":
            time.sleep(float(query["seconds"]))
            self._send(200, "image/png", PNG)
        elif url.path == "/drip":
            self._drip(float(query["seconds"]))
        elif url.path == "/redirect":
            self._redirect(query["to"])
        elif url.path == "/hops":
            hops = int(query["n"])
            self._redirect(f"/hops?n={hops - 1}" if hops > 1 else "/cat.png")
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client hung up first, as a refusing client does

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _odd_length(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "\u00b2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(PNG)
        except OSError:
            pass

    def _unsized(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for start in range(0, size, 65536):
                self.wfile.write(b"x" * min(65536, size - start))
        except OSError:
            pass  # the client stopped reading: what a size cap should do

    def _drip(self, seconds: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(int(seconds * 10) + 1))
        self.end_headers()
        try:
            for _ in range(int(seconds * 10) + 1):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass
