"""OpenAICompatibleProvider: legacy completions, embeddings and the model list against the
emulator, and the answer shapes of other servers (vLLM's, Ollama's) from a scripted upstream.
"""

from __future__ import annotations

import base64
import struct

import pytest
from openai_compatible_helpers import (
    ACCOUNT,
    EMBEDDER,
    LLAMA,
    WEATHER,
    ScriptedUpstream,
    ask,
    chunk,
    cloudflare_base,
    collect,
    emu_fixture,  # noqa: F401
    oa_emulator_fixture,  # noqa: F401
    openai_provider,
    provider_at,
    scripted_fixture,  # noqa: F401
)

from gateway.providers.base import (
    ChatRequest,
    EmbeddingRequest,
    ProviderError,
    ToolCall,
)
from gateway.testing.emulator import WorkersAIEmulator

# --- legacy completions, embeddings, models ------------------------------------------------------


def test_a_prompt_goes_to_completions(emu: WorkersAIEmulator) -> None:
    result = openai_provider(emu).chat(ChatRequest(model=LLAMA, messages=(), prompt="Once upon", max_tokens=20))
    assert result.content == "Hello! You said: Once upon"
    assert result.usage is not None and result.usage.completion_tokens == 5
    assert emu.last_request.path == "/openai/v1/completions"
    assert emu.last_request.json == {"model": LLAMA, "prompt": "Once upon", "max_tokens": 20}


def test_a_prompt_streams_text_completion_chunks(emu: WorkersAIEmulator) -> None:
    _, content, deltas = collect(openai_provider(emu).chat_stream(ChatRequest(model=LLAMA, messages=(), prompt="hey")))
    assert content == "Hello! You said: hey"
    assert any(d.usage is not None for d in deltas)
    assert emu.last_request.path == "/openai/v1/completions"


@pytest.mark.parametrize("on_cloudflare", [False, True])
def test_embed_returns_one_vector_per_text_in_order(emu: WorkersAIEmulator, on_cloudflare: bool) -> None:
    provider = provider_at(cloudflare_base(emu)) if on_cloudflare else openai_provider(emu)
    texts = ("alpha", "beta", "alpha")
    result = provider.embed(EmbeddingRequest(model=EMBEDDER, texts=texts))
    assert len(result.vectors) == 3 and len(result.vectors[0]) == 768
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert emu.last_request.json == {"model": EMBEDDER, "input": list(texts), "encoding_format": "float"}
    # Cloudflare's embedding models take at most 100 texts a call; others get a larger batch.
    assert provider.embedding_batch == (100 if on_cloudflare else 256)


def test_list_models_reads_the_model_list(emu: WorkersAIEmulator) -> None:
    models = {m.name: m for m in openai_provider(emu).list_models()}
    assert emu.last_request.method == "GET" and emu.last_request.path == "/openai/v1/models"
    assert models[LLAMA].task == "chat"
    assert models[EMBEDDER].task == "embedding"
    assert isinstance(models[LLAMA].created, int)


def test_list_models_on_cloudflares_ai_v1_says_there_is_no_list(emu: WorkersAIEmulator) -> None:
    with pytest.raises(ProviderError) as caught:
        provider_at(cloudflare_base(emu)).list_models()
    assert caught.value.upstream_status == 405
    assert "workers_ai" in caught.value.message and ACCOUNT not in caught.value.message


# --- shapes of other servers (scripted) ----------------------------------------------------------


def test_no_token_sends_no_authorization(scripted: ScriptedUpstream) -> None:
    scripted.answer_json({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})
    result = provider_at(scripted.base_url, token="", headers={"X-Team": "a"}).chat(ask("hi", "llama3"))
    assert result.content == "ok" and result.usage is None
    assert "authorization" not in scripted.seen[0].headers
    assert scripted.seen[0].headers["x-team"] == "a"
    assert scripted.seen[0].path == "/v1/chat/completions"


def test_ollamas_reasoning_field_is_reasoning(scripted: ScriptedUpstream) -> None:
    message = {"role": "assistant", "content": "Hi!", "reasoning": "Greet back."}
    scripted.answer_json({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    result = provider_at(scripted.base_url).chat(ask("hi", "qwen3"))
    assert (result.reasoning, result.content, result.finish_reason) == ("Greet back.", "Hi!", None)


@pytest.mark.parametrize(
    ("text", "flagged", "expected"),
    [
        ("<think>\nHmm.\n</think>\n\nHi!", False, ("Hmm.", "Hi!")),  # a literal leading block
        ("Hmm.\n</think>\n\nHi!", True, ("Hmm.", "Hi!")),  # the template opened it (R1 distill on vLLM)
        ("Hmm.\n</think>\n\nHi!", False, ("", "Hmm.\n</think>\n\nHi!")),  # not a reasoning route
        ("Hi!", True, ("", "Hi!")),  # a reasoning route that did not reason this time
    ],
)
def test_think_blocks_in_content_are_split(
    scripted: ScriptedUpstream, text: str, flagged: bool, expected: tuple[str, str]
) -> None:
    scripted.answer_json({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})
    result = provider_at(scripted.base_url).chat(ask("hi", "r1", reasoning=flagged))
    assert (result.reasoning, result.content) == expected


def test_a_flagged_route_whose_server_splits_reasoning_streams_content_as_content(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"reasoning_content": "Hmm."}), chunk({"content": "Hi"}), chunk({"content": "!"}, "stop")
    )
    reasoning, content, _ = collect(provider_at(scripted.base_url).chat_stream(ask("hi", "r1", reasoning=True)))
    assert (reasoning, content) == ("Hmm.", "Hi!")


