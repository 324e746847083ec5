"""POST /v1/moderations through the official SDK and on raw HTTP, and the verdict parser."""

from __future__ import annotations

import json

import pytest
import requests
from conftest import PERSISTENT, error_of, usage_records

from gateway.moderations.render import HAZARD_CATEGORIES, OPENAI_CATEGORIES, Verdict
from gateway.moderations.service import parse_verdict
from gateway.providers.base import ProviderError
from gateway.testing.emulator.replies import prompt_tokens, tokens

pytestmark = pytest.mark.django_db(transaction=True)

MODERATIONS_URL = "/v1/moderations"
LLAMA_GUARD = "@cf/meta/llama-guard-3-8b"
# OpenAI's 13 keys, spelled out here so that a change to the gateway's list cannot pass unnoticed.
OPENAI_KEYS = {
    "hate", "hate/threatening", "harassment", "harassment/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
}  # fmt: skip


def post(gateway_url: str, key: str, body: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}{MODERATIONS_URL}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def flagged_categories(result: dict) -> set[str]:
    return {name for name, flagged in result["categories"].items() if flagged}


def sent_contents(upstream) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.json["messages"][0]["content"] for r in upstream.requests if r.model == LLAMA_GUARD]


def test_it_answers_a_safe_input_through_the_sdk(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(input="hello there", model="omni-moderation-latest")

    assert moderation.id.startswith("modr-")
    assert moderation.model == "omni-moderation-latest"
    [result] = moderation.results
    assert result.flagged is False
    assert set(result.categories.model_dump(by_alias=True)) == OPENAI_KEYS
    assert not any(result.categories.model_dump(by_alias=True).values())
    assert set(result.category_scores.model_dump(by_alias=True).values()) == {0.0}
    sent = routes.last_request
    assert sent.model == LLAMA_GUARD
    # Only keys the reference documents for llama-guard, JSON mode asked for.
    assert sent.json == {
        "messages": [{"role": "user", "content": "hello there"}],
        "response_format": {"type": "json_object"},
        "max_tokens": 128,
        "temperature": 0,
    }


def test_it_flags_an_unsafe_input_with_the_mapped_categories(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(input="[[unsafe]]", model="text-moderation-latest")

    [result] = moderation.results
    assert result.flagged is True
    flagged = {"violence", "illicit", "illicit/violent"}  # S1, violent crimes
    assert {k for k, v in result.categories.model_dump(by_alias=True).items() if v} == flagged
    scores = result.category_scores.model_dump(by_alias=True)
    assert scores == {name: 1.0 if name in flagged else 0.0 for name in OPENAI_KEYS}
    applied = result.category_applied_input_types.model_dump(by_alias=True)
    assert applied == {name: ["text"] if name in flagged else [] for name in OPENAI_KEYS}


def test_the_model_defaults_to_omni_moderation_latest(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(input="hi")

    assert moderation.model == "omni-moderation-latest"
    assert routes.last_request.model == LLAMA_GUARD
    [record] = usage_records(1)
    assert record.public_model == "omni-moderation-latest"


@pytest.mark.parametrize("model", ["text-moderation-latest", "text-moderation-stable", LLAMA_GUARD])
def test_every_moderation_name_is_served(openai_client, routes, model: str) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(input="[[unsafe:S10]]", model=model)

    assert moderation.model == model
    assert moderation.results[0].flagged is True
    assert moderation.results[0].categories.hate is True


def test_an_array_gets_one_result_per_input_in_order(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    inputs = ["fine", "[[unsafe:S10]]", "[[unsafe:S11,S4]]", "also fine"]
    moderation = openai_client.moderations.create(input=inputs)

    results = [r.model_dump(by_alias=True) for r in moderation.results]
    assert [r["flagged"] for r in results] == [False, True, True, False]
    assert flagged_categories(results[1]) == {"hate"}
    assert flagged_categories(results[2]) == {"self-harm", "sexual", "sexual/minors"}
    assert sent_contents(routes) == inputs


def test_text_parts_are_one_input(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(
        input=[{"type": "text", "text": "first part"}, {"type": "text", "text": "[[unsafe:S12]]"}]
    )

    [result] = moderation.results
    assert result.flagged is True and result.categories.sexual is True
    assert sent_contents(routes) == ["first part\n[[unsafe:S12]]"]


def test_the_raw_body_has_exactly_openais_keys(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(gateway_url, api_key, {"input": ["[[unsafe:S1,S9]]", "ok"], "model": "omni-moderation-latest"})

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"id", "model", "results"}
    assert body["id"].startswith("modr-") and len(body["id"]) > len("modr-")
    assert len(body["results"]) == 2
    for result in body["results"]:
        assert set(result) == {"flagged", "categories", "category_scores", "category_applied_input_types"}
        for field in ("categories", "category_scores", "category_applied_input_types"):
            assert set(result[field]) == OPENAI_KEYS, field
        assert all(isinstance(v, bool) for v in result["categories"].values())
        assert all(isinstance(v, float) for v in result["category_scores"].values())
    assert flagged_categories(body["results"][0]) == {"violence", "illicit", "illicit/violent"}
    assert body["results"][1]["flagged"] is False


def test_a_legacy_string_verdict_is_read(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(gateway_url, api_key, {"input": "[[legacy]] [[unsafe:S2,S5]]"})

    [result] = response.json()["results"]
    assert result["flagged"] is True
    assert flagged_categories(result) == {"illicit", "harassment"}
    assert post(gateway_url, api_key, {"input": "[[legacy]] hi"}).json()["results"][0]["flagged"] is False


def test_a_hazard_without_an_openai_category_still_flags(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    [result] = post(gateway_url, api_key, {"input": "[[unsafe:S13]]"}).json()["results"]

    assert result["flagged"] is True
    assert flagged_categories(result) == set()


def test_an_empty_input_is_not_flagged_and_not_sent(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = post(gateway_url, api_key, {"input": ["", "  ", "[[unsafe]]"]}).json()

    assert [r["flagged"] for r in body["results"]] == [False, False, True]
    assert sent_contents(routes) == ["[[unsafe]]"]


def test_one_usage_record_sums_the_inputs(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    inputs = ["hello", "[[unsafe:S10]]"]
    assert post(gateway_url, api_key, {"input": inputs, "model": "text-moderation-stable"}).status_code == 200

    [record] = usage_records(1)
    assert record.endpoint == "moderations"
    assert record.status == 200
    assert record.public_model == "text-moderation-stable"
    assert record.upstream_model == LLAMA_GUARD
    # The emulator's counts (its documented rule): prompt by characters, completion by JSON words.
    verdicts = [{"safe": True, "categories": []}, {"safe": False, "categories": ["S10"]}]
    assert record.prompt_tokens == sum(prompt_tokens([text]) for text in inputs)
    assert record.completion_tokens == sum(len(tokens(json.dumps(v))) for v in verdicts)
    assert record.total_tokens == record.prompt_tokens + record.completion_tokens


# --- refusals ----------------------------------------------------------------------------------


def test_a_chat_model_is_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, {"input": "hi", "model": "gpt-4"}), 400)

    assert error["param"] == "model" and error["code"] == "model_not_supported"
    assert routes.requests == []
    [record] = usage_records(1)
    assert (record.endpoint, record.status, record.error_code) == ("moderations", 400, "model_not_supported")


def test_a_chat_model_is_refused_through_the_sdk(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from openai import BadRequestError

    with pytest.raises(BadRequestError):
        openai_client.moderations.create(input="hi", model="gpt-4")


def test_an_unknown_model_is_not_found(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, {"input": "hi", "model": "no-such-model"}), 404)

    assert error["code"] == "model_not_found"


def test_image_parts_are_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    parts = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    error = error_of(post(gateway_url, api_key, {"input": parts}), 400)

    assert error["param"] == "input[1].type"
    assert "text only" in error["message"]
    assert routes.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": []}, "input"),
        ({"input": 5}, "input"),
        ({"input": ["a", {"type": "text", "text": "b"}]}, "input"),
        ({"input": ["x"] * 33}, "input"),
        ({"input": [{"type": "text"}]}, "input[0].text"),
        ({"input": [{"type": "audio", "text": "x"}]}, "input[0].type"),
        ({"input": "hi", "model": 7}, "model"),
    ],
)
def test_bad_bodies_are_refused(gateway_url, api_key, routes, body: dict, param: str) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, body), 400)

    assert error["param"] == param
    assert routes.requests == []


def test_thirty_two_inputs_are_accepted(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(gateway_url, api_key, {"input": [f"line {i}" for i in range(32)]})

    assert response.status_code == 200 and len(response.json()["results"]) == 32


def test_an_input_beyond_the_context_window_is_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # llama-guard-3-8b: 131,072 tokens; the gateway estimates one token per 4 bytes.
    error = error_of(post(gateway_url, api_key, {"input": ["fine", "x" * 4 * 131_072]}), 400)

    assert (error["param"], error["code"]) == ("input", "context_length_exceeded")
    assert "input 1" in error["message"]
    assert routes.requests == []


def test_an_upstream_refusal_is_the_openai_envelope(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(
        status=429, code=3040, message="Capacity temporarily exceeded", model=LLAMA_GUARD, times=PERSISTENT
    )

    response = post(gateway_url, api_key, {"input": "hi"})

    assert error_of(response, 429)["code"] == "upstream_rate_limited"
    assert "Retry-After" in response.headers
    [record] = usage_records(1)
    assert (record.status, record.error_code) == (429, "upstream_rate_limited")


# --- the verdict parser and the mapping ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("safe", Verdict(flagged=False)),
        (" Safe\n", Verdict(flagged=False)),
        ("unsafe\nS1", Verdict(flagged=True, hazards=("S1",))),
        ("unsafe\nS1,S9", Verdict(flagged=True, hazards=("S1", "S9"))),
        ("  UNSAFE \n s10 , S11,S1 ", Verdict(flagged=True, hazards=("S10", "S11", "S1"))),
        ("unsafe: S3", Verdict(flagged=True, hazards=("S3",))),
        ("unsafe", Verdict(flagged=True)),
        ('"unsafe\\nS14"', Verdict(flagged=True, hazards=("S14",))),
        ('{"safe": true, "categories": []}', Verdict(flagged=False)),
        ('{"safe": false, "categories": ["S2", "s12"]}', Verdict(flagged=True, hazards=("S2", "S12"))),
        ('{"safe": "false", "categories": "S1, S9"}', Verdict(flagged=True, hazards=("S1", "S9"))),
        ('{"categories": ["S5"]}', Verdict(flagged=True, hazards=("S5",))),
    ],
)
def test_verdicts_are_parsed_in_both_shapes(text: str, verdict: Verdict) -> None:
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize("text", ["", "maybe", "[1, 2]", '{"safe": null}', "42"])
def test_an_unreadable_verdict_is_an_upstream_error(text: str) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_verdict(text)
    assert caught.value.kind == "upstream"


def test_the_mapping_covers_every_hazard_and_only_openai_keys() -> None:
    assert list(HAZARD_CATEGORIES) == [f"S{n}" for n in range(1, 15)]
    assert set(OPENAI_CATEGORIES) == OPENAI_KEYS and len(OPENAI_CATEGORIES) == 13
    for hazard, categories in HAZARD_CATEGORIES.items():
        assert set(categories) <= OPENAI_KEYS, hazard
        for category in categories:
            parent = category.split("/")[0]
            assert parent in categories, f"{hazard}: {category} without {parent}"
