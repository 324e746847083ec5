"""`stop` emulated by truncation: Workers AI's text generation input has no stop parameter
(https://developers.cloudflare.com/workers-ai/models/llama-3.1-8b-instruct-fp8/, Input)."""

from __future__ import annotations


def truncate_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the earliest stop sequence, and whether one was found."""
    cut = min((index for index in (text.find(stop) for stop in stops) if index >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class StopScanner:
    """Streaming truncation: holds back only a tail that could still begin a stop sequence."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if not self.stops or self.stopped:
            return "" if self.stopped else text
        self.buffer += text
        head, found = truncate_at_stop(self.buffer, self.stops)
        if found:
            self.stopped = True
            self.buffer = ""
            return head
        keep = self._partial_tail()
        emit, self.buffer = self.buffer[: len(self.buffer) - keep], self.buffer[len(self.buffer) - keep :]
        return emit

    def finish(self) -> str:
        rest, self.buffer = self.buffer, ""
        return "" if self.stopped else rest

    def _partial_tail(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of some stop sequence."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.buffer)), longest, -1):
                if self.buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
