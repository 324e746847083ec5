"""Every non-success answer: the OpenAI error envelope, the right status, JSON and a request id.

Upstream failures are produced by the emulator (a real trigger where one exists, otherwise
inject_error) and checked as a client sees them, on raw HTTP and through the official SDK.
"""

from __future__ import annotations

import http.client
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
import requests
from conftest import EMULATOR_ACCOUNT, EMULATOR_TOKEN, PERSISTENT, error_of, make_key, usage_records

from gateway.models import ModelRoute, Provider

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
# The emulator takes this request's injected error (none) at once, then waits 2 s before answering:
# a timeout that leaves no sleeping handler behind to take a later test's injected error.
SLOW = [{"role": "user", "content": "[[slow]] hi"}]
LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"


def chat(gateway_url: str, key: str | None, body: Any, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(f"{gateway_url}{CHAT_URL}", json=body, headers=headers, timeout=30, **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def update_provider(**fields: Any) -> None:
    provider = Provider.objects.get(name="workers-ai")
    for name, value in fields.items():
        setattr(provider, name, value)
    provider.save()  # save(), not update(): post_save drops the cached route table


# --- the gateway's own refusals -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("with_key", [True, False])
def test_an_unknown_url_is_a_json_404(gateway_url, api_key, method, with_key) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {api_key}"} if with_key else {}
    for path in ("/v1/nope", "/v1/chat/completion", "/"):
        response = requests.request(method, f"{gateway_url}{path}", json={"model": "gpt-4"}, headers=headers)

        error = error_of(response, 404)
        assert error["code"] == "unknown_url"
        assert f"{method} {path}" in error["message"]
        assert "<html" not in response.text.lower()


def test_a_wrong_method_is_405(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{gateway_url}{CHAT_URL}", headers={"Authorization": f"Bearer {api_key}"})

    error = error_of(response, 405)
    assert error["type"] == "invalid_request_error"
    assert "GET" in error["message"]
    assert "POST" in response.headers["Allow"]
    assert routes.requests == []


def test_a_body_that_is_not_json_is_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}{CHAT_URL}",
        data=b'{"model": "gpt-4", "messages": [',
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )

    error = error_of(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"
    assert routes.requests == []


def test_a_body_that_is_not_application_json_is_415(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}{CHAT_URL}",
        data=b'{"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}',
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "text/plain"},
    )

    error = error_of(response, 415)
    assert "application/json" in error["message"]
    assert routes.requests == []


def test_application_json_with_a_charset_is_accepted(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}{CHAT_URL}",
        data='{"model": "gpt-4", "messages": [{"role": "user", "content": "grüß dich"}]}'.encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello! You said: grüß dich"
    assert routes.last_request.json["messages"] == [{"role": "user", "content": "grüß dich"}]


def test_a_body_over_the_limit_is_413(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_BODY_BYTES = 2048
    small = {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 1500}]}
    large = {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 3000}]}

    assert chat(gateway_url, api_key, small).status_code == 200
    error = error_of(chat(gateway_url, api_key, large), 413)

    assert error["code"] == "request_too_large"
    assert "2048" in error["message"]
    assert len(routes.requests) == 1  # the small one only


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # 100 MB declared, not a byte sent: an answer at all proves the body was never waited for.
    url = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        connection.putrequest("POST", CHAT_URL)
        connection.putheader("Authorization", f"Bearer {api_key}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(100 * 1024 * 1024))
        connection.endheaders()
        answer = connection.getresponse()
        status, headers, body = answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()

    assert status == 413
    assert headers["Content-Type"].startswith("application/json")
    assert headers["x-request-id"].startswith("req_")
    assert b'"request_too_large"' in body
    assert routes.requests == []


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": None}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": "x"}, "top_p"),
        ({"n": 0}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stream": "yes"}, "stream"),
        (
            {"messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ]}]},
            "messages[0].content[1].type",
        ),
        ({"tools": [{"type": "function", "function": {"name": "no spaces allowed"}}]}, "tools[0].function.name"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
    ids=["missing-model", "empty-messages", "bad-role", "temperature-3", "top_p-x", "n-0", "stop-5",
         "stream-not-bool", "audio-part", "tool-name", "reasoning-effort"],
)  # fmt: skip
def test_an_invalid_body_is_400_naming_the_param(gateway_url, api_key, routes, change, param) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "gpt-4", "messages": HI, **change}
    body = {name: value for name, value in body.items() if value is not None}

    error = error_of(chat(gateway_url, api_key, body), 400)

    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert routes.requests == []


def test_an_unknown_model_is_404_model_not_found(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(chat(gateway_url, api_key, {"model": "gpt-17", "messages": HI}), 404)

    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "gpt-17" in error["message"]
    assert routes.requests == []


def test_a_refused_body_leaves_one_usage_record(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error_of(chat(gateway_url, api_key, {"model": "gpt-4", "messages": []}), 400)

    assert [(r.status, r.public_model) for r in usage_records(1)] == [(400, "")]


@pytest.mark.parametrize(("content_type", "status"), [("application/json", 400), ("text/plain", 415)])
def test_an_unreadable_body_leaves_one_usage_record(gateway_url, api_key, routes, content_type, status) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}{CHAT_URL}",
        data=b'{"model": "gpt-4", "messa',
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": content_type},
    )

    error_of(response, status)
    assert [r.status for r in usage_records(1)] == [status]


@pytest.mark.parametrize(
    ("method", "path", "accept"),
    [("POST", CHAT_URL, "text/event-stream"), ("GET", "/v1/models", "text/html")],
)
def test_the_accept_header_does_not_refuse_a_request(gateway_url, api_key, routes, method, path, accept) -> None:  # type: ignore[no-untyped-def]
    response = requests.request(
        method,
        f"{gateway_url}{path}",
        json={"model": "gpt-4", "messages": HI, "stream": True},
        headers={"Authorization": f"Bearer {api_key}", "Accept": accept},
    )

    assert response.status_code == 200, response.text


# --- upstream failures, one test per mapping ---------------------------------------------------


def test_upstream_5007_no_such_model_is_404_model_not_found(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # A real trigger: an operator remaps gpt-4 to a model Workers AI does not have.
    route = ModelRoute.objects.get(public_name="gpt-4", task="chat")
    route.upstream_model = "@cf/meta/llama-99-nonexistent"
    route.save()

    error = error_of(chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI}), 404)

    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error"
    assert routes.last_request.model == "@cf/meta/llama-99-nonexistent"


