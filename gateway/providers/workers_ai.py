"""Cloudflare Workers AI adapter: typed chat requests to /ai/run, upstream answers to typed results.

Every upstream fact used here is in shared/reference/workers-ai-api.md. The model schemas are
strict (an unknown key is a 400/5006), so payloads carry only the fields a model family documents.
Answers come in three shapes and are told apart by their keys, not by the model name: the classic
`{response, tool_calls, usage}`, an OpenAI chat.completion inside `result` (Qwen3, Kimi, gpt-oss
given `messages`), and a Responses object (gpt-oss given `input`).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from gateway.providers import http
from gateway.providers.base import (
    CatalogueModel,
    ChatDelta,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ErrorKind,
    ProviderConfig,
    ProviderError,
    ToolCall,
    Usage,
)
from gateway.providers.event_stream import iter_event_data
from gateway.providers.reasoning import ThinkSplitter, split_reasoning

UPSTREAM = "Workers AI"
RESPONSES_MODEL_PREFIX = "@cf/openai/gpt-oss"
CATALOGUE_PAGE_SIZE = 100  # few round trips for the whole catalogue
CATALOGUE_MAX_PAGES = 50  # a guard against an upstream whose paging never ends


def uses_responses_form(model: str) -> bool:
    return model.startswith(RESPONSES_MODEL_PREFIX)


# --- payloads ----------------------------------------------------------------------------------


def build_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The /ai/run body for the request's model family: the one place new fields are added."""
    if uses_responses_form(request.model):
        return _responses_payload(request)
    return _messages_payload(request, stream=stream)


def _messages_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [_upstream_message(m) for m in request.messages]}
    # `is not None`, never truthiness: temperature 0 must reach the upstream as 0.
    optional = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "frequency_penalty": request.frequency_penalty,
        "presence_penalty": request.presence_penalty,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if stream:
        body["stream"] = True
    return body


def _upstream_message(message: ChatMessage) -> dict[str, Any]:
    item: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            item["name"] = message.name
    return item


def _responses_payload(request: ChatRequest) -> dict[str, Any]:
    # gpt-oss documents the Responses form: instructions + input, max_output_tokens, temperature,
    # top_p. It has no seed or penalties, so those are not sent.
    system = [m.content for m in request.messages if m.role == "system"]
    turns = [m for m in request.messages if m.role != "system"]
    body: dict[str, Any] = {}
    if system:
        body["instructions"] = "\n\n".join(system)
    if len(turns) == 1 and turns[0].role == "user":
        body["input"] = turns[0].content
    else:
        body["input"] = [item for m in turns for item in _responses_items(m)]
    optional = {
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _responses_items(message: ChatMessage) -> list[dict[str, Any]]:
    # Earlier tool calls and their results are their own input items in the Responses form.
    if message.role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.tool_call_id or "",
                "output": message.content,
            }
        ]
    items: list[dict[str, Any]] = []
    if message.content or not message.tool_calls:
        items.append({"role": message.role, "content": message.content})
    items.extend(
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
        for c in message.tool_calls
    )
    return items


# --- errors ------------------------------------------------------------------------------------

# Match on the code, never on the message (reference, Errors): wording varies in practice.
_KIND_BY_CODE: dict[int, ErrorKind] = {
    5007: "model_not_found",
    5006: "bad_request",
    3040: "rate_limited",
    3036: "rate_limited",
    4006: "rate_limited",
    10000: "auth",
    7003: "auth",
    9106: "auth",
    5016: "permission",
    5018: "permission",
    3041: "permission",
    3006: "too_large",
    3007: "timeout",
    3008: "timeout",
}
# For an error without a known code, the status still says more than "bad request".
_KIND_BY_STATUS: dict[int, ErrorKind] = {
    401: "auth",
    403: "permission",
    408: "timeout",
    413: "too_large",
    429: "rate_limited",
}
# Retry-After when the upstream sends none. 3040 is momentary capacity ("No more data centers"),
# worth retrying within seconds. 3036/4006 mean the free daily neuron allocation is spent; it
# resets at 00:00 UTC, possibly hours away, but a minute keeps the hint within what OpenAI SDKs
# honour (at most 60 s) and lets the gateway see an upgraded account soon.
CAPACITY_RETRY_AFTER = 2
ALLOCATION_RETRY_AFTER = 60
_RETRY_AFTER_BY_CODE = {3040: CAPACITY_RETRY_AFTER, 3036: ALLOCATION_RETRY_AFTER,
                        4006: ALLOCATION_RETRY_AFTER}
