"""The Responses API under `make bench` (bench/run.py calls `responses_rows` with its running
server), issue 13.

Serially on one keep-alive connection, BENCH_RESPONSES_REQUESTS (300) requests per figure after a
warm-up, the compared calls taking turns (bench/routing.py's `_alternate`): the same one-line prompt
to gpt-4 as a chat completion, as a response with `store: false`, and as a stored response (its
INSERT); a stored response continuing a 10-turn conversation (the recursive read of the earlier
turns, and their 20 messages upstream); then streams of each, first byte and last.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import requests

from bench.routing import _alternate, _caller

REQUESTS = int(os.environ.get("BENCH_RESPONSES_REQUESTS", "300"))
TURNS = 10
PROMPT = "Say hi"


def _streamer(
    session: requests.Session, url: str, body: dict, headers: dict[str, str]
) -> Callable[[], tuple[float, str]]:
    """A streamed call timed to its last byte; its first byte's time is kept in `firsts`."""
    firsts: list[float] = []

    def call() -> tuple[float, str]:
        started = time.perf_counter()
        with session.post(url, json=body, headers=headers, timeout=30, stream=True) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}: {response.text[:200]}")
            chunks = response.iter_content(chunk_size=None)
            next(chunks)
            firsts.append((time.perf_counter() - started) * 1000)
            for _ in chunks:
                pass
        return (time.perf_counter() - started) * 1000, response.headers.get("x-request-id", "")

    call.firsts = firsts  # type: ignore[attr-defined]
    return call


def responses_rows(base: str, headers: dict[str, str]) -> list[str]:
    with requests.Session() as session:  # one connection: every request reaches the same worker
        chat_url, responses_url = f"{base}/v1/chat/completions", f"{base}/v1/responses"
        chat_body = {"model": "gpt-4", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16}
        body = {"model": "gpt-4", "input": PROMPT, "max_output_tokens": 16}

        previous = None
        for turn in range(TURNS):
            answer = session.post(
                responses_url, json={**body, "input": f"Turn {turn}", "previous_response_id": previous}, headers=headers
            )
            answer.raise_for_status()
            previous = answer.json()["id"]

        (chat, unstored, stored, continued) = _alternate(
            [
                _caller(session, chat_url, chat_body, headers),
                _caller(session, responses_url, {**body, "store": False}, headers),
                _caller(session, responses_url, body, headers),
                _caller(session, responses_url, {**body, "previous_response_id": previous}, headers),
            ],
            REQUESTS,
        )
        chat_stream = _streamer(session, chat_url, {**chat_body, "stream": True}, headers)
        responses_stream = _streamer(session, responses_url, {**body, "stream": True, "store": False}, headers)
        (chat_streamed, responses_streamed) = _alternate([chat_stream, responses_stream], REQUESTS)

    def p50(values: list[float]) -> float:
        return statistics.median(values)

    def firsts(call: Callable[[], tuple[float, str]]) -> list[float]:
        return call.firsts[-REQUESTS:]  # type: ignore[attr-defined]

    return [
        f"| responses, {REQUESTS} serial: chat completion / response (store false) / stored response p50, "
        f"response − chat, stored − not | {p50(chat[0]):.2f} / {p50(unstored[0]):.2f} / {p50(stored[0]):.2f} ms, "
        f"{p50(unstored[0]) - p50(chat[0]):.2f} ms, {p50(stored[0]) - p50(unstored[0]):.2f} ms |",
        f"| responses, continuing a {TURNS}-turn stored conversation p50, − a stored response without history | "
        f"{p50(continued[0]):.2f} ms, {p50(continued[0]) - p50(stored[0]):.2f} ms |",
        f"| streams, chat / responses: first byte p50, last byte p50 | "
        f"{p50(firsts(chat_stream)):.2f} / {p50(firsts(responses_stream)):.2f} ms, "
        f"{p50(chat_streamed[0]):.2f} / {p50(responses_streamed[0]):.2f} ms |",
    ]