def test_upstream_5006_bad_input_is_400_saying_what_was_rejected(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(400, 5006, "AiError: Bad input: Type mismatch of '/messages/0/content', 'string' not 'array'")

    error = error_of(chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI}), 400)

    assert error["type"] == "invalid_request_error"
    assert error["code"] == "upstream_bad_request"
    assert "Type mismatch of '/messages/0/content'" in error["message"]
    assert len(routes.requests) == 1  # a request upstream refused is not retried


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, 3040, "Capacity temporarily exceeded, please try again."),
        (429, 3036, "You have used up your daily free allocation of 10,000 neurons."),
        (429, 4006, "you have used up your daily free allocation of 10,000 neurons, please upgrade"),
    ],
    ids=["3040-capacity", "3036-allocation", "4006-allocation"],
)
def test_upstream_rate_limits_are_429_with_retry_after(gateway_url, api_key, routes, status, code, message) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(status, code, message, times=PERSISTENT)

    response = chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI})

    error = error_of(response, 429)
    assert error["type"] == "rate_limit_exceeded"
    assert 1 <= int(response.headers["Retry-After"]) <= 60  # what OpenAI SDKs honour
    (record,) = usage_records(1)
    assert (record.status, record.public_model) == (429, "gpt-4")
    # Capacity: gpt-4's one route is retried once after a backoff. A spent daily allocation asks
    # for a Retry-After past the retry budget (GATEWAY_UPSTREAM_BUDGET_SECONDS): not retried.
    assert record.attempts == len(routes.requests) == (2 if code == 3040 else 1)


@pytest.mark.parametrize(
    ("cause", "leaked"),
    [
        ("wrong-token", ("wrong-token-value", EMULATOR_TOKEN)),  # real trigger: 10000
        ("wrong-account", ("wrong-account-id", EMULATOR_ACCOUNT)),  # real trigger: 7003
        ("injected-10000", (EMULATOR_TOKEN, EMULATOR_ACCOUNT)),
        ("injected-7003", (EMULATOR_TOKEN, EMULATOR_ACCOUNT)),
    ],
)
def test_upstream_credential_errors_are_502_and_leak_no_secret(gateway_url, api_key, routes, cause, leaked) -> None:  # type: ignore[no-untyped-def]
    if cause == "wrong-token":
        update_provider(api_token="wrong-token-value")
    elif cause == "wrong-account":
        update_provider(account_id="wrong-account-id")
    else:
        code = int(cause.rsplit("-", 1)[1])
        # The upstream text quotes the token and the account; none of it may reach a client.
        quoted = f"Could not route to /accounts/{EMULATOR_ACCOUNT}/ai/run with {EMULATOR_TOKEN}"
        routes.inject_error(401 if code == 10000 else 404, code, quoted)

    response = chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI})

    error = error_of(response, 502)
    assert error["type"] != "invalid_request_error"  # not the client's fault
    assert "credentials" in error["message"]
    for secret in leaked:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())
    assert len(routes.requests) == 1


def test_an_upstream_timeout_is_504(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    update_provider(read_timeout=0.3)

    error = error_of(chat(gateway_url, api_key, {"model": "gpt-4", "messages": SLOW}), 504)

    assert error["type"] == "upstream_error"
    assert error["code"] == "upstream_timeout"


def test_an_upstream_that_cannot_be_reached_is_502(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    update_provider(base_url=f"http://127.0.0.1:{closed_port()}/client/v4", api_token="token-for-that-port")

    response = chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI})

    error = error_of(response, 502)
    assert error["code"] == "upstream_unavailable"
    assert EMULATOR_ACCOUNT not in response.text  # the upstream URL carries the account id


