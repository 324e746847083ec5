"""Split model text into reasoning and content at `<think>…</think>`.

Some Workers AI models think aloud inside `<think>…</think>` in the same text as their answer
(https://developers.cloudflare.com/workers-ai/models/); OpenAI clients expect the thinking apart, as
`reasoning_content`, and the answer alone as `content`.

The rule:
- A route flagged as a reasoning model (`starts_in_reasoning=True`) starts inside the reasoning
  block: its chat template already emitted `<think>`, so the model (deepseek-r1-distill, say)
  never sends it. Its text is reasoning until `</think>`; an opening `<think>` at the very start
  (after leading whitespace) is swallowed, for models that send it anyway.
- Any other text is content, except that output which starts (after leading whitespace) with
  `<think>` is reasoning until `</think>`. A `<think>` later in the text is plain content.
- Whitespace just inside the tags, and the whitespace and newlines right after `</think>`, are
  layout, not text: they are dropped. After `</think>` everything is content, tags included.

Streaming never delays content of a non-reasoning model: `ThinkSplitter` holds back only
characters that may still turn out to be a tag (leading whitespace, a trailing "<thi", inside
reasoning a trailing "</th" and the whitespace before it), and only while that is possible.

Streamed and whole texts differ in one case. For a whole text from a reasoning-flagged route,
`split_reasoning` treats a text without any `</think>` as content: the model did not reason this
time. A stream cannot know in advance whether `</think>` will come, so `ThinkSplitter` must call
such a text reasoning as it goes.
"""

from __future__ import annotations

from enum import Enum

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


class _State(Enum):
    BEFORE_OPEN = "before_open"  # at the start: is the output an opening tag?
    REASONING_START = "reasoning_start"  # inside the block, before its first visible character
    REASONING = "reasoning"
    AFTER_CLOSE = "after_close"  # just after </think>: dropping layout whitespace
    CONTENT = "content"


class ThinkSplitter:
    """Streaming splitter: feed text pieces, get (reasoning, content) pieces back."""

    def __init__(self, starts_in_reasoning: bool = False) -> None:
        self._starts_in_reasoning = starts_in_reasoning
        self._state = _State.BEFORE_OPEN
        self._held = ""

    def feed(self, text: str) -> tuple[str, str]:
        """Return the (reasoning, content) that `text` settles; hold back a possible tag start."""
        if self._state is _State.CONTENT and not self._held:
            return "", text  # the hot path for ordinary models: no scanning at all
        buf = self._held + text
        self._held = ""
        reasoning: list[str] = []
        content: list[str] = []
        while buf:
            if self._state is _State.BEFORE_OPEN:
                stripped = buf.lstrip()
                if stripped.startswith(OPEN_TAG):
                    buf = stripped[len(OPEN_TAG) :]
                    self._state = _State.REASONING_START
                elif OPEN_TAG.startswith(stripped):  # only whitespace, or a partial "<thi"
                    self._held = buf
                    break
                else:
                    self._state = _State.REASONING_START if self._starts_in_reasoning else _State.CONTENT
            elif self._state is _State.REASONING_START:
                buf = buf.lstrip()
                if buf:
                    self._state = _State.REASONING
            elif self._state is _State.REASONING:
                end = buf.find(CLOSE_TAG)
                if end >= 0:
                    reasoning.append(buf[:end].rstrip())
                    buf = buf[end + len(CLOSE_TAG) :]
                    self._state = _State.AFTER_CLOSE
                else:
                    settled = _settled_reasoning_length(buf)
                    reasoning.append(buf[:settled])
                    self._held = buf[settled:]
                    break
            elif self._state is _State.AFTER_CLOSE:
                buf = buf.lstrip()
                if buf:
                    self._state = _State.CONTENT
            else:
                content.append(buf)
                break
        return "".join(reasoning), "".join(content)

    def finish(self) -> tuple[str, str]:
        """The text ended: release what was held back as what it turned out to be."""
        held, self._held = self._held, ""
        if self._state is _State.BEFORE_OPEN:
            if self._starts_in_reasoning:
                return held.strip(), ""
            return "", held
        if self._state is _State.REASONING:
            return held.rstrip(), ""  # a partial "</th" is text; trailing whitespace is layout
        return "", ""


def _settled_reasoning_length(buf: str) -> int:
    """How much of a reasoning buffer without `</think>` can go out now.

    Held back: a suffix that may be the start of `</think>`, and the whitespace before it,
    which is dropped if the tag does follow.
    """
    partial = 0
    for size in range(min(len(buf), len(CLOSE_TAG) - 1), 0, -1):
        if buf.endswith(CLOSE_TAG[:size]):
            partial = size
            break
    return len(buf[: len(buf) - partial].rstrip())


def split_reasoning(text: str, starts_in_reasoning: bool = False) -> tuple[str, str]:
    """Split a whole text into (reasoning, content); see the module docstring for the rule."""
    if starts_in_reasoning and CLOSE_TAG not in text:
        # Whole text, so we know the block never closed: the model answered without reasoning.
        # (An explicit opening <think> still marks reasoning, cut short: the default rule.)
        starts_in_reasoning = False
    splitter = ThinkSplitter(starts_in_reasoning)
    reasoning, content = splitter.feed(text)
    reasoning_tail, content_tail = splitter.finish()
    return reasoning + reasoning_tail, content + content_tail
