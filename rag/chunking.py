"""Splitting a document's text into overlapping chunks for embedding.

`chunk_text(text, size, overlap)` returns pieces of at most `size` characters (Unicode code points).
Each piece ends at the best cut within its window, in this order of preference:

1. after the last paragraph break (a blank line), else after the last line break;
2. after the last sentence end (`.`, `!` or `?` before whitespace, or `。！？`);
3. at the last whitespace;
4. hard, at `size` characters (a word longer than that is split).

A cut is only taken in the second half of the new text a piece brings (past `overlap` plus half of
`size - overlap`), so every piece advances by at least `(size - overlap) / 2` characters and a
break near the start of a window cannot produce a run of tiny pieces.

The next piece starts `overlap` characters before the previous piece's end, moved forward to the
start of the next word when that point falls inside a word (unless the word runs to the end of
the previous piece). Leading and trailing whitespace is trimmed from every piece, and a piece that
would add nothing but whitespace is dropped, so consecutive pieces share at most `overlap`
characters and, in prose, a word or so fewer. Together the pieces cover every non-whitespace
character of the text, in order.

`overlap` must be smaller than `size` (ValueError otherwise: a clamp would hide a caller's
mistake). Each step scans one window of `size` characters and advances by at least half of
`size - overlap`, so the work is linear in the length of the text for given parameters.
"""

from __future__ import annotations

import re
from collections import deque

_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s)|[\u3002\uff01\uff1f]")
_WHITESPACE = re.compile(r"\s")
_NON_WHITESPACE = re.compile(r"\S")


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[str]:
    return [text[start:end] for start, end in chunk_spans(text, size, overlap)]


def chunk_spans(text: str, size: int = 1000, overlap: int = 200) -> list[tuple[int, int]]:
    """The (start, end) offsets of chunk_text's pieces in `text`."""
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    if overlap < 0 or overlap >= size:
        raise ValueError(f"overlap must be at least 0 and less than size ({size}), not {overlap}")
    spans: list[tuple[int, int]] = []
    length = len(text)
    start = _skip_whitespace(text, 0, length)
    while start < length:
        limit = start + size
        if limit >= length:
            cut = length
        else:
            cut = _best_cut(text, start + overlap + max(1, (size - overlap) // 2), limit)
        end = _trim_end(text, start, cut)
        if end > (spans[-1][1] if spans else start):  # else it adds only whitespace to the last piece
            spans.append((start, end))
        if cut >= length:
            break
        start = _skip_whitespace(text, _next_start(text, cut - overlap, cut), length)
    return spans


def _best_cut(text: str, lowest: int, limit: int) -> int:
    """Where to end a piece that may not go past `limit`: a position in (lowest, limit]."""
    for separator in ("\n\n", "\n"):
        found = text.rfind(separator, lowest, limit)
        if found >= 0:
            return found + len(separator)
    sentence = _last_match(_SENTENCE_END, text, lowest, limit)
    if sentence is not None:
        return sentence
    space = text.rfind(" ", lowest, limit)  # the usual whitespace first; then any other after it
    other = _last_match(_WHITESPACE, text, max(lowest, space + 1), limit)
    if other is not None:
        return other
    if space >= 0:
        return space + 1
    return limit


def _last_match(pattern: re.Pattern[str], text: str, lowest: int, limit: int) -> int | None:
    """The end of the last match of `pattern` within text[lowest:limit]."""
    last = deque(pattern.finditer(text, lowest, limit), maxlen=1)
    return last[0].end() if last else None


def _next_start(text: str, start: int, cut: int) -> int:
    """`start`, or the start of the next word when `start` is inside a word that ends before `cut`."""
    if start == 0 or text[start - 1].isspace() or text[start].isspace():
        return start
    match = _WHITESPACE.search(text, start, cut)
    return match.start() if match else start


def _skip_whitespace(text: str, position: int, length: int) -> int:
    found = _NON_WHITESPACE.search(text, position)
    return found.start() if found else length


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end