@pytest.mark.parametrize(
    ("injected", "status", "code"),
    [
        ((403, 5018, "This account is not allowed to use this model"), 403, "upstream_permission_denied"),
        ((413, 3006, "Request is too large"), 413, "request_too_large"),
        ((408, 3007, "Request timeout"), 504, "upstream_timeout"),
        ((500, 3043, "Internal server error"), 502, "upstream_error"),
    ],
    ids=["5018-permission", "3006-too-large", "3007-timeout", "unknown-5xx"],
)
def test_other_upstream_errors_keep_their_meaning(gateway_url, api_key, routes, injected, status, code) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(*injected, times=PERSISTENT)

    error = error_of(chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI}), status)

    assert error["code"] == code


def test_the_vision_licence_refusal_5016_is_403(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # The gateway agrees to the licence itself (tests/gateway/chat/test_chat_vision.py): a 5016 that
    # outlasts agreeing and retrying stays a permission error.
    message = "AiError: Prior to using this model, you must agree to the Meta Llama 3.2 Community License."
    routes.inject_error(403, 5016, message, model="@cf/meta/llama-3.2-11b-vision-instruct", times=3)
    # gpt-4-vision-preview has one route: gpt-4o's text route would take over (a route's refusal moves on).
    error = error_of(chat(gateway_url, api_key, {"model": "gpt-4-vision-preview", "messages": HI}), 403)

    assert error["type"] == "permission_error"
    assert "agree" in error["message"]


# --- streams and the SDK ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrange", "status"),
    [("rate-limited", 429), ("bad-credentials", 502), ("timeout", 504), ("unreachable", 502)],
)
def test_a_stream_failing_before_its_first_byte_has_the_status(gateway_url, api_key, routes, arrange, status) -> None:  # type: ignore[no-untyped-def]
    if arrange == "rate-limited":
        routes.inject_error(429, 3040, "Capacity temporarily exceeded", times=PERSISTENT)
    elif arrange == "bad-credentials":
        routes.inject_error(401, 10000, "Authentication error")
    elif arrange == "timeout":
        update_provider(read_timeout=0.3)
        routes.set_latency(first_byte=1.0)
    else:
        update_provider(base_url=f"http://127.0.0.1:{closed_port()}/client/v4", api_token="token-for-that-port")
    started = time.monotonic()

    response = chat(gateway_url, api_key, {"model": "gpt-4", "messages": HI, "stream": True})

    error_of(response, status)
    assert "text/event-stream" not in response.headers["Content-Type"]
    if status == 429:
        assert int(response.headers["Retry-After"]) >= 1
    if arrange == "timeout":
        # The abandoned emulator handler is still asleep; once awake it takes the next injected
        # error, which would belong to a later test.
        time.sleep(max(0.0, started + 2.4 - time.monotonic()))  # the retry's handler too


def test_the_sdk_raises_rate_limit_error_on_a_failed_stream(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", times=PERSISTENT)

    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.chat.completions.create(model="gpt-4", messages=HI, stream=True)

    assert caught.value.status_code == 429
    assert caught.value.request_id.startswith("req_")
    assert len(routes.requests) == 2  # max_retries=0: only the gateway's own one retry


def test_the_sdk_raises_the_exception_class_of_each_status(gateway_url, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    def create(client: openai.OpenAI = openai_client, model: str = "gpt-4", messages: Any = HI, **kwargs: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages, **kwargs)

    def raised(exception: type[openai.APIStatusError], call: Any, **kwargs: Any) -> openai.APIStatusError:
        with pytest.raises(exception) as caught:
            call(**kwargs)
        assert caught.value.request_id.startswith("req_")
        assert set(caught.value.body) == {"message", "type", "param", "code"}
        return caught.value

    def client_with(key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0, timeout=30)

    assert raised(openai.BadRequestError, create, temperature=3).status_code == 400
    assert raised(openai.AuthenticationError, create, client=client_with("sk-gw-nope")).status_code == 401
    narrow = client_with(make_key("narrow", allowed_models=["gpt-3.5-turbo"]))
    assert raised(openai.NotFoundError, create, client=narrow).status_code == 404  # as an unknown model
    routes.inject_error(403, 5018, "This account is not allowed to use this model")
    assert raised(openai.PermissionDeniedError, create).status_code == 403
    assert raised(openai.NotFoundError, create, model="gpt-17").status_code == 404
    assert raised(openai.NotFoundError, openai_client.models.retrieve, model="gpt-17").status_code == 404

    routes.inject_error(429, 3036, "daily free allocation used up")
    assert raised(openai.RateLimitError, create).status_code == 429
    routes.inject_error(401, 10000, "Authentication error")
    assert raised(openai.InternalServerError, create).status_code == 502
    update_provider(read_timeout=0.3)
    assert raised(openai.InternalServerError, create, messages=SLOW).status_code == 504
    assert routes.requests[0].model == LLAMA_70B
