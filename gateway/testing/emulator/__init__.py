"""A Cloudflare Workers AI emulator: a real local HTTP server faithful to the public
Workers AI documentation (https://developers.cloudflare.com/workers-ai/ and
https://developers.cloudflare.com/api/resources/ai/methods/run/), for tests, the demo and
benchmarks.

    with WorkersAIEmulator(account_id="test-account", token="test-token") as emu:
        requests.post(f"{emu.base_url}/accounts/test-account/ai/run/@cf/meta/llama-3.1-8b-instruct-fp8",
                      headers={"Authorization": "Bearer test-token"}, json={"prompt": "hi"})
        emu.last_request.json  # what reached the "upstream"

Control: reset(), inject_error(status, code, message, model=None, times=1),
set_latency(first_byte, per_chunk); open_streams and cut_streams count streamed answers being
written and those whose client left early. The same over HTTP under /__emulator/ (requests,
streams, reset, error, latency). The deterministic reply rule and trigger phrases are documented in replies.py.
"""

from __future__ import annotations

from .server import CapturedRequest, WorkersAIEmulator

__all__ = ["CapturedRequest", "WorkersAIEmulator"]
