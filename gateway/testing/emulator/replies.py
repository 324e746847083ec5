"""Deterministic model outputs, shaped per family as the Workers AI model pages show them.

Output schemas: https://developers.cloudflare.com/workers-ai/models/ (one page per model).

The reply rule (tests rely on it; temperature, seed and the like never change it):
- reply text = "Hello! You said: " + the last user message's text (stripped). For the prompt form
  the prompt is the user text; for gpt-oss `input` it is the string or the last user item.
- tokens = re.findall(r"\\s*\\S+", text): every word with its leading whitespace is one token, so
  "".join(tokens) == text. completion_tokens counts them.
- prompt_tokens = ceil(total characters of all message contents / 4) + 4 per message (the prompt
  form and a string `input` count as one message; gpt-oss `instructions` as one more).
- max_tokens (default 256, as upstream) truncates to that many tokens; completion_tokens is then
  max_tokens. gpt-oss `max_output_tokens` has no default (no truncation unless given).
- Reasoning: qwq text is "<think>\\nI should greet the user.\\n</think>\\n\\n" + reply;
  deepseek-r1-distill omits the opening tag (its chat template already emitted it); qwen3 and
  gpt-oss carry "I should greet the user." separately (reasoning_content / a reasoning item).
  Reasoning tokens count towards completion tokens and are truncated first.
After a tool result (a last `tool` message, or a last `function_call_output` input item) the "user
text" is "Tool result: <its content>", so the reply is "Hello! You said: Tool result: …" and no
tool is called again. Trigger phrases in the user text: "[[long]]" → 400 tokens "word1 word2 … word400";
"[[unicode]]" → "Grüße, 世界 🌍 ok"; "[[tool]]" with `tools` on a function-calling model → a call
of the first tool with deterministic values for its required parameters; "[[slow]]" → a 2 s pause
after the first stream event (non-stream: before the answer); "[[unsafe]]" → llama-guard says S1,
"[[unsafe:S10,S11]]" → it names those hazard categories; "[[legacy]]" → it answers in the legacy
string form ("safe" / "unsafe\nS1,S9") even in JSON mode (reference, Moderation).

Natural prompts for demos (`make demo`): the weather and harmful phrasing, in prompt_rules.py.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .catalogue import CatalogueModel
from .image_models import image_reply
from .media import embeddings_result
from .model_reply import ModelReply, StreamEvent
from .prompt_rules import example_value, function_of, hazards_in, wants_weather, weather_arguments, weather_tool
from .speech import aura_audio, melotts_result, whisper_result

GREETING = "Hello! You said: "
TOOL_RESULT = "Tool result: "  # after a tool message the model answers about the result, calling nothing
REASONING = "I should greet the user."
UNICODE_REPLY = "Grüße, 世界 🌍 ok"
LONG_TOKENS = 400
SLOW_PAUSE = 2.0
DEFAULT_MAX_TOKENS = 256  # reference, Text generation: "max_tokens (default 256!)"
LICENCE_AGREED = "Thank you for agreeing to the Llama 3.2 Community License. You may now use the model."

_TOKEN = re.compile(r"\s*\S+")
_padding_rng = random.Random()


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def prompt_tokens(texts: list[str]) -> int:
    return math.ceil(sum(len(t) for t in texts) / 4) + 4 * len(texts)


def padding() -> str:
    # Random on purpose, like upstream's side-channel padding `p` (reference, Streaming).
    return "".join(_padding_rng.choices(string.ascii_letters + string.digits, k=_padding_rng.randint(1, 20)))


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI / Responses content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and "text" in p)
    return ""


def reply_text(user_text: str) -> str:
    if "[[long]]" in user_text:
        return " ".join(f"word{i}" for i in range(1, LONG_TOKENS + 1))
    if "[[unicode]]" in user_text:
        return UNICODE_REPLY
    return GREETING + user_text.strip()


@dataclass(frozen=True)
class _Conversation:
    texts: list[str]  # every message's text, for prompt_tokens
    user: str  # the last user text


def _conversation(body: dict) -> _Conversation:
    if "prompt" in body:
        return _Conversation([body["prompt"]], body["prompt"])
    if "messages" in body:
        texts = [content_text(m.get("content")) for m in body["messages"]]
        users = [content_text(m.get("content")) for m in body["messages"] if m.get("role") == "user"]
        last = body["messages"][-1] if body["messages"] else {}
        if isinstance(last, dict) and last.get("role") == "tool":
            return _Conversation(texts, TOOL_RESULT + content_text(last.get("content")))
        return _Conversation(texts, users[-1] if users else "")
    items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
    texts = [content_text(i.get("content", i.get("output", ""))) for i in items if isinstance(i, dict)]
    users = [content_text(i.get("content")) for i in items if isinstance(i, dict) and i.get("role") == "user"]
    if body.get("instructions"):
        texts.append(body["instructions"])
    last = items[-1] if items else {}
    if isinstance(last, dict) and last.get("type") == "function_call_output":
        return _Conversation(texts, TOOL_RESULT + content_text(last.get("output")))
    return _Conversation(texts, users[-1] if users else "")


def _tool_call(model: CatalogueModel, body: dict, user: str) -> tuple[str, dict[str, Any]] | None:
    if not (model.function_calling and body.get("tools")):
        return None
    if "[[tool]]" in user:
        tool = function_of(body["tools"][0])
        return tool["name"], example_value(tool.get("parameters", {"type": "object"}))
    if wants_weather(user):
        tool = weather_tool(body["tools"])
        return tool["name"], weather_arguments(tool.get("parameters", {"type": "object"}), user)
    return None


def _json_mode(fmt: Any, reply: str) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") not in ("json_object", "json_schema"):
        return None
    schema = fmt.get("json_schema") or fmt.get("schema")
    if isinstance(schema, dict) and isinstance(schema.get("schema"), dict):
        schema = schema["schema"]  # OpenAI's {name, schema, strict} wrapper
    if isinstance(schema, dict) and schema.get("properties"):
        return example_value(schema, reply)
    return {"answer": reply}


def _usage(prompt: int, completion: int, *, details: bool = True) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
    return usage


def _pause(user: str, index: int) -> float:
    return SLOW_PAUSE if "[[slow]]" in user and index == 1 else 0.0


def _with_delay(user: str, result: Any) -> ModelReply:
    return ModelReply(result=result, delay=SLOW_PAUSE if "[[slow]]" in user else 0.0)


# --- legacy text generation: {response, tool_calls, usage} -----------------------------------------


def _legacy(model: CatalogueModel, body: dict) -> ModelReply:
    conv = _conversation(body)
    p_tokens = prompt_tokens(conv.texts)
    stream = body.get("stream") is True
    reply = reply_text(conv.user)
    as_json = _json_mode(body.get("response_format"), reply)
    if as_json is not None:
        # JSON mode does not stream (reference): the full envelope answers even when stream:true.
        c_tokens = min(len(tokens(json.dumps(as_json))), body.get("max_tokens", DEFAULT_MAX_TOKENS))
        return _with_delay(conv.user, {"response": as_json, "tool_calls": [], "usage": _usage(p_tokens, c_tokens)})
    call = _tool_call(model, body, conv.user)
    if call is not None:
        legacy_call = {"name": call[0], "arguments": call[1]}
        c_tokens = len(tokens(json.dumps(legacy_call)))
        if stream:
            # Upstream's streamed tool-call format is undocumented; the emulator sends the whole
            # legacy call in one event, then the usage event.
            return ModelReply(
                events=(
                    StreamEvent({"response": "", "tool_calls": [legacy_call], "p": padding()}),
                    StreamEvent({"response": "", "usage": _usage(p_tokens, c_tokens, details=False)}),
                    StreamEvent("[DONE]"),
                )
            )
        # A tool call comes back with `response: null` (reference, Text generation).
        return _with_delay(
            conv.user, {"response": None, "tool_calls": [legacy_call], "usage": _usage(p_tokens, c_tokens)}
        )
    prefix = {"qwq": f"<think>\n{REASONING}\n</think>\n\n", "r1-distill": f"{REASONING}\n</think>\n\n"}
    pieces = tokens(prefix.get(model.family, "") + reply)[: body.get("max_tokens", DEFAULT_MAX_TOKENS)]
    if not stream:
        return _with_delay(
            conv.user, {"response": "".join(pieces), "tool_calls": [], "usage": _usage(p_tokens, len(pieces))}
        )
    events = []
    for i, piece in enumerate(pieces):
        data: dict[str, Any] = {"response": piece}
        if i > 0:
            data["tool_calls"] = []  # upstream adds it to some events (reference example)
        data["p"] = padding()
        events.append(StreamEvent(data, _pause(conv.user, i)))
    events.append(StreamEvent({"response": "", "usage": _usage(p_tokens, len(pieces), details=False)}))
    events.append(StreamEvent("[DONE]"))
    return ModelReply(events=tuple(events))


def licence_agreed() -> ModelReply:
    return ModelReply(
        result={
            "response": LICENCE_AGREED,
            "tool_calls": [],
            "usage": _usage(prompt_tokens(["agree"]), len(tokens(LICENCE_AGREED))),
        }
    )


def _guard(body: dict) -> ModelReply:
    conv = _conversation(body)
    hazards = hazards_in(conv.user)
    verdict = {"safe": not hazards, "categories": hazards}
    as_json = isinstance(body.get("response_format"), dict) and "[[legacy]]" not in conv.user
    response = verdict if as_json else ("unsafe\n" + ",".join(hazards) if hazards else "safe")
    c_tokens = len(tokens(json.dumps(response) if as_json else response))
    return ModelReply(result={"response": response, "usage": _usage(prompt_tokens(conv.texts), c_tokens)})


# --- OpenAI chat.completion inside `result` (qwen3; gpt-oss with messages) ----------------------


def _budget(reasoning: list[str], content: list[str], limit: int | None) -> tuple[list[str], list[str], bool]:
    if limit is None or len(reasoning) + len(content) <= limit:
        return reasoning, content, False
    kept = reasoning[:limit]
    return kept, content[: limit - len(kept)], True


def _chat_completion(model: CatalogueModel, body: dict) -> ModelReply:
    conv = _conversation(body)
    p_tokens = prompt_tokens(conv.texts)
    reply = reply_text(conv.user)
    as_json = _json_mode(body.get("response_format"), reply)
    reasoning, content, cut = _budget(
        tokens(REASONING), tokens(json.dumps(as_json) if as_json else reply), body.get("max_tokens", DEFAULT_MAX_TOKENS)
    )
    call = _tool_call(model, body, conv.user)
    tool_calls = []
    if call is not None:
        content = []
        tool_calls = [
            {
                "id": f"chatcmpl-tool-{uuid.uuid4().hex}",
                "type": "function",
                "function": {"name": call[0], "arguments": json.dumps(call[1])},
            }
        ]
    finish = "tool_calls" if tool_calls else ("length" if cut else "stop")
    c_tokens = len(reasoning) + len(content) + (len(tokens(json.dumps(tool_calls))) if tool_calls else 0)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def head(kind: str) -> dict[str, Any]:
        return {"id": ident, "object": kind, "created": created, "model": model.name}

    usage = _usage(p_tokens, c_tokens, details=False)
    if body.get("stream") is not True or as_json is not None:
        message = {
            "role": "assistant",
            "content": "".join(content) if not tool_calls else None,
            "reasoning_content": "".join(reasoning),
            "tool_calls": tool_calls,
        }
        return _with_delay(
            conv.user,
            {
                **head("chat.completion"),
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
            },
        )

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            **head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    deltas = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": piece} for piece in reasoning]
    deltas += [{"content": piece} for piece in content]
    deltas += [{"tool_calls": [{"index": 0, **tc}]} for tc in tool_calls]
    events = [StreamEvent(chunk(d), _pause(conv.user, i)) for i, d in enumerate(deltas)]
    events.append(StreamEvent(chunk({}, finish)))
    events.append(StreamEvent({**head("chat.completion.chunk"), "choices": [], "usage": usage}))
    events.append(StreamEvent("[DONE]"))
    return ModelReply(events=tuple(events))


# --- gpt-oss Responses form ----------------------------------------------------------------------


def _responses(model: CatalogueModel, body: dict) -> ModelReply:
    conv = _conversation(body)
    reply = reply_text(conv.user)
    fmt = body.get("text", {}).get("format") if isinstance(body.get("text"), dict) else None
    as_json = _json_mode(fmt, reply)
    reasoning, content, cut = _budget(
        tokens(REASONING), tokens(json.dumps(as_json) if as_json else reply), body.get("max_output_tokens")
    )
    output: list[dict[str, Any]] = [
        {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "".join(reasoning)}]}
    ]
    call = _tool_call(model, body, conv.user)
    if call is not None:
        arguments = json.dumps(call[1])
        output.append(
            {
                "type": "function_call",
                "call_id": f"call_{uuid.uuid4().hex[:24]}",
                "name": call[0],
                "arguments": arguments,
            }
        )
        c_tokens = len(reasoning) + len(tokens(arguments))
    else:
        if content:
            output.append(
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "".join(content)}]}
            )
        c_tokens = len(reasoning) + len(content)
    p_tokens = prompt_tokens(conv.texts)
    result: dict[str, Any] = {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "status": "incomplete" if cut else "completed",
        "model": model.name,
    }
    if cut:
        result["incomplete_details"] = {"reason": "max_output_tokens"}
    result["output"] = output
    result["usage"] = {"input_tokens": p_tokens, "output_tokens": c_tokens, "total_tokens": p_tokens + c_tokens}
    return _with_delay(conv.user, result)


def run_model(model: CatalogueModel, body: Any, raw_body: bytes, *, speech_container: str = "mp3") -> ModelReply:
    """The reply of an already-validated input. `raw_body` serves whisper's binary form, the
    container MeloTTS's (set_speech_container); audio that does not decode raises UnreadableAudio."""
    family = model.family
    if family in ("llama", "vision", "qwq", "r1-distill"):
        return _legacy(model, body)
    if family == "qwen3":
        return _chat_completion(model, body)
    if family == "gpt-oss":
        return _chat_completion(model, body) if "messages" in body else _responses(model, body)
    if family == "guard":
        return _guard(body)
    if family == "embeddings":
        return ModelReply(result=embeddings_result(model, body))
    if family in ("whisper", "whisper-turbo"):
        return ModelReply(result=whisper_result(model, body, raw_body))
    if family == "melotts":
        return ModelReply(result=melotts_result(body, speech_container))
    if family == "aura":
        audio, content_type = aura_audio(body)
        return ModelReply(audio=audio, content_type=content_type)
    if family in ("flux", "sdxl"):
        return image_reply(model, body)
    raise AssertionError(f"validation lets no {family} input through")