def test_a_flagged_route_streams_an_unopened_think_block_as_reasoning(scripted: ScriptedUpstream) -> None:
    pieces = ["Hmm", ".\n</th", "ink>\n\n", "Hi!"]
    scripted.answer_events(*(chunk({"content": p}) for p in pieces))
    reasoning, content, _ = collect(provider_at(scripted.base_url).chat_stream(ask("hi", "r1", reasoning=True)))
    assert (reasoning, content) == ("Hmm.", "Hi!")


def test_tool_call_fragments_are_assembled_by_index(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),  # interleaved: still call 0
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    )
    deltas = list(provider_at(scripted.base_url).chat_stream(ask("hi", "m", tools=(WEATHER,))))
    with_calls = [d for d in deltas if d.tool_calls]
    assert len(with_calls) == 1  # every call once, whole, when the choice finished
    assert with_calls[0].tool_calls == (ToolCall("call_a", "f", '{"x": 1}'), ToolCall("call_b", "g", "{}"))
    assert deltas[-1].usage is not None and deltas[-1].usage.prompt_tokens == 9


def test_tool_calls_without_index_are_told_apart_by_id(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}]}),
        chunk({"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
        done=False,  # and a stream that just ends, without [DONE] or a finish_reason
    )
    calls = [c for d in provider_at(scripted.base_url).chat_stream(ask("hi", "m")) for c in d.tool_calls]
    assert [(c.id, c.name, c.arguments) for c in calls] == [("c1", "f", '{"a": 1}'), ("c2", "g", "{}")]


def test_an_error_event_midstream_is_a_provider_error(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"content": "Hel"}),
        {"error": {"message": "The engine crashed.", "type": "server_error", "code": None}},
    )
    stream = provider_at(scripted.base_url).chat_stream(ask("hi", "m"))
    assert next(stream).content == "Hel"
    with pytest.raises(ProviderError) as caught:
        next(stream)
    assert (caught.value.kind, caught.value.message) == ("upstream", "Upstream error: The engine crashed.")


def test_a_stream_answered_whole_is_replayed(scripted: ScriptedUpstream) -> None:
    message = {"role": "assistant", "content": "Hi!", "reasoning_content": "Hmm."}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    scripted.answer_json({"choices": [{"index": 0, "message": message, "finish_reason": "length"}], "usage": usage})
    reasoning, content, deltas = collect(provider_at(scripted.base_url).chat_stream(ask("hi", "m")))
    assert (reasoning, content) == ("Hmm.", "Hi!")
    assert (deltas[-1].usage.completion_tokens, deltas[-1].finish_reason) == (2, "length")  # type: ignore[union-attr]


def test_embeddings_out_of_order_or_in_base64_are_put_right(scripted: ScriptedUpstream) -> None:
    packed = base64.b64encode(struct.pack("<2f", 0.5, -1.0)).decode()
    data = [{"object": "embedding", "index": 1, "embedding": packed}, {"index": 0, "embedding": [1.0, 2.0]}]
    scripted.answer_json({"object": "list", "data": data, "usage": {"prompt_tokens": 4, "total_tokens": 4}})
    result = provider_at(scripted.base_url).embed(EmbeddingRequest(model="nomic-embed-text", texts=("a", "b")))
    assert result.vectors == ((1.0, 2.0), (0.5, -1.0))
    assert result.usage is not None and result.usage.prompt_tokens == 4


def test_list_models_names_tasks_by_id(scripted: ScriptedUpstream) -> None:
    ids = ["gpt-4o", "text-embedding-3-small", "whisper-1", "tts-1", "dall-e-3", "omni-moderation-latest", "bge-m3"]
    scripted.answer_json({"object": "list", "data": [{"id": i, "object": "model", "created": 1700000000} for i in ids]})
    tasks = {m.name: (m.task, m.created) for m in provider_at(scripted.base_url).list_models()}
    assert {name: task for name, (task, _) in tasks.items()} == {
        "gpt-4o": "chat",
        "text-embedding-3-small": "embedding",
        "whisper-1": "transcription",
        "tts-1": "speech",
        "dall-e-3": "image",
        "omni-moderation-latest": "moderation",
        "bge-m3": "embedding",
    }
    assert tasks["gpt-4o"][1] == 1700000000
