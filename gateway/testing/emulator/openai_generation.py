"""One text-generation run for the OpenAI-compatible mode: the model's own Workers AI input goes
through the same validation and run_model as /ai/run, and its answer, whichever shape the family
gives (legacy {response, tool_calls, usage}, a chat.completion inside `result`, Llama Guard's
verdict), becomes one Generation: content, reasoning, OpenAI tool calls, finish reason, usage.

What the OpenAI layer adds on top of the model, as an OpenAI server does around its engine
(https://platform.openai.com/docs/api-reference/chat/create):
- `stop`: the content ends before the first stop string, finish_reason "stop", and the completion
  tokens drop by the tokens cut.
- finish_reason "length" when a legacy model used its whole token budget (its `max_tokens`, or
  Workers AI's default of 256).
- QwQ and DeepSeek-R1-distill put their reasoning in the text, in <think> tags; it is split into
  `reasoning_content`, as an OpenAI-compatible server's reasoning parser does
  (https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/ streams it
  in `delta.reasoning_content`). A text cut inside the reasoning is reasoning only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from .catalogue import CatalogueModel
from .openai_call import checked
from .openai_errors import bad_input
from .replies import DEFAULT_MAX_TOKENS, run_model, tokens
from .schema import check_number, check_string, check_type
from .validation import BadInput, validate_input

TEXT_FAMILIES = frozenset({"llama", "vision", "qwq", "r1-distill", "qwen3", "gpt-oss", "guard"})
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON string, as OpenAI sends it

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Generation:
    content: str | None  # None when the model called a tool
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str  # stop | length | tool_calls
    prompt_tokens: int
    completion_tokens: int
    delay: float  # the model's pause before answering ([[slow]])


_MAX_SEED = 9999999999  # Workers AI's seed range is 1..this (validation.py); others are dropped
_MAX_STOPS = 4


def check_sampling(body: dict[str, Any]) -> None:
    """OpenAI's ranges for the sampling fields chat and completions share
    (https://platform.openai.com/docs/api-reference/chat/create)."""
    with checked():
        check_number(body, "temperature", "", 0, 2)
        check_number(body, "top_p", "", 0, 1)
        check_number(body, "frequency_penalty", "", -2, 2)
        check_number(body, "presence_penalty", "", -2, 2)
        check_number(body, "n", "", 1, 128, integer=True)
        check_number(body, "max_tokens", "", 1, 10**9, integer=True)
        check_number(body, "max_completion_tokens", "", 1, 10**9, integer=True)
        check_number(body, "seed", "", -(2**63), 2**63 - 1, integer=True)
        check_string(body, "user", "")
        if "stop" in body:
            check_type(body["stop"], "/stop", "string", "array")
            stops = [body["stop"]] if isinstance(body["stop"], str) else body["stop"]
            if len(stops) > _MAX_STOPS:
                raise bad_input(f"'stop' may hold at most {_MAX_STOPS} sequences, got {len(stops)}.", "stop")
            for i, value in enumerate(stops):
                check_type(value, f"/stop/{i}", "string")


def stop_sequences(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop", ())
    return (stop,) if isinstance(stop, str) else tuple(stop)


def sampling_input(body: dict[str, Any]) -> dict[str, Any]:
    """The sampling fields a Workers AI text-generation input takes, from an OpenAI body; `stop`,
    `n`, `user` and the like are the OpenAI layer's, never the model's (validation.py)."""
    out = {key: body[key] for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty") if key in body}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        out["max_tokens"] = limit
    if 1 <= body.get("seed", 0) <= _MAX_SEED:
        out["seed"] = body["seed"]
    return out


def pieces(text: str) -> list[str]:
    """The text as the model's tokens (replies.tokens), whose join is the whole text."""
    parts = tokens(text)
    rest = text[len("".join(parts)) :]
    return [*parts, rest] if rest else parts


def generate(model: CatalogueModel, wa_input: dict[str, Any], *, stop: tuple[str, ...] = ()) -> Generation:
    """Validate `wa_input` as /ai/run does (BadInput → 400 / 5006), run the model, normalise."""
    try:
        validate_input(model, wa_input)
    except BadInput as exc:
        raise bad_input(str(exc)) from None
    reply = run_model(model, wa_input, b"")
    result = reply.result
    if isinstance(result, dict) and "choices" in result:
        generation = _from_chat_completion(result, reply.delay)
    else:
        generation = _from_legacy(model, result, wa_input.get("max_tokens", DEFAULT_MAX_TOKENS), reply.delay)
    return _stopped(generation, stop)


def _from_chat_completion(result: dict[str, Any], delay: float) -> Generation:
    choice = result["choices"][0]
    message = choice["message"]
    calls = tuple(
        ToolCall(call["id"], call["function"]["name"], call["function"]["arguments"])
        for call in message.get("tool_calls") or ()
    )
    usage = result["usage"]
    return Generation(
        content=message.get("content"),
        reasoning=message.get("reasoning_content") or None,
        tool_calls=calls,
        finish_reason=choice["finish_reason"],
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        delay=delay,
    )


def _from_legacy(model: CatalogueModel, result: dict[str, Any], limit: int, delay: float) -> Generation:
    response = result.get("response")
    # JSON mode (and Llama Guard's verdict) answers a parsed object: OpenAI clients want its text.
    text = json.dumps(response) if isinstance(response, dict) else response
    calls = tuple(
        ToolCall(f"call_{uuid.uuid4().hex[:24]}", call["name"], json.dumps(call["arguments"]))
        for call in result.get("tool_calls") or ()
    )
    reasoning = None
    if text is not None and model.family in ("qwq", "r1-distill"):
        reasoning, text = _split_think(text)
    usage = result["usage"]
    completion = usage["completion_tokens"]
    finish = "tool_calls" if calls else ("length" if model.family != "guard" and completion >= limit else "stop")
    return Generation(
        content=None if calls else (text or ""),
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=finish,
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=completion,
        delay=delay,
    )


def _split_think(text: str) -> tuple[str | None, str]:
    body = text.removeprefix(_THINK_OPEN)
    if _THINK_CLOSE not in body:
        return body.strip() or None, ""
    reasoning, _, content = body.partition(_THINK_CLOSE)
    return reasoning.strip() or None, content.lstrip()


def _stopped(generation: Generation, stop: tuple[str, ...]) -> Generation:
    content = generation.content
    if not stop or not content:
        return generation
    cuts = [content.find(s) for s in stop if s and s in content]
    if not cuts:
        return generation
    kept = content[: min(cuts)]
    dropped = len(tokens(content)) - len(tokens(kept))
    return replace(
        generation, content=kept, finish_reason="stop", completion_tokens=generation.completion_tokens - dropped
    )
