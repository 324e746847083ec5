from __future__ import annotations

import pytest

from gateway.providers.reasoning import ThinkSplitter, split_reasoning


def _stream(pieces: list[str], starts_in_reasoning: bool) -> tuple[str, str]:
    splitter = ThinkSplitter(starts_in_reasoning)
    reasoning, content = "", ""
    for piece in pieces:
        r, c = splitter.feed(piece)
        reasoning, content = reasoning + r, content + c
    r, c = splitter.finish()
    return reasoning + r, content + c


def _every_two_way_split(text: str) -> list[list[str]]:
    return [[text[:i], text[i:]] for i in range(len(text) + 1)]


# (text, starts_in_reasoning, expected reasoning, expected content)
CASES = [
    ("<think>\nLet me see.\n</think>\n\nHello!", False, "Let me see.", "Hello!"),
    ("  <think>plan</think>answer", False, "plan", "answer"),
    ("<think>\nLet me see.\n</think>\n\nHello!", True, "Let me see.", "Hello!"),
    ("Let me see.\n</think>\n\nHello!", True, "Let me see.", "Hello!"),
    ("</think>Hello!", True, "", "Hello!"),
    ("Hello <think> is a tag</think> here", False, "", "Hello <think> is a tag</think> here"),
    ("<think>a</think>b</think>c", False, "a", "b</think>c"),
    ("a < b and c <th d", False, "", "a < b and c <th d"),
    ("<think>x < y </th z</think>ok", False, "x < y </th z", "ok"),
    ("\n\nplain answer\n", False, "", "\n\nplain answer\n"),
]


@pytest.mark.parametrize(("text", "starts", "reasoning", "content"), CASES)
def test_split_reasoning_splits_whole_texts(text: str, starts: bool, reasoning: str, content: str) -> None:
    assert split_reasoning(text, starts) == (reasoning, content)


@pytest.mark.parametrize(("text", "starts", "reasoning", "content"), CASES)
def test_it_gives_the_same_split_when_fed_in_two_pieces_cut_anywhere(
    text: str, starts: bool, reasoning: str, content: str
) -> None:
    for pieces in _every_two_way_split(text):
        assert _stream(pieces, starts) == (reasoning, content), pieces


@pytest.mark.parametrize(("text", "starts", "reasoning", "content"), CASES)
def test_it_gives_the_same_split_when_fed_one_character_at_a_time(
    text: str, starts: bool, reasoning: str, content: str
) -> None:
    assert _stream(list(text), starts) == (reasoning, content)


def test_it_passes_ordinary_text_through_at_once() -> None:
    splitter = ThinkSplitter(starts_in_reasoning=False)
    assert splitter.feed("Hello") == ("", "Hello")
    assert splitter.feed(" <think> world") == ("", " <think> world")
    assert splitter.finish() == ("", "")


def test_it_holds_back_only_a_possible_opening_tag() -> None:
    splitter = ThinkSplitter(starts_in_reasoning=False)
    assert splitter.feed("<thi") == ("", "")
    assert splitter.feed("s is not a tag") == ("", "<this is not a tag")


def test_it_releases_a_held_partial_tag_when_the_text_ends() -> None:
    splitter = ThinkSplitter(starts_in_reasoning=False)
    assert splitter.feed("\n<th") == ("", "")
    assert splitter.finish() == ("", "\n<th")


def test_it_streams_reasoning_and_holds_back_a_possible_closing_tag() -> None:
    splitter = ThinkSplitter(starts_in_reasoning=True)
    assert splitter.feed("Thinking hard") == ("Thinking hard", "")
    assert splitter.feed(" now\n</thi") == (" now", "")
    assert splitter.feed("nk>\n\n") == ("", "")
    assert splitter.feed("Answer") == ("", "Answer")
    assert splitter.feed(" </think> stays") == ("", " </think> stays")


def test_a_flagged_stream_without_closing_tag_stays_reasoning() -> None:
    # A stream cannot know that </think> will never come; a whole text can (next test).
    assert _stream(["Just an answer."], starts_in_reasoning=True) == ("Just an answer.", "")


def test_a_flagged_whole_text_without_closing_tag_is_content() -> None:
    assert split_reasoning("Just an answer.", starts_in_reasoning=True) == ("", "Just an answer.")


def test_an_opened_block_cut_short_is_reasoning_in_whole_texts_too() -> None:
    # E.g. max_tokens ran out while thinking: the opening tag shows the model was reasoning.
    assert split_reasoning("<think>step one, step", True) == ("step one, step", "")
    assert split_reasoning("<think>step one, step", False) == ("step one, step", "")


def test_empty_text_splits_into_nothing() -> None:
    assert split_reasoning("", True) == ("", "")
    assert _stream([""], False) == ("", "")
