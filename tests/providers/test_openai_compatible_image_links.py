"""An image answered as a `url` (gpt-image models, or a server that ignores b64_json) is downloaded
from a host that is not the provider: without its token or headers, and never past a size cap."""

from __future__ import annotations

import gzip
import io

import pytest
from openai_compatible_helpers import (
    Canned,
    ScriptedUpstream,
    emu_fixture,  # noqa: F401
    oa_emulator_fixture,  # noqa: F401
    openai_provider,
    provider_at,
    scripted_fixture,  # noqa: F401
)
from PIL import Image

from gateway.providers.base import ProviderError
from gateway.providers.images import ImageGenerationRequest
from gateway.providers.openai_compatible.media import IMAGE_LINK_MAX_BYTES
from gateway.testing.emulator import WorkersAIEmulator

KITE = ImageGenerationRequest(model="gpt-image-1", prompt="a kite", width=1024, height=1024)
TEAM = {"X-Team": "search"}
MIB = 2**20


def linked(scripted: ScriptedUpstream, *chunks: bytes, headers: dict[str, str] | None = None) -> None:
    """The generation answers a link on the scripted server itself; the link answers these chunks."""
    scripted.answer_json({"data": [{"url": scripted.base_url.removesuffix("/v1") + "/files/kite.png"}]})
    scripted.answers.append(Canned(list(chunks), 200, {"Content-Type": "image/png", **(headers or {})}))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), "white").save(out, "PNG")
    return out.getvalue()


def test_the_link_is_fetched_without_the_token_or_the_extra_headers(emu: WorkersAIEmulator) -> None:
    image = openai_provider(emu, headers=TEAM).generate_image(KITE)

    assert Image.open(io.BytesIO(image.data)).size == (1024, 1024)
    post, fetch = emu.requests
    assert post.headers["authorization"].startswith("Bearer ") and post.headers["x-team"] == "search"
    assert fetch.method == "GET" and fetch.path.startswith("/openai/v1/images/files/")
    assert "authorization" not in fetch.headers and "x-team" not in fetch.headers


def test_a_link_within_the_cap_is_read_whole(scripted: ScriptedUpstream) -> None:
    picture = png()
    linked(scripted, picture[:10], picture[10:])  # close-delimited, in two writes

    assert provider_at(scripted.base_url, headers=TEAM).generate_image(KITE).data == picture
    assert [seen.method for seen in scripted.seen] == ["POST", "GET"]
    assert "authorization" not in scripted.seen[1].headers and "x-team" not in scripted.seen[1].headers


def test_a_declared_length_past_the_cap_is_refused_unread(scripted: ScriptedUpstream) -> None:
    linked(scripted, b"", headers={"Content-Length": str(IMAGE_LINK_MAX_BYTES + 1)})

    with pytest.raises(ProviderError) as refused:
        provider_at(scripted.base_url).generate_image(KITE)

    assert refused.value.kind == "upstream"
    assert f"more than {IMAGE_LINK_MAX_BYTES // MIB} MiB" in str(refused.value)


def test_an_undeclared_body_is_cut_off_past_the_cap(scripted: ScriptedUpstream) -> None:
    # No Content-Length: the body ends when the server closes, so only counting can stop it.
    megabyte = bytes(MIB)
    linked(scripted, *[megabyte] * (IMAGE_LINK_MAX_BYTES // MIB + 4))

    with pytest.raises(ProviderError) as refused:
        provider_at(scripted.base_url).generate_image(KITE)

    assert refused.value.kind == "upstream"
    assert f"more than {IMAGE_LINK_MAX_BYTES // MIB} MiB" in str(refused.value)


def test_a_gzip_body_is_counted_unpacked(scripted: ScriptedUpstream) -> None:
    bomb = gzip.compress(bytes(IMAGE_LINK_MAX_BYTES + MIB), compresslevel=9)  # about 65 KiB on the wire
    assert len(bomb) < MIB
    linked(scripted, bomb, headers={"Content-Encoding": "gzip", "Content-Length": str(len(bomb))})

    with pytest.raises(ProviderError) as refused:
        provider_at(scripted.base_url).generate_image(KITE)

    assert f"more than {IMAGE_LINK_MAX_BYTES // MIB} MiB" in str(refused.value)
