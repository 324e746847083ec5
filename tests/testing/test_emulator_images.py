"""The Workers AI emulator over real HTTP: the text-to-image models, decoded here with Pillow.

FLUX.1 schnell (https://developers.cloudflare.com/workers-ai/models/flux-1-schnell/) answers the
envelope with a base64 1024×1024 JPEG; the Stable Diffusion family
(https://developers.cloudflare.com/workers-ai/models/stable-diffusion-xl-base-1.0/) answers the
PNG bytes themselves.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import pytest
import requests
from emulator_helpers import assert_bad_input, emu_fixture, run  # noqa: F401
from PIL import Image, ImageChops

from gateway.testing.emulator import WorkersAIEmulator

FLUX = "@cf/black-forest-labs/flux-1-schnell"
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
LIGHTNING = "@cf/bytedance/stable-diffusion-xl-lightning"
DREAMSHAPER = "@cf/lykon/dreamshaper-8-lcm"

# --- helpers ---------------------------------------------------------------------------------------------


def flux_bytes(emu: WorkersAIEmulator, prompt: str, **extra: Any) -> bytes:
    response = run(emu, FLUX, {"prompt": prompt, **extra})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is True and body["errors"] == [] and set(body["result"]) == {"image"}
    return base64.b64decode(body["result"]["image"], validate=True)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel: a truncated or corrupt file fails here
    return image


def differs_visibly(a: Image.Image, b: Image.Image) -> bool:
    """More than a tenth of the pixels differ by more than 32 in some channel."""
    red, green, blue = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return sum(largest.histogram()[33:]) > a.width * a.height // 10


# --- FLUX.1 schnell ----------------------------------------------------------------------------------------


def test_flux_answers_an_enveloped_1024_jpeg(emu: WorkersAIEmulator) -> None:
    image = decoded(flux_bytes(emu, "a lighthouse at dusk", steps=4))
    assert (image.format, image.size, image.mode) == ("JPEG", (1024, 1024), "RGB")
    assert max(hi - lo for lo, hi in image.getextrema()) > 64  # a picture, not one flat colour


def test_flux_is_deterministic_per_prompt(emu: WorkersAIEmulator) -> None:
    first = flux_bytes(emu, "a red fox in the snow")
    assert flux_bytes(emu, "a red fox in the snow", steps=8) == first  # steps changes nothing
    other = flux_bytes(emu, "a blue whale")
    assert other != first and differs_visibly(decoded(first), decoded(other))


def test_flux_accepts_unicode_and_the_longest_prompt(emu: WorkersAIEmulator) -> None:
    assert decoded(flux_bytes(emu, "Grüße, 世界 🌍")).size == (1024, 1024)
    assert decoded(flux_bytes(emu, "x" * 2048)).size == (1024, 1024)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "a cat", "width": 512}, "'width'"),
        ({"prompt": "a cat", "height": 512}, "'height'"),
        ({"prompt": "a cat", "seed": 1}, "'seed'"),
        ({"prompt": "x" * 2049}, "/prompt"),
        ({"prompt": ""}, "/prompt"),
        ({"prompt": "a cat", "steps": 9}, "/steps"),
        ({"prompt": "a cat", "steps": 0}, "/steps"),
        ({"prompt": "a cat", "steps": "4"}, "/steps"),
        ({"prompt": "a cat", "steps": 4.5}, "/steps"),
        ({"prompt": 7}, "/prompt"),
        ({"steps": 4}, "'prompt'"),
    ],
)
def test_flux_refuses_what_its_schema_does_not_allow(emu: WorkersAIEmulator, body: dict[str, Any], needle: str) -> None:
    assert_bad_input(run(emu, FLUX, body), needle)


# --- Stable Diffusion --------------------------------------------------------------------------------------


def sdxl(emu: WorkersAIEmulator, body: dict[str, Any], model: str = SDXL) -> requests.Response:
    return run(emu, model, body)


def test_sdxl_answers_a_bare_1024_png_by_default(emu: WorkersAIEmulator) -> None:
    response = sdxl(emu, {"prompt": "cyberpunk cat"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"  # the bytes themselves, no envelope
    assert int(response.headers["Content-Length"]) == len(response.content)
    image = decoded(response.content)
    assert (image.format, image.size) == ("PNG", (1024, 1024))


@pytest.mark.parametrize("size", [(256, 256), (512, 768), (2048, 256), (1000, 1001)])
def test_sdxl_answers_the_asked_size(emu: WorkersAIEmulator, size: tuple[int, int]) -> None:
    response = sdxl(emu, {"prompt": "a harbour", "width": size[0], "height": size[1]})
    assert decoded(response.content).size == size


def test_sdxl_is_deterministic_per_prompt_seed_and_size(emu: WorkersAIEmulator) -> None:
    body = {"prompt": "a harbour", "seed": 42, "width": 512, "height": 512}
    first = sdxl(emu, body).content
    same = sdxl(emu, {**body, "num_steps": 5, "guidance": 12.0, "negative_prompt": "fog", "strength": 0.3})
    assert same.content == first  # only prompt, seed and size choose the picture
    unseeded = {"prompt": "a harbour", "width": 512, "height": 512}
    assert sdxl(emu, unseeded).content == sdxl(emu, unseeded).content != first  # no seed is a key too
    for changed in ({"seed": 43}, {"prompt": "a desert"}):
        other = sdxl(emu, {**body, **changed}).content
        assert other != first and differs_visibly(decoded(first), decoded(other))


def test_sdxl_accepts_img2img_inputs(emu: WorkersAIEmulator) -> None:
    png = sdxl(emu, {"prompt": "a seed image", "width": 256, "height": 256}).content
    body = {
        "prompt": "the same, at night",
        "image": list(png[:64]),
        "mask": [0, 255, 128],
        "image_b64": base64.b64encode(png).decode("ascii"),
        "strength": 0.5,
        "width": 256,
        "height": 256,
    }
    assert decoded(sdxl(emu, body).content).size == (256, 256)


@pytest.mark.parametrize("model", [LIGHTNING, DREAMSHAPER])
def test_the_other_stable_diffusion_models_answer_the_same_way(emu: WorkersAIEmulator, model: str) -> None:
    response = sdxl(emu, {"prompt": "a kite", "width": 320, "height": 640, "num_steps": 4}, model)
    assert response.headers["Content-Type"] == "image/png" and decoded(response.content).size == (320, 640)
    assert_bad_input(sdxl(emu, {"prompt": "a kite", "width": 4096}, model), "/width")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "a", "width": 255}, "/width"),
        ({"prompt": "a", "width": 2049}, "/width"),
        ({"prompt": "a", "height": 100}, "/height"),
        ({"prompt": "a", "height": 4096}, "/height"),
        ({"prompt": "a", "width": 512.5}, "/width"),
        ({"prompt": "a", "width": "512"}, "/width"),
        ({"prompt": "a", "num_steps": 21}, "/num_steps"),
        ({"prompt": "a", "num_steps": 0}, "/num_steps"),
        ({"prompt": "a", "strength": 1.5}, "/strength"),
        ({"prompt": "a", "guidance": "high"}, "/guidance"),
        ({"prompt": "a", "seed": 1.5}, "/seed"),
        ({"prompt": "a", "seed": True}, "/seed"),
        ({"prompt": "a", "negative_prompt": 3}, "/negative_prompt"),
        ({"prompt": "a", "image": [256]}, "/image/0"),
        ({"prompt": "a", "mask": "abc"}, "/mask"),
        ({"prompt": "a", "image_b64": "not base64!"}, "/image_b64"),
        ({"prompt": "a", "steps": 4}, "'steps'"),
        ({"prompt": "a", "n": 2}, "'n'"),
        ({"prompt": ""}, "/prompt"),
        ({"negative_prompt": "a"}, "'prompt'"),
    ],
)
def test_sdxl_refuses_what_its_schema_does_not_allow(emu: WorkersAIEmulator, body: dict[str, Any], needle: str) -> None:
    assert_bad_input(sdxl(emu, body), needle)


def test_sdxl_refuses_a_body_that_is_not_json(emu: WorkersAIEmulator) -> None:
    response = run(emu, SDXL, None, data=b"not json")
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == 5006


# --- injection, latency, capture ---------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "body"), [(FLUX, {"prompt": "slow"}), (SDXL, {"prompt": "slow", "width": 256})])
def test_first_byte_latency_delays_image_answers(emu: WorkersAIEmulator, model: str, body: dict[str, Any]) -> None:
    emu.set_latency(first_byte=0.3)
    started = time.monotonic()
    response = run(emu, model, body)
    assert time.monotonic() - started >= 0.25
    assert response.status_code == 200


@pytest.mark.parametrize("model", [FLUX, SDXL])
def test_an_injected_error_answers_instead_of_the_image(emu: WorkersAIEmulator, model: str) -> None:
    emu.inject_error(status=429, code=3040, message="Capacity temporarily exceeded", model=model)
    refused = run(emu, model, {"prompt": "a cat"})
    assert refused.status_code == 429 and refused.headers["Content-Type"] == "application/json"
    assert refused.json()["errors"] == [{"code": 3040, "message": "Capacity temporarily exceeded"}]
    assert run(emu, model, {"prompt": "a cat"}).status_code == 200  # times=1: the next one passes


def test_image_requests_are_captured(emu: WorkersAIEmulator) -> None:
    run(emu, FLUX, {"prompt": "one"})
    run(emu, SDXL, {"prompt": "two", "seed": 7})
    flux, sd = emu.requests
    assert (flux.model, flux.json) == (FLUX, {"prompt": "one"})
    assert (sd.model, sd.json) == (SDXL, {"prompt": "two", "seed": 7})
    assert sd.path == f"/accounts/test-account/ai/run/{SDXL}"
