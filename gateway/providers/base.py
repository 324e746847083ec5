"""Typed requests and results at the provider boundary.

Adapters turn these into upstream calls and parse upstream answers back into them; nothing
upstream-shaped (dicts, envelopes, error codes) travels past an adapter. Views and endpoint
modules see only these types and ProviderError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

# What went wrong, in the gateway's vocabulary; gateway/errors.py maps each kind to an HTTP status.
ErrorKind = Literal[
    "model_not_found",  # upstream does not know the model (Workers AI 5007)
    "bad_request",  # upstream rejected the payload (5006 and friends)
    "rate_limited",  # upstream capacity or allocation exhausted (3040, 3036, 4006)
    "auth",  # the gateway's own upstream credentials are wrong (10000, 7003, 9106)
    "permission",  # account not allowed this model / licence not agreed (5016, 5018, 3041)
    "too_large",  # upstream says the request is too large (3006)
    "timeout",  # no answer in time (read timeout, 3007/3008)
    "unavailable",  # could not connect
    "upstream",  # anything else the upstream got wrong
]


class ProviderError(Exception):
    """The one error type every adapter raises."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        upstream_status: int | None = None,
        upstream_code: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code
        self.retry_after = retry_after


@dataclass(frozen=True)
class ProviderConfig:
    kind: str  # "workers_ai" | "openai_compatible"
    base_url: str
    account_id: str
    api_token: str
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    extra_headers: dict[str, str] | None = None  # sent with every call (an operator's choice)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # always a JSON string, as OpenAI clients expect


@dataclass(frozen=True)
class ImageRef:
    """An image of a user message.

    `url` is a data: URL, or, until the gateway has fetched it, the client's http(s) URL: the fetch
    waits until the request is admitted (gateway/chat/content_parts.py), so adapters only ever see
    data: URLs. `param` names the client's field, for the errors of that fetch.
    """

    url: str
    param: str

    @property
    def inline(self) -> bool:
        return self.url.startswith("data:")


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant | tool (developer already mapped to system)
    content: str  # text parts joined; null assistant content arrives as ""
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    # Images of a user message: only routes with vision get messages that carry any.
    images: tuple[ImageRef, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call. `parameters` is a JSON Schema object, kept as the client sent it."""

    name: str
    description: str = ""
    parameters: dict[str, object] | None = None


@dataclass(frozen=True)
class ResponseFormat:
    """JSON mode: `json_object`, or `json_schema` with the schema the reply must follow."""

    type: Literal["json_object", "json_schema"]
    schema: dict[str, object] | None = None
    name: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    model: str  # upstream model id, e.g. "@cf/meta/llama-3.1-8b-instruct-fp8"
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    # "<think>" handling: True when the route is a reasoning model whose output opens inside a
    # reasoning block (the chat template already emitted "<think>"), see gateway/providers/reasoning.py.
    reasoning: bool = False
    # Native tools for the upstream. The gateway decides what to send (tool_choice "none" sends
    # none; "required"/named are forced through response_format), so adapters just pass them on.
    tools: tuple[ToolSpec, ...] = ()
    response_format: ResponseFormat | None = None
    # OpenAI's reasoning effort (none … high) when the client gave one; adapters map it to what
    # their model takes, or drop it for models that do not reason.
    reasoning_effort: str | None = None
    # Legacy completions: a raw prompt sent in the upstream's `prompt` form instead of messages.
    prompt: str | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatResult:
    content: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    # Set only when the upstream said it ("length" from a Responses "incomplete" status, say);
    # otherwise the endpoint derives it from usage and max_tokens.
    finish_reason: str | None = None


@dataclass(frozen=True)
class ChatDelta:
    """One piece of a stream; any field may be empty. Usage comes once, near the end."""

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class CatalogueModel:
    name: str  # "@cf/meta/llama-3.1-8b-instruct-fp8"
    task: str  # the gateway's task vocabulary: chat, embedding, transcription, ...
    description: str = ""
    context_window: int | None = None
    function_calling: bool = False
    reasoning: bool = False
    vision: bool = False
    created: int | None = None  # unix seconds


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    texts: tuple[str, ...]  # each non-empty; at most the adapter's batch size (EMBEDDING_BATCH)


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: tuple[tuple[float, ...], ...]  # one per text, in order
    usage: Usage | None = None  # Workers AI reports none: the endpoint estimates


class ChatProvider(Protocol):
    def chat(self, request: ChatRequest) -> ChatResult: ...

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatDelta]: ...

    def list_models(self) -> list[CatalogueModel]: ...


class EmbeddingProvider(Protocol):
    # Texts one call may carry (Workers AI's text embedding models take at most 100:
    # https://developers.cloudflare.com/workers-ai/models/bge-base-en-v1.5/, Input).
    embedding_batch: int

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult: ...
