"""POST /v1/embeddings through the official SDK and LangChain, against the emulator's bge models."""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.resources
import math
import struct

import pytest
import requests
from conftest import error_of, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/v1/embeddings"


def post(gateway_url: str, key: str, body: dict) -> requests.Response:
    return requests.post(f"{gateway_url}{URL}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.mark.workers_ai_payload
def test_the_sdk_gets_the_same_vectors_in_base64_and_in_floats(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    default = openai_client.embeddings.create(model="text-embedding-ada-002", input="The cat sat on the mat.")
    floats = openai_client.embeddings.create(
        model="text-embedding-ada-002", input="The cat sat on the mat.", encoding_format="float"
    )

    assert [request.json["text"] for request in routes.requests] == [["The cat sat on the mat."]] * 2
    assert len(default.data[0].embedding) == 768
    assert default.data[0].embedding == floats.data[0].embedding
    assert default.model == "text-embedding-ada-002"
    assert default.usage.prompt_tokens == default.usage.total_tokens > 0


def test_base64_is_little_endian_float32_in_standard_padded_base64(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "text-embedding-3-small", "input": ["one", "two"]}
    floats = post(gateway_url, api_key, {**body, "encoding_format": "float"}).json()
    encoded = post(gateway_url, api_key, {**body, "encoding_format": "base64"}).json()

    for as_floats, as_text in zip(floats["data"], encoded["data"], strict=True):
        raw = base64.b64decode(as_text["embedding"], validate=True)
        assert len(raw) == 4 * 384 and len(as_text["embedding"]) % 4 == 0
        assert list(struct.unpack("<384f", raw)) == as_floats["embedding"]
    assert [item["index"] for item in encoded["data"]] == [0, 1]
    assert {item["object"] for item in encoded["data"]} == {"embedding"}
    assert encoded["object"] == "list"


def test_150_inputs_take_two_upstream_calls_and_come_back_in_order(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    texts = [f"document number {i} about topic {i % 7}" for i in range(150)]
    many = openai_client.embeddings.create(model="text-embedding-ada-002", input=texts)
    routes.reset()
    single = openai_client.embeddings.create(model="text-embedding-ada-002", input=texts[137])

    assert [item.index for item in many.data] == list(range(150))
    assert many.data[137].embedding == single.data[0].embedding
    assert many.data[136].embedding != single.data[0].embedding


@pytest.mark.workers_ai_payload
def test_150_inputs_are_sent_as_100_then_50(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    texts = [f"text {i}" for i in range(150)]
    assert post(gateway_url, api_key, {"model": "text-embedding-ada-002", "input": texts}).status_code == 200

    sent = [request.json["text"] for request in routes.requests]
    assert [len(batch) for batch in sent] == [100, 50]
    assert sent[0] + sent[1] == texts
    assert {request.model for request in routes.requests} == {"@cf/baai/bge-base-en-v1.5"}


def test_texts_sharing_words_are_closer(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    found = openai_client.embeddings.create(
        model="text-embedding-3-large",
        input=["the cat sat on the mat", "a cat on a mat", "stock prices fell sharply"],
        encoding_format="float",
    )
    cat, kitten, stocks = (item.embedding for item in found.data)
    assert len(cat) == 1024
    assert cosine(cat, kitten) > cosine(cat, stocks)


def test_raw_workers_ai_names_work(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, {"model": "@cf/baai/bge-small-en-v1.5", "input": "hi"})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"][0]["embedding"]) == 384


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"input": ""}, "input", None),
        ({"input": ["fine", "   "]}, "input[1]", None),
        ({"input": []}, "input", None),
        ({"input": [[15339], [999999999]]}, "input[1]", None),
        ({"input": [220]}, "input", None),
        ({"input": ["x"] * 2049}, "input", None),
        ({"input": "hi", "encoding_format": "binary"}, "encoding_format", None),
        ({"input": "hi", "dimensions": 256}, "dimensions", "dimensions_not_supported"),
        ({"input": "hi", "dimensions": 0}, "dimensions", None),
        ({"input": {"text": "hi"}}, "input", None),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(gateway_url, api_key, routes, body, param, code) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, {"model": "text-embedding-ada-002", **body}), 400)
    assert error["param"] == param
    if code:
        assert error["code"] == code
    assert routes.requests == []


def test_the_models_own_size_is_accepted_as_dimensions(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, {"model": "text-embedding-ada-002", "input": "hi", "dimensions": 768})
    assert answer.status_code == 200
    assert len(answer.json()["data"][0]["embedding"]) == 768


def test_a_chat_model_is_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, {"model": "gpt-4", "input": "hi"}), 400)
    assert error["code"] == "model_not_supported"


def test_usage_is_recorded_as_estimated(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, {"model": "text-embedding-ada-002", "input": ["abcd" * 10, "efgh"]})
    assert answer.json()["usage"] == {"prompt_tokens": 11, "total_tokens": 11}

    (record,) = usage_records(1)
    assert (record.endpoint, record.public_model, record.upstream_model) == (
        "embeddings",
        "text-embedding-ada-002",
        "@cf/baai/bge-base-en-v1.5",
    )
    assert (record.prompt_tokens, record.completion_tokens, record.usage_estimated) == (11, 0, True)


