"""The errors of the emulator's OpenAI-compatible mode, in the form of the base that answers.

- Cloudflare's base (/accounts/{id}/ai/v1/…) answers its own envelope with `result: null` and the
  codes /ai/run uses (https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/,
  https://developers.cloudflare.com/workers-ai/platform/errors/).
- The generic base (/openai/v1/…) answers as OpenAI does, `{"error": {message, type, param, code}}`
  (https://platform.openai.com/docs/guides/error-codes): an unknown model is a 404
  model_not_found there, where Cloudflare says 400 / 5007.
"""

from __future__ import annotations

from typing import Any, Literal

Base = Literal["cloudflare", "openai"]

# OpenAI's (type, code) per HTTP status, for errors that carry only a status (an injected one).
_OPENAI_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    408: ("server_error", "timeout"),
    413: ("invalid_request_error", "request_too_large"),
    # A rate-limited request names the exhausted budget as its type ("requests" or "tokens").
    429: ("requests", "rate_limit_exceeded"),
}


def openai_kind(status: int) -> tuple[str, str | None]:
    if status in _OPENAI_KINDS:
        return _OPENAI_KINDS[status]
    return ("server_error", None) if status >= 500 else ("invalid_request_error", None)


class OpenAIError(Exception):
    """One refusal, renderable in either base's form (body() picks the form, status_for() the status)."""

    def __init__(
        self,
        status: int,
        cf_code: int,
        message: str,
        *,
        openai_status: int | None = None,
        openai_type: str | None = None,
        openai_code: str | None = None,
        param: str | None = None,
        cf_message: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.cf_code, self.message = status, cf_code, message
        self.openai_status = openai_status or status
        kind = openai_kind(self.openai_status)
        self.openai_type = openai_type or kind[0]
        self.openai_code = openai_code if openai_code is not None else kind[1]
        self.param = param
        self.cf_message = cf_message or message
        self.retry_after = retry_after

    def status_for(self, base: Base) -> int:
        return self.status if base == "cloudflare" else self.openai_status

    def body(self, base: Base) -> dict[str, Any]:
        if base == "cloudflare":
            errors = [{"code": self.cf_code, "message": self.cf_message}]
            return {"success": False, "errors": errors, "messages": [], "result": None}
        return {
            "error": {"message": self.message, "type": self.openai_type, "param": self.param, "code": self.openai_code}
        }

    def headers(self) -> tuple[tuple[str, str], ...]:
        return (("Retry-After", str(self.retry_after)),) if self.retry_after is not None else ()


def bad_input(message: str, param: str | None = None) -> OpenAIError:
    """Input the model cannot take: 400 / 5006 "AiError: Bad input: …" (Cloudflare), 400
    invalid_request_error (OpenAI)."""
    return OpenAIError(400, 5006, message, param=param, cf_message=f"AiError: Bad input: {message}")


def unknown_model(name: str) -> OpenAIError:
    return OpenAIError(
        400,
        5007,
        f"The model `{name}` does not exist or you do not have access to it.",
        openai_status=404,
        openai_code="model_not_found",
        param="model",
        cf_message=f"No such model {name} or task",
    )


def wrong_task(name: str, endpoint: str) -> OpenAIError:
    return bad_input(f"The model `{name}` does not support the {endpoint} endpoint.", "model")


def not_authenticated(header: str | None) -> OpenAIError:
    if header is None:
        message = "You didn't provide an API key. You need to provide your API key in an Authorization header."
        return OpenAIError(401, 10000, message, openai_code=None, cf_message="Authentication error")
    return OpenAIError(401, 10000, "Incorrect API key provided.", cf_message="Authentication error")


def injected(status: int, code: int, message: str, retry_after: int | None) -> OpenAIError:
    """An error set with inject_error(): Cloudflare's code as given; OpenAI's type and code from
    the status (429 → rate_limit_exceeded, 5xx → server_error)."""
    return OpenAIError(status, code, message, retry_after=retry_after)