_OTHER_RATE_LIMIT_RETRY_AFTER = 5

_MESSAGE_PREFIX: dict[ErrorKind, str] = {
    "model_not_found": "Upstream does not know the model",
    "bad_request": "Upstream rejected the request",
    "rate_limited": "Upstream is over capacity or its allocation is used up",
    "permission": "Upstream does not allow this model for the gateway's account",
    "too_large": "Upstream says the request is too large",
    "timeout": "Upstream timed out",
    "upstream": "Upstream error",
}


def error_from_response(
    status: int, headers: Mapping[str, str], raw: bytes, secrets_: tuple[str, ...]
) -> ProviderError:
    """Map a failed answer's `{errors:[{code, message}]}` envelope to a ProviderError."""
    try:
        body = json.loads(raw)
    except ValueError:
        return ProviderError("upstream", f"Upstream error: HTTP {status} without a JSON body.",
                             upstream_status=status)
    code, message = _first_error(body)
    return _provider_error(status, code, message, headers.get("Retry-After"), secrets_)


def error_from_event(event: dict[str, Any], secrets_: tuple[str, ...]) -> ProviderError:
    """Map an error-shaped stream event (`errors` like the envelope, or a bare `error`)."""
    code, message = _first_error(event)
    if code is None and not message:
        error = event.get("error")
        code, message = _first_error({"errors": [error if isinstance(error, dict) else
                                                 {"message": str(error)}]})
    return _provider_error(None, code, message, None, secrets_)


