"""A Cloudflare Workers AI emulator: a real local HTTP server faithful to the public
Workers AI documentation (https://developers.cloudflare.com/workers-ai/ and
https://developers.cloudflare.com/api/resources/ai/methods/run/), for tests, the demo and
benchmarks.

    with WorkersAIEmulator(account_id="test-account", token="test-token") as emu:
        requests.post(f"{emu.base_url}/accounts/test-account/ai/run/@cf/meta/llama-3.1-8b-instruct-fp8",
                      headers={"Authorization": "Bearer test-token"}, json={"prompt": "hi"})
        emu.last_request.json  # what reached the "upstream"

Control: reset(), inject_error(status, code, message, model=None, times=1),
inject_fault(kind, model=None, times=1, after_events=1) (a broken upstream: "drop" closes the
connection before answering, "cut" closes it part-way through the answer, "malformed" answers
JSON that does not parse or a stream event that is not JSON; server.py FAULT_KINDS),
set_latency(first_byte, per_chunk) (per_chunk also paces Aura's audio chunks),
set_speech_container("mp3" | "wav") (what MeloTTS's base64 audio holds; reset() returns to
"mp3"); open_streams and cut_streams count streamed answers (SSE and Aura's chunked audio) being
written and those whose client left early. requests captures every body as received, binary too
(CapturedRequest.body). The same over HTTP under /__emulator/ (requests, with body_base64 for a
body that is not JSON; streams; reset; error; fault; latency; speech {"container": "wav"}). The
deterministic reply rule and trigger phrases are documented in replies.py; the transcript rule
and the synthesised audio in speech.py; the pictures in image_models.py.

Images (https://developers.cloudflare.com/workers-ai/models/flux-1-schnell/ and
/stable-diffusion-xl-base-1.0/): FLUX.1 schnell answers the envelope with {"image": base64 of a
1024×1024 JPEG}, the same bytes for the same prompt; stable-diffusion-xl-base-1.0,
stable-diffusion-xl-lightning and dreamshaper-8-lcm answer the PNG bytes themselves (no envelope,
Content-Type image/png) of width×height (256–2048 each, default 1024×1024), the same bytes for the
same prompt, seed and size. Both validate strictly (400 / 5006), and injected errors, latency and
request capture apply to them as to every model.

Needs the standard library, PyAV (`av`) and Pillow, both in requirements.txt: Whisper decodes the
audio it is sent to its real duration, MeloTTS and Aura answer real, decodable audio, and the image
models real, decodable pictures.
"""

from __future__ import annotations

from .server import CapturedRequest, WorkersAIEmulator

__all__ = ["CapturedRequest", "WorkersAIEmulator"]
