"""POST /v1/images/generations through the official openai Node SDK: the images it hands back decode.

tests/node/images.mjs calls `client.images.generate` against the live gateway (jobs run by the
test run's Celery worker); `make test` installs the SDK at the version tests/node/package-lock.json
pins (`make node-sdk`). Only a missing `node` skips these tests; a missing SDK install fails them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from servers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "images.mjs"
PROMPT = "A paper boat on a still pond, drawn for the Node SDK."


def run_images(gateway_url: str, key: str, params: dict[str, Any], out: Path) -> tuple[int, dict[str, Any]]:
    """Runs images.mjs; its exit code and the JSON line it printed."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the official Node SDK cannot run here")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail(f"the openai npm package is not installed under {NODE_DIR}: run `make node-sdk`", pytrace=False)
    env = {**os.environ, "OPENAI_BASE_URL": f"{gateway_url}/v1", "OPENAI_API_KEY": key}
    done = subprocess.run(
        [node, str(SCRIPT), json.dumps(params), str(out)], env=env, capture_output=True, text=True, timeout=90
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"images.mjs printed nothing (exit {done.returncode}); stderr: {done.stderr[-2000:]}"
    return done.returncode, json.loads(lines[-1])


def opened(data: bytes) -> tuple[str, tuple[int, int]]:
    """Pillow's format name and the size of the picture the bytes decode to."""
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()  # decodes every pixel: a truncated file fails here
        return picture.format, picture.size


@pytest.mark.parametrize(("output_format", "pillow_format"), [(None, "PNG"), ("webp", "WEBP")])
def test_dall_e_3_b64_json_decodes_to_the_asked_size(  # type: ignore[no-untyped-def]
    gateway_url, api_key, celery_worker, tmp_path: Path, output_format: str | None, pillow_format: str
) -> None:
    params = {"model": "dall-e-3", "prompt": PROMPT, "size": "1024x1792", "response_format": "b64_json"}
    if output_format is not None:
        params["output_format"] = output_format
    before = time.time()

    code, printed = run_images(gateway_url, api_key, params, tmp_path)

    assert code == 0, printed
    assert before - 1 <= printed["created"] <= time.time() + 1
    assert (printed["size"], printed["output_format"]) == ("1024x1792", output_format or "png")
    (item,) = printed["data"]
    assert "url" not in item
    assert item["revised_prompt"] == PROMPT  # dall-e-3 always reports the prompt it drew
    written = Path(item["file"])
    assert written.parent == tmp_path
    data = written.read_bytes()
    assert item["b64_len"] == 4 * ((len(data) + 2) // 3)  # standard padded base64 of exactly these bytes
    assert opened(data) == (pillow_format, (1024, 1792))


def test_dall_e_2_urls_open_without_a_key(gateway_url, api_key, celery_worker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    params = {"model": "dall-e-2", "prompt": PROMPT, "n": 2, "size": "256x256", "response_format": "url"}

    code, printed = run_images(gateway_url, api_key, params, tmp_path)

    assert code == 0, printed
    assert (printed["size"], printed["output_format"]) == ("256x256", "png")
    assert len(printed["data"]) == 2
    urls = [item["url"] for item in printed["data"]]
    assert len(set(urls)) == 2
    assert not any("revised_prompt" in item for item in printed["data"])  # dall-e-2 drew the prompt as given
    assert not list(tmp_path.iterdir())  # nothing came as b64_json
    for url in urls:
        assert url.startswith(f"{gateway_url}/v1/images/get/img_")
        image = requests.get(url, timeout=10)  # no Authorization header: the link is the credential
        assert image.status_code == 200, image.text
        assert image.headers["Content-Type"] == "image/png"
        assert opened(image.content) == ("PNG", (256, 256))


def test_a_size_the_model_does_not_take_is_a_400_to_the_node_sdk(  # type: ignore[no-untyped-def]
    gateway_url, api_key, tmp_path: Path
) -> None:
    params = {"model": "dall-e-3", "prompt": PROMPT, "size": "256x256", "response_format": "b64_json"}

    code, printed = run_images(gateway_url, api_key, params, tmp_path)

    assert code == 1, printed
    error = printed["error"]
    assert (error["status"], error["param"]) == (400, "size"), printed
    assert "256x256" in error["message"]
    assert not list(tmp_path.iterdir())
