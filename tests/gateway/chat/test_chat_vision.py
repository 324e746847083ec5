"""Images on /v1/chat/completions through the official SDK: data: URLs passed on, http(s) URLs
fetched behind the SSRF guard and inlined (only once the request is admitted), non-vision routes
refused, the Llama 3.2 licence agreed.

The session emulator starts with the licence not agreed; `vision` agrees to it directly, so what
the gateway sends is all these tests see. The licence tests get an emulator of their own.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator

import openai
import pytest
import requests
from conftest import error_of, make_key, usage_records
from image_origin import PNG, ImageOrigin

from gateway.chat.image_fetch import NOT_PUBLIC
from gateway.testing.emulator import WorkersAIEmulator

pytestmark = pytest.mark.django_db(transaction=True)

VISION = "@cf/meta/llama-3.2-11b-vision-instruct"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
URL_PARAM = "messages[0].content[1].image_url.url"


def looking_at(url: str, text: str = "What is in this image?", **image: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url, **image}}],
        }
    ]


def upstream_content(url: str, text: str = "What is in this image?") -> list[dict]:
    return [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]


def ask(gateway_url: str, key: str, url: str, model: str = "gpt-4o", **fields: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": model, "messages": looking_at(url), **fields},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def bad_request(call) -> dict:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value.response.json()["error"]


@pytest.fixture
def vision(routes: WorkersAIEmulator) -> WorkersAIEmulator:
    """The session emulator with the vision licence agreed, its captured requests cleared."""
    requests.post(
        f"{routes.base_url}/accounts/{routes.account_id}/ai/run/{VISION}",
        json={"prompt": "agree"},
        headers={"Authorization": f"Bearer {routes.token}"},
        timeout=10,
    ).raise_for_status()
    routes.reset()
    return routes


@pytest.fixture
def origin() -> Iterator[ImageOrigin]:
    with ImageOrigin() as server:
        yield server


# --- data: URLs --------------------------------------------------------------------------------


def test_a_data_url_image_reaches_the_vision_model_as_a_content_array(openai_client, vision) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(PNG_URL, detail="low"))

    assert completion.choices[0].message.content == "Hello! You said: What is in this image?"
    sent = vision.last_request
    assert sent.model == VISION
    assert sent.json["messages"] == [{"role": "user", "content": upstream_content(PNG_URL)}]


def test_an_image_streams_too(openai_client, vision) -> None:  # type: ignore[no-untyped-def]
    stream = openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(PNG_URL), stream=True)

    content = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert content == "Hello! You said: What is in this image?"
    assert vision.last_request.json["stream"] is True
    assert vision.last_request.json["messages"][0]["content"] == upstream_content(PNG_URL)


def test_image_url_may_be_a_bare_string(gateway_url, api_key, vision) -> None:  # type: ignore[no-untyped-def]
    parts = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": PNG_URL}]
    messages = [{"role": "user", "content": parts}]

    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": messages},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 200, response.text
    assert vision.last_request.json["messages"][0]["content"] == upstream_content(PNG_URL, "hi")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("data:image/png;base64,not base64!", "invalid_image_url"),
        ("data:text/plain;base64,aGk=", "invalid_image_url"),
        ("data:image/png,rawbytes", "invalid_image_url"),
        ("data:image/png;base64,", "invalid_image_url"),
        ("ftp://example.com/cat.png", "invalid_image_url"),
        ("file:///etc/passwd", "invalid_image_url"),
        ("cat.png", "invalid_image_url"),
        ("http://user:secret@127.0.0.1/cat.png", "invalid_image_url"),
        ("http:///cat.png", "invalid_image_url"),
    ],
    ids=[
        "not-base64",
        "not-an-image",
        "not-base64-encoded",
        "empty",
        "ftp",
        "file",
        "relative",
        "credentials",
        "no-host",
    ],
)
def test_an_unusable_image_url_is_400_naming_it(openai_client, vision, url, code) -> None:  # type: ignore[no-untyped-def]
    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(url)))

    assert (error["param"], error["code"]) == (URL_PARAM, code)
    assert vision.requests == []


def test_a_data_url_over_the_cap_is_400(openai_client, vision, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_MAX_BYTES = 1000
    url = "data:image/png;base64," + base64.b64encode(b"x" * 1001).decode()

    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(url)))

    assert (error["param"], error["code"]) == (URL_PARAM, "image_too_large")
    assert vision.requests == []


# --- http(s) URLs ------------------------------------------------------------------------------


def test_an_http_image_is_fetched_once_and_inlined(openai_client, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]

    completion = openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(origin.url("/cat.png")), n=2)

    assert len(completion.choices) == 2
    assert [hit.path for hit in origin.hits] == ["/cat.png"]  # once, for both upstream calls
    assert [r.json["messages"][0]["content"] for r in vision.requests] == [upstream_content(PNG_URL)] * 2


def test_an_http_image_streams_too(openai_client, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]

    stream = openai_client.chat.completions.create(
        model="gpt-4o", messages=looking_at(origin.url("/cat.png")), stream=True
    )
    content = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert content == "Hello! You said: What is in this image?"
    assert [hit.path for hit in origin.hits] == ["/cat.png"]
    assert vision.last_request.json["messages"][0]["content"] == upstream_content(PNG_URL)


def test_the_same_url_twice_is_fetched_once(openai_client, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    image = {"type": "image_url", "image_url": {"url": origin.url("/cat.png")}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "twins?"}, image, image]}]

    openai_client.chat.completions.create(model="gpt-4o", messages=messages)

    assert [hit.path for hit in origin.hits] == ["/cat.png"]
    picture = {"type": "image_url", "image_url": {"url": PNG_URL}}
    assert vision.last_request.json["messages"][0]["content"] == [{"type": "text", "text": "twins?"}, picture, picture]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://localhost:{port}/cat.png",
        "http://10.0.0.1/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/cat.png",
        "http://[::ffff:127.0.0.1]:{port}/cat.png",
    ],
)
def test_an_image_url_that_is_not_public_is_refused(openai_client, vision, origin, url) -> None:  # type: ignore[no-untyped-def]
    url = url.format(port=origin.port)

    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(url)))

    assert (error["param"], error["code"]) == (URL_PARAM, "image_url_refused")
    assert error["message"] == f"Could not fetch the image at {URL_PARAM}: {NOT_PUBLIC}."
    assert origin.hits == []
    assert vision.requests == []


def test_a_redirect_into_the_private_network_is_refused(openai_client, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    url = origin.url("/redirect?to=http://10.0.0.1/cat.png")

    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(url)))

    assert error["code"] == "image_url_refused"
    assert vision.requests == []


def test_a_url_that_is_not_an_image_is_400(openai_client, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    url = origin.url("/page.html")

    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=looking_at(url)))

    assert (error["param"], error["code"]) == (URL_PARAM, "image_fetch_failed")
    assert vision.requests == []


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_a_failed_fetch_is_one_usage_record_and_reports_the_limits(
    gateway_url, vision, origin, settings, stream
) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    key = make_key("limited", rpm_limit=50)

    response = ask(gateway_url, key, origin.url("/page.html"), stream=stream)

    error = error_of(response, 400)  # an envelope, not a stream, also with stream: true
    assert (error["param"], error["code"]) == (URL_PARAM, "image_fetch_failed")
    assert response.headers["x-ratelimit-limit-requests"] == "50"  # fetched after admission
    assert [hit.path for hit in origin.hits] == ["/page.html"]
    [record] = usage_records(1)
    assert (record.status, record.error_code, record.public_model) == (400, "image_fetch_failed", "gpt-4o")
    assert vision.requests == []


# --- nothing is fetched for a request that is refused before it is admitted -------------------


def assert_only_the_control_was_fetched(gateway_url: str, origin: ImageOrigin) -> None:
    """A request that is admitted makes the origin see its fetch: the refused one before it,
    answered in full already, would have been seen the same way."""
    control = ask(gateway_url, make_key("control"), origin.url("/cat.png?control"))

    assert control.status_code == 200, control.text
    assert [hit.path for hit in origin.hits] == ["/cat.png?control"]


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", duration)
    assert match, duration
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def spend_the_minute(gateway_url: str, key: str) -> None:
    """Spends a 1-request-a-minute key's request, in a window long enough to refuse the next one."""
    for _ in range(2):
        spent = requests.post(
            f"{gateway_url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert spent.status_code == 200, spent.text
        left = seconds(spent.headers["x-ratelimit-reset-requests"])
        if left > 5:
            return
        time.sleep(left + 0.2)  # the window is about to roll: spend the next one's request instead
    raise AssertionError("no rate-limit window with time left")


def test_a_request_over_the_rate_limit_fetches_nothing(gateway_url, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    key = make_key("one-a-minute", rpm_limit=1)
    spend_the_minute(gateway_url, key)

    error = error_of(ask(gateway_url, key, origin.url("/cat.png?refused")), 429)

    assert error["code"] == "rate_limit_exceeded"
    assert usage_records(1, status=429)[0].public_model == "gpt-4o"
    assert_only_the_control_was_fetched(gateway_url, origin)


def test_a_request_over_the_token_limit_fetches_nothing(gateway_url, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    key = make_key("few-tokens", tpm_limit=50)

    error = error_of(ask(gateway_url, key, origin.url("/cat.png?refused"), max_tokens=100), 429)

    assert error["code"] == "rate_limit_exceeded"
    usage_records(1, status=429)
    assert_only_the_control_was_fetched(gateway_url, origin)


def test_a_model_the_key_may_not_use_fetches_nothing(gateway_url, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    key = make_key("narrow", allowed_models=["gpt-3.5-turbo"])

    error = error_of(ask(gateway_url, key, origin.url("/cat.png?refused")), 404)

    assert error["code"] == "model_not_found"
    usage_records(1, status=404)
    assert_only_the_control_was_fetched(gateway_url, origin)


def test_an_unknown_model_fetches_nothing(gateway_url, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]

    error = error_of(ask(gateway_url, make_key(), origin.url("/cat.png?refused"), model="gpt-17"), 404)

    assert error["code"] == "model_not_found"
    usage_records(1, status=404)
    assert_only_the_control_was_fetched(gateway_url, origin)


def test_a_model_without_vision_fetches_nothing(gateway_url, vision, origin, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]

    error = error_of(ask(gateway_url, make_key(), origin.url("/cat.png?refused"), model="gpt-4"), 400)

    assert error["code"] == "model_not_vision_capable"
    usage_records(1, status=400)
    assert_only_the_control_was_fetched(gateway_url, origin)


# --- which messages and models take images ----------------------------------------------------


def test_an_image_to_a_model_without_vision_is_400_naming_the_model(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4", messages=looking_at(PNG_URL)))

    assert (error["param"], error["code"]) == ("messages", "model_not_vision_capable")
    assert "`gpt-4`" in error["message"]
    assert routes.requests == []


def test_a_text_only_array_is_flattened_for_a_text_model(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]

    openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": parts}])

    assert routes.last_request.json["messages"] == [{"role": "user", "content": "first\nsecond"}]


@pytest.mark.parametrize("role", ["system", "assistant"])
def test_an_image_outside_a_user_message_is_400(openai_client, vision, role) -> None:  # type: ignore[no-untyped-def]
    messages = [{**looking_at(PNG_URL)[0], "role": role}, {"role": "user", "content": "hi"}]

    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=messages))

    assert error["param"] == "messages[0].content[1].type"
    assert vision.requests == []


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "aGk=", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ],
)
def test_other_content_parts_are_400(openai_client, vision, part) -> None:  # type: ignore[no-untyped-def]
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}]

    error = bad_request(lambda: openai_client.chat.completions.create(model="gpt-4o", messages=messages))

    assert error["param"] == "messages[0].content[1].type"
    assert part["type"] in error["message"]
    assert vision.requests == []


# --- the Llama 3.2 licence ---------------------------------------------------------------------


def test_more_images_than_the_limit_are_refused_before_any_fetch(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_IMAGES_PER_REQUEST = 2
    image = {"type": "image_url", "image_url": {"url": "http://10.0.0.1/cat.png"}}
    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": [image, image, image]}]},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    error = error_of(response, 400)
    assert (error["code"], error["param"]) == ("too_many_images", "messages")
    assert routes.requests == []
