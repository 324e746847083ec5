"""Image generation under `make bench` (bench/run.py calls `image_rows` with its server and worker).

A 1024x1024 PNG through the gateway — admission, the job rows, the Celery hop through Redis,
FLUX's JPEG decoded and re-encoded as PNG by Pillow, the file stored, the signed link — against
the same FLUX call straight to the emulator, serially; then n=4 in one request, which the worker
runs as four parallel jobs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import requests

RUNS = 20


def _p50(call: Callable[[], None]) -> float:
    call()  # warm-up
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def image_rows(base: str, headers: dict[str, str], upstream: str, token: str) -> list[str]:
    def through(n: int, output_format: str = "png") -> Callable[[], None]:
        body = {"model": "dall-e-2", "prompt": "a lighthouse at dusk", "n": n, "output_format": output_format}

        def call() -> None:
            answer = requests.post(f"{base}/v1/images/generations", json=body, headers=headers, timeout=120)
            answer.raise_for_status()
            assert len(answer.json()["data"]) == n

        return call

    def direct() -> None:
        requests.post(
            f"{upstream}/@cf/black-forest-labs/flux-1-schnell",
            json={"prompt": "a lighthouse at dusk"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).raise_for_status()

    png, jpeg, direct_ms, four = _p50(through(1)), _p50(through(1, "jpeg")), _p50(direct), _p50(through(4))
    return [
        f"| image 1024x1024, serial: through the gateway (png / jpeg) / FLUX direct p50, overhead (png) | "
        f"{png:.1f} / {jpeg:.1f} / {direct_ms:.1f} ms, {png - direct_ms:.1f} ms |",
        f"| images, n=4 in one request (four jobs on a 2-thread worker) p50 | {four:.1f} ms |",
    ]