def _first_error(body: Any) -> tuple[int | None, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return None, ""
    code = first.get("code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    return code, str(first.get("message") or "")


def _provider_error(
    status: int | None,
    code: int | None,
    message: str,
    retry_after_header: str | None,
    secrets_: tuple[str, ...],
) -> ProviderError:
    kind = _KIND_BY_CODE.get(code or 0) or _KIND_BY_STATUS.get(status or 0)
    if kind is None:
        kind = "bad_request" if status is not None and 400 <= status < 500 else "upstream"
    if kind == "auth":
        # The upstream text may quote the account id (7003 names the path): never pass it on.
        reason = f"code {code}" if code is not None else f"HTTP {status}"
        text = (f"Upstream refused the gateway's credentials ({reason}): the provider's API token "
                f"or account id is misconfigured.")
    else:
        for secret in secrets_:
            if secret:
                message = message.replace(secret, "***")
        detail = message or (f"code {code}" if code is not None else f"HTTP {status}")
        text = f"{_MESSAGE_PREFIX[kind]}: {detail}"
    retry_after = None
    if kind == "rate_limited":
        retry_after = _retry_after_seconds(retry_after_header)
        if retry_after is None:
            retry_after = _RETRY_AFTER_BY_CODE.get(code or 0, _OTHER_RATE_LIMIT_RETRY_AFTER)
    return ProviderError(kind, text, upstream_status=status, upstream_code=code,
                         retry_after=retry_after)


def _retry_after_seconds(header: str | None) -> int | None:
    """Retry-After is delay-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return int(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil(when.timestamp() - time.time()))


# --- results -----------------------------------------------------------------------------------


def parse_result(result: Any, starts_in_reasoning: bool) -> ChatResult:
    """Parse `result` of whichever of the three answer shapes it is."""
    if not isinstance(result, dict):
        raise ProviderError("upstream", "Upstream error: the answer has no result object.")
    if result.get("object") == "response" or isinstance(result.get("output"), list):
        return _parse_responses(result)
    if isinstance(result.get("choices"), list):
        return _parse_chat_completion(result)
    response = result.get("response")
    if isinstance(response, str):
        reasoning, content = split_reasoning(response, starts_in_reasoning)
    else:
        # JSON mode hands back the parsed object; OpenAI clients expect the JSON text.
        reasoning, content = "", "" if response is None else json.dumps(response)
    return ChatResult(content=content, reasoning=reasoning,
                      tool_calls=tool_calls_of(result.get("tool_calls")),
                      usage=usage_of(result.get("usage")))


def _parse_chat_completion(result: dict[str, Any]) -> ChatResult:
    choice = result["choices"][0] if result["choices"] else {}
    message = choice.get("message") or {}
    # This shape carries reasoning in its own field, so "starts in reasoning" does not apply to
    # its content; only a literal leading <think> block is split off.
    tagged, content = split_reasoning(message.get("content") or "", False)
    reasoning = "\n".join(t for t in (message.get("reasoning_content") or "", tagged) if t)
    finish = choice.get("finish_reason")
    return ChatResult(content=content, reasoning=reasoning,
                      tool_calls=tool_calls_of(message.get("tool_calls")),
                      usage=usage_of(result.get("usage")),
                      finish_reason=finish if isinstance(finish, str) else None)


def _parse_responses(result: dict[str, Any]) -> ChatResult:
    reasoning: list[str] = []
    content: list[str] = []
    calls: list[ToolCall] = []
    for item in result.get("output") or []:
        if not isinstance(item, dict):
            continue
        parts = [p for p in item.get("content") or [] if isinstance(p, dict)]
        if item.get("type") == "reasoning":
            reasoning.extend(str(p.get("text") or "") for p in parts)
        elif item.get("type") == "message":
            texts = (p.get("text") for p in parts if p.get("type") == "output_text")
            content.extend(str(t or "") for t in texts)
        elif item.get("type") == "function_call":
            # call_id, not the item's own id, is what a later function_call_output names.
            calls.extend(tool_calls_of([{**item, "id": item.get("call_id")}]))
    finish = None
    incomplete = result.get("incomplete_details") or {}
    if result.get("status") == "incomplete" and incomplete.get("reason") == "max_output_tokens":
        finish = "length"
    elif calls:
        finish = "tool_calls"
    return ChatResult(content="".join(content), reasoning="".join(reasoning),
                      tool_calls=tuple(calls), usage=usage_of(result.get("usage")),
                      finish_reason=finish)


def tool_calls_of(raw: Any) -> tuple[ToolCall, ...]:
    """Legacy `{name, arguments:{…}}` or OpenAI `{id, type, function:{name, arguments}}` calls."""
    calls: list[ToolCall] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        function = item.get("function") if isinstance(item.get("function"), dict) else item
        name = function.get("name")
        if not isinstance(name, str) or not name:
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        call_id = item.get("id")
        calls.append(ToolCall(id=call_id if isinstance(call_id, str) and call_id else new_call_id(),
                              name=name, arguments=arguments))
    return tuple(calls)


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def usage_of(raw: Any) -> Usage | None:
    """Token counts from a chat (`prompt_tokens`) or Responses (`input_tokens`) usage object."""
    if not isinstance(raw, dict):
        return None
    prompt = _count(raw.get("prompt_tokens", raw.get("input_tokens")))
    completion = _count(raw.get("completion_tokens", raw.get("output_tokens")))
    if prompt is None and completion is None:
        return None
    return Usage(prompt_tokens=prompt or 0, completion_tokens=completion or 0)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


# --- catalogue ---------------------------------------------------------------------------------

# Upstream task names in the gateway's vocabulary. Image-to-Text models (llava…) answer about an
# image in text, which is what a chat client asks a vision model, so they are "chat" with vision.
_TASKS = {
    "Text Generation": "chat",
    "Image-to-Text": "chat",
    "Text Embeddings": "embedding",
    "Automatic Speech Recognition": "transcription",
    "Text-to-Speech": "speech",
    "Text-to-Image": "image",
}


def catalogue_model(item: dict[str, Any]) -> CatalogueModel:
    """One /ai/models/search item; property values are strings (reference, Catalogue)."""
    task_name = str((item.get("task") or {}).get("name") or "")
    properties = {
        str(p.get("property_id")): p.get("value")
        for p in item.get("properties") or []
        if isinstance(p, dict)
    }
    name = str(item["name"])
    return CatalogueModel(
        name=name,
        task=_TASKS.get(task_name) or re.sub(r"[^a-z0-9]+", "-", task_name.lower()).strip("-"),
        description=str(item.get("description") or ""),
        context_window=_int_property(properties.get("context_window")),
        function_calling=properties.get("function_calling") == "true",
        reasoning=properties.get("reasoning") == "true",
        vision=task_name == "Image-to-Text" or "vision" in name,
        created=_unix_seconds(item.get("created_at")),
    )


def _int_property(value: Any) -> int | None:
    try:
        return int(float(str(value)))
    except (ValueError, OverflowError):
        return None


def _unix_seconds(value: Any) -> int | None:
    # created_at looks like "2025-01-01 00:00:00.000", in UTC without saying so.
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


# --- the provider ------------------------------------------------------------------------------


class WorkersAIProvider:
    catalogue_page_size = CATALOGUE_PAGE_SIZE

    def __init__(self, config: ProviderConfig, session: requests.Session | None = None) -> None:
        self._session = session if session is not None else http.session_for(config.base_url)
        self._account_url = f"{config.base_url.rstrip('/')}/accounts/{config.account_id}"
        self._headers = {"Authorization": f"Bearer {config.api_token}"}
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._secrets = (config.api_token, config.account_id)

    def chat(self, request: ChatRequest) -> ChatResult:
        response = self._post(request.model, build_payload(request, stream=False), stream=False)
        return parse_result(self._result_of(response), request.reasoning)

    def chat_stream(self, request: ChatRequest) -> DeltaStream:
        """Start a stream: upstream errors before the first event raise here, not on iteration.

        gpt-oss: the Responses form does not stream (workers-ai-api.md lists /ai/v1/responses as
        non-streaming, and the emulator answers 5006 to stream:true), so its answer is fetched
        whole and replayed as deltas: reasoning, then content and tool calls, then usage.
        """
        if uses_responses_form(request.model):
            return DeltaStream(iter(_deltas_of(self.chat(request))), None)
        response = self._post(request.model, build_payload(request, stream=True), stream=True)
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            # A model that ignores `stream` (JSON mode does not stream) answers with an envelope.
            try:
                result = parse_result(self._result_of(response), request.reasoning)
            finally:
                response.close()
            return DeltaStream(iter(_deltas_of(result)), None)
        events = iter_event_data(response.iter_content(chunk_size=None))
        return DeltaStream(translate_stream(events, request.reasoning, self._secrets), response)

    def list_models(self) -> list[CatalogueModel]:
        models: list[CatalogueModel] = []
        fetched = 0
        for page in range(1, CATALOGUE_MAX_PAGES + 1):
            params = {"page": page, "per_page": self.catalogue_page_size}
            body = self._envelope(self._get("/ai/models/search", params))
            items = body.get("result") or []
            models.extend(catalogue_model(i) for i in items
                          if isinstance(i, dict) and i.get("name"))
            fetched += len(items)
            info = body.get("result_info") or {}
            total = info.get("total_count")
            per_page = info.get("per_page") or self.catalogue_page_size
            if not items or (fetched >= total if isinstance(total, int) else len(items) < per_page):
                break
        return models

    # --- transport -----------------------------------------------------------------------------

    def _post(self, model: str, body: dict[str, Any], *, stream: bool) -> requests.Response:
        # The model id goes into the path as it is, slashes and "@" included (reference, Endpoint).
        url = f"{self._account_url}/ai/run/{model}"
        return self._send("POST", url, json=body, stream=stream)

    def _get(self, path: str, params: dict[str, Any]) -> requests.Response:
        return self._send("GET", self._account_url + path, params=params, stream=False)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(
                method, url, headers=self._headers, timeout=self._timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc
        if not response.ok:
            try:
                raise error_from_response(response.status_code, response.headers,
                                          self._body_of(response), self._secrets)
            finally:
                response.close()
        return response

    def _body_of(self, response: requests.Response) -> bytes:
        try:
            return response.content
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc

    def _envelope(self, response: requests.Response) -> dict[str, Any]:
        raw = self._body_of(response)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ProviderError("upstream", f"{UPSTREAM} answered with a body that is not JSON.",
                                upstream_status=response.status_code) from exc
        if not isinstance(body, dict):
            raise ProviderError("upstream", f"{UPSTREAM} answered with an unexpected body.",
                                upstream_status=response.status_code)
        if body.get("success") is False or body.get("errors"):
            raise error_from_response(response.status_code, response.headers, raw, self._secrets)
        return body

    def _result_of(self, response: requests.Response) -> Any:
        return self._envelope(response).get("result")


# --- streaming ---------------------------------------------------------------------------------


class DeltaStream(Iterator[ChatDelta]):
    """The deltas of one upstream stream; `close()` releases the pooled connection.

    When a client disconnects, Django closes the streaming content, which lands here and closes
    the upstream response, even if iteration never started (a generator's finally would not run).
    """

    def __init__(self, deltas: Iterator[ChatDelta], response: requests.Response | None) -> None:
        self._deltas = deltas
        self._response = response

    def __next__(self) -> ChatDelta:
        try:
            return next(self._deltas)
        except requests.RequestException as exc:
            self.close()
            raise http.transport_error(exc, UPSTREAM) from exc
        except BaseException:  # StopIteration included: the stream is over either way
            self.close()
            raise

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()
        if self._response is not None:
            self._response.close()
            self._response = None


def translate_stream(
    events: Iterator[str], starts_in_reasoning: bool, secrets_: tuple[str, ...] = ()
) -> Iterator[ChatDelta]:
    """Deltas from an upstream stream's event payloads (`secrets_` are redacted from errors)."""
    return _StreamTranslator(starts_in_reasoning, secrets_).deltas(events)


class _StreamTranslator:
    """Turns one stream's event payloads into deltas; both upstream event shapes are handled."""

    def __init__(self, starts_in_reasoning: bool, secrets_: tuple[str, ...]) -> None:
        self._text_splitter = ThinkSplitter(starts_in_reasoning)
        # OpenAI-shaped chunks carry reasoning in its own field: their content is only split off
        # a literal leading <think> block, as in _parse_chat_completion.
        self._chunk_splitter = ThinkSplitter(starts_in_reasoning=False)
        self._secrets = secrets_
        self._tool_parts: dict[int, list[str]] = {}  # OpenAI chunk call fragments by index

    def deltas(self, events: Iterator[str]) -> Iterator[ChatDelta]:
        for data in events:
            delta = self._delta_of(data)
            if delta != _EMPTY:
                yield delta
        text_reasoning, text_content = self._text_splitter.finish()
        chunk_reasoning, chunk_content = self._chunk_splitter.finish()
        calls = tuple(
            ToolCall(id=call_id or new_call_id(), name=name, arguments=arguments)
            for call_id, name, arguments in (self._tool_parts[i] for i in sorted(self._tool_parts))
            if name
        )
        tail = ChatDelta(content=text_content + chunk_content,
                         reasoning=text_reasoning + chunk_reasoning, tool_calls=calls)
        if tail != _EMPTY:
            yield tail

    def _delta_of(self, data: str) -> ChatDelta:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ProviderError("upstream", "Upstream error: an unreadable stream event.") from exc
        if not isinstance(event, dict):
            return _EMPTY
        if event.get("error") or event.get("errors"):
            raise error_from_event(event, self._secrets)
        if isinstance(event.get("choices"), list):
            return self._chunk_delta(event)
        # Classic event: {"response": "…", "p": padding, "tool_calls": [] noise, "usage"?}.
        text = event.get("response")
        reasoning, content = self._text_splitter.feed(text) if isinstance(text, str) else ("", "")
        return ChatDelta(content=content, reasoning=reasoning,
                         tool_calls=tool_calls_of(event.get("tool_calls")),
                         usage=usage_of(event.get("usage")))

    def _chunk_delta(self, event: dict[str, Any]) -> ChatDelta:
        choice = event["choices"][0] if event["choices"] else {}
        delta = choice.get("delta") or {}
        text = delta.get("content")
        reasoning, content = self._chunk_splitter.feed(text) if isinstance(text, str) else ("", "")
        separate = delta.get("reasoning_content")
        if isinstance(separate, str):
            reasoning = separate + reasoning
        for part in delta.get("tool_calls") or []:
            self._add_tool_part(part)
        finish = choice.get("finish_reason")
        return ChatDelta(content=content, reasoning=reasoning, usage=usage_of(event.get("usage")),
                         finish_reason=finish if isinstance(finish, str) else None)

    def _add_tool_part(self, part: Any) -> None:
        # OpenAI chunks send a call's id and name first, then argument fragments under the same
        # index; ChatDelta carries whole calls, so they are assembled and sent when the stream ends.
        if not isinstance(part, dict):
            return
        index = part.get("index")
        slot = self._tool_parts.setdefault(index if isinstance(index, int) else 0, ["", "", ""])
        function = part.get("function") if isinstance(part.get("function"), dict) else {}
        slot[0] = slot[0] or str(part.get("id") or "")
        slot[1] = slot[1] or str(function.get("name") or "")
        slot[2] += str(function.get("arguments") or "")


_EMPTY = ChatDelta()


def _deltas_of(result: ChatResult) -> list[ChatDelta]:
    """A whole answer as a stream would have told it: reasoning, content and calls, the end."""
    deltas = [
        ChatDelta(reasoning=result.reasoning),
        ChatDelta(content=result.content, tool_calls=result.tool_calls),
        ChatDelta(usage=result.usage, finish_reason=result.finish_reason),
    ]
    return [d for d in deltas if d != _EMPTY]
