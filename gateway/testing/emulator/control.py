"""The HTTP twin of the emulator's Python control API (under /__emulator/), for an emulator run
as a separate process: GET requests and streams; POST reset, error, fault, latency, speech and
openai_stream_usage with the Python method's arguments as a JSON object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import WorkersAIEmulator


def control(emulator: WorkersAIEmulator, command: str, name: str, data: Any) -> tuple[int, Any]:
    """The status and JSON answer to one control request (`name`: the path after /__emulator/)."""
    data = data or {}
    try:
        if name == "requests" and command == "GET":
            return 200, [r.to_dict() for r in emulator.requests]
        if name == "streams" and command == "GET":
            return 200, {"open": emulator.open_streams, "cut": emulator.cut_streams}
        if command != "POST" or not isinstance(data, dict):
            raise ValueError(f"unknown control request {command} {name}")
        if name == "reset":
            emulator.reset()
        elif name == "error":
            emulator.inject_error(
                status=int(data["status"]),
                code=int(data["code"]),
                message=str(data["message"]),
                model=data.get("model"),
                times=int(data.get("times", 1)),
                retry_after=None if data.get("retry_after") is None else int(data["retry_after"]),
            )
        elif name == "fault":
            emulator.inject_fault(
                kind=str(data["kind"]),
                model=data.get("model"),
                times=int(data.get("times", 1)),
                after_events=int(data.get("after_events", 1)),
            )
        elif name == "latency":
            emulator.set_latency(
                first_byte=float(data.get("first_byte", 0.0)), per_chunk=float(data.get("per_chunk", 0.0))
            )
        elif name == "speech":
            emulator.set_speech_container(str(data["container"]))
        elif name == "openai_stream_usage":
            emulator.set_openai_stream_usage(bool(data.get("enabled", True)))
        else:
            raise ValueError(f"unknown control request {command} {name}")
    except (KeyError, TypeError, ValueError) as exc:
        return 400, {"ok": False, "error": str(exc)}
    return 200, {"ok": True}
