"""Typed request and results of a native moderation call at the provider boundary (see base.py).

Only upstreams with a moderation endpoint of their own implement ModerationProvider (OpenAI's
POST /moderations, https://platform.openai.com/docs/api-reference/moderations); the others are
judged by a Llama Guard chat model (gateway/moderations/service.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gateway.providers.base import Usage


@dataclass(frozen=True)
class ModerationRequest:
    model: str  # upstream model id, e.g. "omni-moderation-latest"
    inputs: tuple[str, ...]  # one result each, in order


@dataclass(frozen=True)
class ModerationResult:
    """One input's verdict as the upstream gave it: category names are the upstream's own (the
    family keeps those OpenAI clients know)."""

    flagged: bool
    categories: dict[str, bool] = field(default_factory=dict)
    category_scores: dict[str, float] = field(default_factory=dict)
    # The input types ("text", "image") each category was judged on; None when not reported.
    applied_input_types: dict[str, tuple[str, ...]] | None = None


@runtime_checkable
class ModerationProvider(Protocol):
    def moderates(self, model: str) -> bool:
        """Whether this upstream model is a moderation model (else it is a chat model to ask)."""
        ...

    def moderate(self, request: ModerationRequest) -> tuple[list[ModerationResult], Usage | None]:
        """One result per input, in order, and the upstream's usage when it reports any."""
        ...
