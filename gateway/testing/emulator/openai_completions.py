"""POST completions (the legacy text endpoint) on the generic base: each prompt runs as the
model's Workers AI prompt form (`{"prompt": …}`; gpt-oss, which has none, takes it as one user
message) and leaves as text_completion objects, streamed or not
(https://platform.openai.com/docs/api-reference/completions/create).

max_tokens defaults to 16, OpenAI's default on this endpoint. A list of prompts gives one choice
per prompt and per `n`, prompt-major (choice index = prompt index × n + j), and usage sums them
all. Reasoning models answer the reply without their reasoning. Token-array prompts, echo,
suffix, best_of above 1 and logprobs are refused (400): the emulator has no tokenizer and no
log-probabilities.
"""

from __future__ import annotations

from typing import Any

from .catalogue import CatalogueModel
from .model_reply import ModelReply
from .openai_call import OpenAICall, check_fields, checked, new_id, now, served_model, sse, stream_flags, usage
from .openai_errors import bad_input
from .openai_generation import Generation, check_sampling, generate, pieces, sampling_input, stop_sequences
from .schema import check_type

COMPLETION_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
)
DEFAULT_MAX_TOKENS = 16
# Text models with a prompt form; Llama Guard judges conversations, it does not complete text.
_FAMILIES = ("llama", "vision", "qwq", "r1-distill", "qwen3", "gpt-oss")


def completions(call: OpenAICall) -> ModelReply:
    body = call.body
    check_fields(body, COMPLETION_FIELDS, ("model", "prompt"))
    check_sampling(body)
    stream, send_usage = stream_flags(call)
    prompts = _prompts(body)
    model = served_model(call, "completions", _FAMILIES)
    n = body.get("n", 1)
    runs = [generate(model, _model_input(model, body, prompt), stop=stop_sequences(body)) for prompt in prompts]
    runs = [run for run in runs for _ in range(n)]  # the model is deterministic: n equal runs
    ident, created = new_id("cmpl-"), now()
    head = {"id": ident, "object": "text_completion", "created": created, "model": call.model_name}
    total = usage(
        sum(run.prompt_tokens for run in runs[::n]),
        sum(run.completion_tokens for run in runs),
    )
    if not stream:
        choices = [_choice(i, run.content or "", run.finish_reason) for i, run in enumerate(runs)]
        return ModelReply(result={**head, "choices": choices, "usage": total}, delay=max(r.delay for r in runs))
    chunks = [
        {**head, "choices": [_choice(i, text, finish)]} for i, run in enumerate(runs) for text, finish in _texts(run)
    ]
    if send_usage:
        chunks.append({**head, "choices": [], "usage": total})
    return ModelReply(events=sse(chunks, slow=any(run.delay for run in runs)))


def _prompts(body: dict[str, Any]) -> list[str]:
    prompt = body["prompt"]
    with checked():
        check_type(prompt, "/prompt", "string", "array")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise bad_input("'prompt' must be a string or a non-empty list of strings (token arrays are not supported).")
    if any(not p for p in prompts):
        raise bad_input("'prompt' must not be empty.", "prompt")
    if body.get("echo") not in (None, False):
        raise bad_input("echo is not supported by this server.", "echo")
    if body.get("suffix") not in (None, ""):
        raise bad_input("suffix is not supported by this server.", "suffix")
    if body.get("best_of", 1) != 1:
        raise bad_input("best_of above 1 is not supported by this server.", "best_of")
    if body.get("logprobs") not in (None, 0):
        raise bad_input("logprobs is not supported by this server.", "logprobs")
    return prompts


def _model_input(model: CatalogueModel, body: dict[str, Any], prompt: str) -> dict[str, Any]:
    wa_input: dict[str, Any] = (
        {"messages": [{"role": "user", "content": prompt}]} if model.family == "gpt-oss" else {"prompt": prompt}
    )
    wa_input.update(sampling_input(body))
    wa_input.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    return wa_input


def _choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}


def _texts(run: Generation) -> list[tuple[str, str | None]]:
    return [(piece, None) for piece in pieces(run.content or "")] + [("", run.finish_reason)]
