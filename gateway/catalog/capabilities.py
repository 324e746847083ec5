"""Capability-aware routing: a request goes only to the routes of its name that can serve it.

A family's typed request says what it needs (`Needs`: tools, vision, JSON mode, a context window
that holds its prompt); routes lacking any of it are skipped, the rest keep their priority order.
When no route has everything, the 400 names what is missing, in the words of the route that came
closest (fewest gaps, then priority) — README "Providers, routing, fallbacks and cooldowns".
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.accounting.tokens import context_exceeded
from gateway.catalog.routes import RouteTarget
from gateway.errors import GatewayError, invalid


@dataclass(frozen=True)
class Needs:
    tools: bool = False  # tools sent natively (tool_choice "auto")
    vision: bool = False  # a message carries images
    json_mode: bool = False  # response_format, or a forced tool call (gateway/chat/tool_plan.py)
    json_mode_param: str = "response_format"  # what the client set that needs JSON mode
    prompt_tokens: int = 0  # the route's context window must hold more than this
    prompt_param: str = "messages"


NOTHING = Needs()


def _gaps(target: RouteTarget, needs: Needs) -> list[str]:
    gaps = []
    if needs.vision and not target.supports_vision:
        gaps.append("vision")
    if needs.tools and not target.supports_tools:
        gaps.append("tools")
    if needs.json_mode and not target.supports_json_mode:
        gaps.append("json_mode")
    if target.context_window is not None and needs.prompt_tokens >= target.context_window:
        gaps.append("context")
    return gaps


def _refusal(model: str, targets: tuple[RouteTarget, ...], gap: str, needs: Needs) -> GatewayError:
    if gap == "vision":
        return invalid(
            f"The model `{model}` does not accept images: send text only, or use a model with vision.",
            param="messages",
            code="model_not_vision_capable",
        )
    if gap == "tools":
        return invalid(
            f"The model `{model}` does not support tool calling; use a model that does "
            "(see /v1/models) or send tool_choice 'none'.",
            param="tools",
            code="tools_not_supported",
        )
    if gap == "json_mode":
        what = "structured output" if needs.json_mode_param == "response_format" else "a forced tool call"
        return invalid(
            f"The model `{model}` has no JSON mode, which {what} needs on this gateway.",
            param=needs.json_mode_param,
            code="json_mode_not_supported",
        )
    largest = max(target.context_window or 0 for target in targets)  # the window it would need to fit
    return context_exceeded(largest, needs.prompt_tokens, needs.prompt_param)


_NAMES = {"vision": "vision", "tools": "tool calling", "json_mode": "JSON mode", "context": "a large enough context"}


def capable(model: str, targets: tuple[RouteTarget, ...], needs: Needs) -> tuple[RouteTarget, ...]:
    """The targets with every capability `needs` names, in their order; a 400 when there is none."""
    if needs == NOTHING:
        return targets
    gaps = [_gaps(target, needs) for target in targets]
    able = tuple(target for target, missing in zip(targets, gaps, strict=True) if not missing)
    if able:
        return able
    nowhere = [gap for gap in dict.fromkeys(g for missing in gaps for g in missing) if all(gap in m for m in gaps)]
    if nowhere:  # no route of the name has it at all: say that one
        raise _refusal(model, targets, nowhere[0], needs)
    # Each exists on some route, never all on one (gpt-4o: vision or JSON mode; a small window).
    closest = min(range(len(targets)), key=lambda index: len(gaps[index]))
    error = _refusal(model, targets, gaps[closest][0], needs)
    asked = {"vision": needs.vision, "tools": needs.tools, "json_mode": needs.json_mode, "context": True}
    listed = " and ".join(_NAMES[gap] for gap, wanted in asked.items() if wanted and any(gap in g for g in gaps))
    error.message = (
        f"No route of the model `{model}` offers {listed} together; "
        "drop one of them from the request, or use another model."
    )
    raise error
