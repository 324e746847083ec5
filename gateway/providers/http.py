"""Pooled HTTP sessions for upstream calls, and what their transport failures mean.

One `requests.Session` per upstream base URL, shared by every thread of the process, so
keep-alive connections are reused instead of paying a TCP/TLS handshake per request. urllib3's
pool is thread-safe; the session holds no other per-request state because cookies are refused
(the upstream sets none the gateway needs, and a shared jar would leak between callers).

No automatic retries: whether to retry, fall back to another route or give up is the gateway's
decision (routing and limits), and a retry hidden here would double upstream spend unseen.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri
from urllib3.exceptions import ReadTimeoutError

from gateway.providers.base import ProviderError

# Connections kept open per upstream host. A streaming response holds one for its whole length,
# so this bounds concurrent streams per worker process before new connections are opened and
# dropped after use (pool_block=False: never wait for a free slot). The gateway sizes it to the
# worker's concurrency at start-up (`configure`, from GATEWAY_UPSTREAM_POOL_SIZE).
POOL_MAXSIZE = 64


def configure(pool_maxsize: int) -> None:
    """Connections kept per upstream host by sessions made from now on."""
    global POOL_MAXSIZE
    POOL_MAXSIZE = max(1, pool_maxsize)


_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(base_url: str) -> requests.Session:
    """The process-wide session for one upstream base URL, created on first use."""
    key = base_url.rstrip("/")
    session = _sessions.get(key)
    if session is not None:
        return session
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = new_session()
            _sessions[key] = session
        return session


def new_session() -> requests.Session:
    session = requests.Session()
    # With trust_env, every request re-reads proxy settings from the whole environment (about
    # 0.5 ms a call, measured with cProfile). Without any proxy variable set there is nothing to
    # find, so skip the lookup; with one set, keep requests' full handling (no_proxy included).
    session.trust_env = bool(urllib.request.getproxies())
    if not session.trust_env:  # the one other thing trust_env reads: a custom CA bundle
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    timeout: tuple[float, float],
    **kwargs: Any,
) -> requests.Response:
    """`session.request(...)`; a POST whose only body is `json` takes `post_json`'s shorter way."""
    payload = kwargs.get("json")
    if method == "POST" and payload is not None and not any(kwargs.get(k) for k in ("data", "files", "params")):
        return post_json(session, url, payload, headers=headers, timeout=timeout, stream=kwargs.get("stream", False))
    return session.request(method, url, headers=headers, timeout=timeout, **kwargs)


def post_json(
    session: requests.Session,
    url: str,
    payload: Any,
    *,
    headers: dict[str, str],
    timeout: tuple[float, float],
    stream: bool,
) -> requests.Response:
    """POST `payload` as JSON: what `session.request("POST", url, json=payload, ...)` sends, through
    the same adapter and pool, raising the same exceptions, without Session's per-call merging of
    cookies, hooks, auth and environment settings (a tenth of a chat request's CPU, py-spy).

    The body is compact JSON, UTF-8 (requests' own would be ", "-spaced and ASCII-escaped). A
    redirect answer, which the fast path does not follow, is dropped and the request sent again
    through the full Session; so is every request while a proxy setting is in the environment.
    """
    if session.trust_env:
        return session.request("POST", url, json=payload, headers=headers, timeout=timeout, stream=stream)
    try:
        body = json.dumps(payload, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode()
    except ValueError as exc:  # NaN or infinity: not JSON (requests refuses them the same way)
        raise requests.exceptions.InvalidJSONError(exc) from exc
    prepared = requests.PreparedRequest()
    prepared.method = "POST"
    prepared.url = requote_uri(url)
    prepared.headers = CaseInsensitiveDict(session.headers)
    prepared.headers.update(headers)
    prepared.headers["Content-Type"] = "application/json"
    prepared.headers["Content-Length"] = str(len(body))
    prepared.body = body
    adapter = session.get_adapter(prepared.url)
    response = adapter.send(
        prepared, stream=stream, timeout=timeout, verify=session.verify, cert=session.cert, proxies={}
    )
    if response.is_redirect:
        response.close()
        return session.request("POST", url, json=payload, headers=headers, timeout=timeout, stream=stream)
    if not stream:
        response.content  # noqa: B018 -- read now, inside the caller's transport-error handling
    return response


def release(response: requests.Response) -> None:
    """A streamed response read to its end: its connection goes back to the pool for the next
    request (a stream per connection cost a connect and a close each), after reading what is left
    of the body (the last chunk's terminator). Closed instead when that fails."""
    try:
        response.raw.drain_conn()
        response.raw.release_conn()
    except Exception:
        response.close()


def abort(response: requests.Response) -> None:
    """Close a streamed response before its end, also while another thread is blocked reading it.

    Closing alone does not wake a read blocked in recv() on another thread; shutting the socket's
    reading side first does (urllib3's HTTPResponse.shutdown, added for exactly this). The
    connection is then closed, not pooled: the upstream sees it gone at once and stops generating.
    """
    try:
        response.raw.shutdown()
    except (AttributeError, NotImplementedError, ValueError, RuntimeError, OSError):
        pass  # no socket left to shut (already released or closed): close() below is enough
    try:
        response.close()
    except RuntimeError:
        # Under gevent the reader is a greenlet of this same OS thread, parked inside the buffered
        # reader's lock, which then refuses a close as a reentrant call: close the socket itself.
        # The parked read fails at once, and the reader lets the response go.
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if sock is not None:
            sock.close()


def transport_error(exc: requests.RequestException, upstream: str) -> ProviderError:
    """Map a `requests` failure to the gateway's error kinds.

    `upstream` names the service in the message ("Workers AI"); the URL is left out because it
    carries the account id.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return ProviderError("unavailable", f"Could not connect to {upstream} in time.")
    if isinstance(exc, requests.ReadTimeout) or _is_read_timeout_mid_body(exc):
        return ProviderError("timeout", f"{upstream} did not answer in time.")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return ProviderError("upstream", f"{upstream} broke off its response.")
    if isinstance(exc, requests.ConnectionError):
        return ProviderError("unavailable", f"Could not connect to {upstream}.")
    return ProviderError("upstream", f"Request to {upstream} failed: {type(exc).__name__}.")


def _is_read_timeout_mid_body(exc: requests.RequestException) -> bool:
    # While a streamed body is read, requests re-raises urllib3's ReadTimeoutError as a plain
    # ConnectionError (requests.models.Response.iter_content); the cause is in its args.
    return isinstance(exc, requests.ConnectionError) and any(isinstance(arg, ReadTimeoutError) for arg in exc.args)