def test_a_repeated_request_is_answered_from_the_cache(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "text-embedding-ada-002", "input": ["cached text"]}
    miss, hit = post(gateway_url, api_key, body), post(gateway_url, api_key, body)

    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("miss", "hit")
    assert hit.json() == miss.json()
    assert len(routes.requests) == 1
    assert [record.cached for record in usage_records(2)] == [False, True]


def test_an_upstream_failure_falls_back_to_a_route_of_the_same_size(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute, Provider

    ModelRoute.objects.create(
        public_name="text-embedding-ada-002",
        task="embedding",
        upstream_model="@cf/google/embeddinggemma-300m",
        provider=Provider.objects.get(),
        priority=5,
        output_dimensions=768,
    )
    ModelRoute.objects.create(
        public_name="text-embedding-ada-002",
        task="embedding",
        upstream_model="@cf/baai/bge-large-en-v1.5",
        provider=Provider.objects.get(),
        priority=1,
        output_dimensions=1024,
    )
    routes.inject_error(status=429, code=3040, model="@cf/baai/bge-base-en-v1.5")

    answer = post(gateway_url, api_key, {"model": "text-embedding-ada-002", "input": "hi"})

    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"][0]["embedding"]) == 768
    called = [request.model for request in routes.requests]
    assert called == ["@cf/baai/bge-base-en-v1.5", "@cf/google/embeddinggemma-300m"]


def test_langchain_embeds_documents_and_queries(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from langchain_openai import OpenAIEmbeddings

    # check_embedding_ctx_length=False: send text, as LangChain documents for OpenAI-compatible servers.
    embeddings = OpenAIEmbeddings(
        model="text-embedding-ada-002",
        base_url=f"{gateway_url}/v1",
        api_key=api_key,
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    documents = embeddings.embed_documents(["the cat sat on the mat", "stock prices fell"])
    query = embeddings.embed_query("where did the cat sit")

    assert [len(vector) for vector in documents] == [768, 768]
    assert cosine(query, documents[0]) > cosine(query, documents[1])


@pytest.mark.workers_ai_payload
def test_token_arrays_are_decoded_with_the_clients_tokenizer(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    # cl100k_base ids of "hello world" and of "The cat sat on the mat.", as tiktoken gives them.
    from bpe_openai import get_encoding

    encoding = get_encoding("cl100k_base")
    arrays = [encoding.encode("hello world"), encoding.encode("The cat sat on the mat.")]
    assert arrays[0] == [15339, 1917]
    as_tokens = openai_client.embeddings.create(model="text-embedding-ada-002", input=arrays)
    as_text = openai_client.embeddings.create(
        model="text-embedding-ada-002", input=["hello world", "The cat sat on the mat."]
    )

    assert [item.embedding for item in as_tokens.data] == [item.embedding for item in as_text.data]
    assert [request.json["text"] for request in routes.requests][0] == ["hello world", "The cat sat on the mat."]


@pytest.mark.parametrize("tokens", [[15339, 1917], [[15339, 1917]]])
def test_token_arrays_for_a_name_without_a_tokenizer_are_refused(gateway_url, api_key, routes, tokens) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "@cf/baai/bge-base-en-v1.5", "input": tokens}
    error = error_of(post(gateway_url, api_key, body), 400)
    assert (error["param"], error["code"]) == ("input", "token_input_not_supported")
    assert routes.requests == []


@pytest.fixture
def tiktoken_offline(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """tiktoken's cl100k_base file where tiktoken looks first (TIKTOKEN_CACHE_DIR, named by the
    SHA-1 of its URL): the same bytes bpe-openai ships, checked by tiktoken against its own hash.
    This machine has no network; a client's would simply download it."""
    data = gzip.decompress((importlib.resources.files("bpe_openai") / "data" / "cl100k_base.tiktoken.gz").read_bytes())
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))


@pytest.mark.workers_ai_payload
def test_langchain_with_its_default_token_splitting_works_too(gateway_url, api_key, routes, tiktoken_offline) -> None:  # type: ignore[no-untyped-def]
    from langchain_openai import OpenAIEmbeddings

    # LangChain's default: every text cut into cl100k token arrays with tiktoken, sent as ids.
    embeddings = OpenAIEmbeddings(
        model="text-embedding-ada-002", base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0
    )
    assert embeddings.check_embedding_ctx_length  # the token-array path
    documents = embeddings.embed_documents(["the cat sat on the mat", "stock prices fell"])
    query = embeddings.embed_query("where did the cat sit")

    assert [len(vector) for vector in documents] == [768, 768]
    assert routes.requests[0].json["text"] == ["the cat sat on the mat", "stock prices fell"]
    assert cosine(query, documents[0]) > cosine(query, documents[1])
