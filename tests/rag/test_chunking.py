"""rag/chunking.py: the cut preferences, odd input, and properties over random text."""

from __future__ import annotations

import random
import time

import pytest

from rag.chunking import chunk_spans, chunk_text


def check_properties(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """What the module docstring promises, for any input."""
    spans = chunk_spans(text, size, overlap)
    assert chunk_text(text, size, overlap) == [text[start:end] for start, end in spans]
    covered = bytearray(len(text))
    for position, (start, end) in enumerate(spans):
        piece = text[start:end]
        assert 0 < end - start <= size
        assert piece == piece.strip() and piece
        covered[start:end] = b"\x01" * (end - start)
        if position:
            previous_start, previous_end = spans[position - 1]
            assert start > previous_start and end > previous_end
            assert previous_end - start <= overlap  # consecutive pieces share at most `overlap`
    uncovered = [index for index, flag in enumerate(covered) if not flag and not text[index].isspace()]
    assert uncovered == []
    return spans


def test_text_shorter_than_size_is_one_trimmed_chunk() -> None:
    assert chunk_text("  Hello, world.\n", 1000, 200) == ["Hello, world."]


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \r\n", "\u3000\xa0\u2003", " \n" * 100_000])
def test_whitespace_only_gives_no_chunks(text: str) -> None:
    assert chunk_text(text) == []


def test_a_paragraph_break_is_preferred_to_a_line_a_sentence_or_a_space() -> None:
    first = "First paragraph, a sentence. Another one\nwith a line break and more"
    text = first + "\n\nSecond paragraph. " + "word " * 30
    chunks = chunk_text(text, size=100, overlap=10)
    assert chunks[0] == first


def test_a_line_break_is_preferred_to_a_sentence_end() -> None:
    text = "Opening words here. A sentence ends here. The line ends\nthen more words follow " + "x " * 40
    assert chunk_text(text, size=80, overlap=10)[0] == "Opening words here. A sentence ends here. The line ends"


def test_a_sentence_end_is_preferred_to_a_space() -> None:
    text = "Words without a break for a while. Then a sentence ends! And words go on and on " + "y " * 40
    assert chunk_text(text, size=80, overlap=10)[0] == "Words without a break for a while. Then a sentence ends!"


def test_a_space_when_there_is_no_sentence_end() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma"
    chunks = chunk_text(text, size=40, overlap=8)
    assert chunks[0] == "alpha beta gamma delta epsilon zeta eta"
    spans = check_properties(text, 40, 8)
    assert [text[start - 1] for start, _ in spans[1:]] == [" "] * (len(spans) - 1)  # each starts a word


def test_cjk_sentence_ends_are_cut_points() -> None:
    text = "今日は良い天気です。" * 20
    chunks = chunk_text(text, size=25, overlap=5)
    assert all(chunk.endswith("。") for chunk in chunks)
    check_properties(text, 25, 5)


def test_one_giant_word_is_cut_hard_with_the_exact_overlap() -> None:
    text = "".join(random.Random(1).choice("abcdefghij") for _ in range(5000))
    spans = check_properties(text, 1000, 200)
    assert spans == [(0, 1000), (800, 1800), (1600, 2600), (2400, 3400), (3200, 4200), (4000, 5000)]


def test_five_megabytes_on_one_line_is_linear() -> None:
    line = ("lorem ipsum dolor sit amet, consectetur adipiscing elit " * 100_000)[:5_000_000]
    started = time.perf_counter()
    chunks = chunk_text(line)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed  # about 0.1 s on the 2-core machine; quadratic would be hours
    assert 6000 <= len(chunks) <= 7000  # 5 MB advanced by about size - overlap = 800 at a time
    assert max(map(len, chunks)) <= 1000
    unbroken = "z" * 5_000_000
    assert len(chunk_text(unbroken)) == 6250


@pytest.mark.parametrize(("size", "overlap"), [(100, 100), (100, 250), (0, 0), (10, -1)])
def test_overlap_not_below_size_is_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("some text", size=size, overlap=overlap)


def test_the_largest_overlap_still_advances() -> None:
    text = "one two three four five six seven eight nine ten " * 20
    spans = check_properties(text, 30, 29)
    assert len(spans) < len(text)


def test_unicode_is_cut_by_code_point() -> None:
    text = "naïve café 🙂🚀 " * 50 + "e\u0301" * 300 + " 日本語のテキスト" * 30
    for size, overlap in ((50, 10), (7, 3), (1, 0)):
        check_properties(text, size, overlap)


def random_prose(rng: random.Random, length: int) -> str:
    parts: list[str] = []
    total = 0
    while total < length:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzé漢") for _ in range(rng.randint(1, 10)))
        separator = rng.choices([" ", ". ", "\n", "\n\n", "! ", "\t"], weights=[70, 10, 5, 3, 2, 1])[0]
        parts.append(word + separator)
        total += len(word) + len(separator)
    return "".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_properties_on_random_prose(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(20, 1200)
    overlap = rng.randint(0, size - 1)
    text = random_prose(rng, rng.randint(0, 20_000))
    spans = check_properties(text, size, overlap)
    for (_, previous_end), (start, _) in zip(spans, spans[1:], strict=False):
        # "about overlap": the next piece starts at most a word and its whitespace later.
        assert previous_end - start >= overlap - 14, (previous_end, start, overlap)


@pytest.mark.parametrize("seed", range(20))
def test_properties_on_random_characters(seed: int) -> None:
    rng = random.Random(1000 + seed)
    alphabet = "ab .!?\n\t\u3000。😀\u0301"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5000)))
    size = rng.randint(1, 300)
    check_properties(text, size, rng.randint(0, size - 1))
