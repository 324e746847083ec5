"""The playground in a real headless Chromium against the live gateway, the emulator upstream.

Sign in through the admin form, mint a playground key, stream a chat answer (watched growing in
the DOM, so streaming is real, not one late paint), compare two texts' embeddings, and generate
an image on a real Celery worker. Screenshots at 1400 and 800 px go to tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from django.contrib.auth import get_user_model

from gateway.testing.response_audit import take_offences, wait_until_idle

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME, PASSWORD = "pg-operator", "a-known-password-7"
MESSAGE = "hello from the playground test"
ANSWER = "Hello! You said: " + MESSAGE  # the emulator's reply rule (gateway/testing/emulator/replies.py)

# Installed from the test: records the answer's length at every DOM change of the chat log.
WATCH_THE_ANSWER = """() => {
  window.__pgLengths = [];
  const log = document.getElementById("pg-chat-log");
  new MutationObserver(() => {
    const answers = log.querySelectorAll(".pg-assistant .pg-content");
    if (!answers.length) return;
    const length = answers[answers.length - 1].textContent.length;
    const seen = window.__pgLengths;
    if (seen[seen.length - 1] !== length) seen.push(length);
  }).observe(log, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(autouse=True)
def playground_html_allowed() -> Iterator[None]:
    """The playground page is HTML by design; any other offence still fails the test."""
    yield
    wait_until_idle()
    offences = [o for o in take_offences() if o != "an HTML body for GET /playground/"]
    assert not offences, f"the gateway served: {offences}"


def test_an_operator_plays_with_chat_embeddings_and_images(live_server, routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    routes.set_latency(per_chunk=0.08)  # tokens arrive apart, as from a real model
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # Playwright's sync API runs an event loop in its thread, where Django refuses database work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        shots = pool.submit(play, live_server.url).result(timeout=110)
    for shot in shots:
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")


def play(base_url: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in(page, base_url)
            mint_a_key(page)
            chat_with_streaming(page)
            shots = screenshots(page, "chat")
            compare_embeddings(page)
            generate_an_image(page)
            shots += screenshots(page, "images")
            assert not errors, errors
            return shots
        finally:
            browser.close()


def log_in(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/playground/")
    page.wait_for_url("**/admin/login/?next=/playground/")  # not signed in: the admin's login first
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/playground/")
    assert page.locator('[role="tab"]').count() == 6


def mint_a_key(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#pg-key-mint")
    page.wait_for_selector("#pg-key-status.pg-ok")
    assert "Using playground key sk-gw-" in page.inner_text("#pg-key-status")
    # The key lives in the page's memory only: not in a cookie, not in web storage.
    cookies = " ".join(cookie["value"] for cookie in page.context.cookies())
    assert "sk-gw-" not in cookies
    stored = page.evaluate(
        "() => [localStorage, sessionStorage].flatMap((s) => Object.keys(s).map((k) => k + '=' + s.getItem(k)))"
    )
    assert not [item for item in stored if "sk-gw-" in item], stored  # the admin keeps only its theme
    options = page.locator("#pg-chat-model option").all_inner_texts()
    assert {"gpt-3.5-turbo", "text-embedding-3-small", "dall-e-2"} <= set(options)


def chat_with_streaming(page) -> None:  # type: ignore[no-untyped-def]
    page.select_option("#pg-chat-model", "gpt-3.5-turbo")
    assert page.is_checked("#pg-chat-stream")
    page.evaluate(WATCH_THE_ANSWER)
    page.fill("#pg-chat-input", MESSAGE)
    page.click("#pg-chat-send")
    answer = page.locator("#pg-chat-log .pg-assistant .pg-content").last
    page.wait_for_function(
        "([text]) => { const a = document.querySelectorAll('#pg-chat-log .pg-assistant .pg-content');"
        " return a.length && a[a.length - 1].textContent === text; }",
        arg=[ANSWER],
        timeout=20_000,
    )
    assert answer.text_content() == ANSWER
    lengths = page.evaluate("() => window.__pgLengths")
    grown = [length for length in lengths if length]
    # One DOM update per token: the answer was seen at several lengths, each longer, before the end.
    assert len(grown) >= 3, lengths
    assert grown == sorted(grown) and grown[-1] == len(ANSWER), lengths
    page.wait_for_selector("#pg-chat-send:not([disabled])")
    meta = page.inner_text("#pg-chat-log .pg-assistant .pg-meta")
    assert "finish_reason: stop" in meta and "completion tokens" in meta, meta
    assert page.locator("#pg-chat-error").is_hidden()


def compare_embeddings(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#pg-tab-embeddings")
    page.click("#pg-emb-run")
    page.wait_for_selector("#pg-emb-result[data-similarity]", timeout=20_000)
    similarity = float(page.get_attribute("#pg-emb-result", "data-similarity") or "nan")
    assert -1.0 <= similarity <= 1.0
    shown = page.inner_text("#pg-emb-result")
    assert shown == f"{similarity:.4f}", shown
    assert "dimensions" in page.inner_text("#pg-emb-meta")


def generate_an_image(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#pg-tab-images")
    page.select_option("#pg-img-model", "dall-e-2")
    page.select_option("#pg-img-size", "256x256")
    page.click("#pg-img-run")
    page.wait_for_function(
        "() => { const img = document.getElementById('pg-img-output');"
        " return img.complete && img.naturalWidth > 0 && !document.getElementById('pg-img-figure').hidden; }",
        timeout=60_000,
    )
    assert page.evaluate("() => document.getElementById('pg-img-output').naturalWidth") == 256
    assert "/v1/images/get/" in (page.get_attribute("#pg-img-output", "src") or "")
    assert page.locator("#pg-img-error").is_hidden()


def screenshots(page, name: str) -> list[Path]:  # type: ignore[no-untyped-def]
    taken = []
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 1000})
        path = ARTIFACTS / f"playground-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return taken


def test_tool_calls_speech_rag_and_errors_are_shown(live_server, routes) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(play_the_other_tabs, live_server.url).result(timeout=110)


def play_the_other_tabs(base_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in(page, base_url)
            mint_a_key(page)

            # A tool offered: the streamed call is assembled from its deltas and shown.
            page.select_option("#pg-chat-model", "gpt-3.5-turbo")
            page.check("#pg-chat-tool")
            page.fill("#pg-chat-input", "[[tool]] weather in Paris?")
            page.click("#pg-chat-send")
            page.wait_for_function(
                "() => document.querySelector('#pg-chat-log .pg-assistant .pg-meta').textContent.includes('ms')"
            )
            tools = page.inner_text("#pg-chat-log .pg-assistant .pg-tools")
            assert "get_weather(" in tools and "call_" in tools, tools
            assert "finish_reason: tool_calls" in page.inner_text("#pg-chat-log .pg-assistant .pg-meta")

            # An error envelope is shown readably, and markup in it stays text.
            page.click("#pg-chat-reset")
            page.select_option("#pg-chat-model", "dall-e-2")
            page.fill("#pg-chat-input", "<b>not bold</b>")
            page.click("#pg-chat-send")
            page.wait_for_selector("#pg-chat-error:not([hidden])")
            shown = page.inner_text("#pg-chat-error")
            assert shown.startswith("HTTP 4") and ":" in shown, shown
            assert page.locator("#pg-chat-log b").count() == 0
            assert page.inner_text("#pg-chat-log .pg-user .pg-content") == "<b>not bold</b>"

            # Speech: the answer's bytes behind a Blob URL in an <audio>.
            page.click("#pg-tab-speech")
            page.click("#pg-tts-run")
            page.wait_for_function("() => document.getElementById('pg-tts-audio').src.startsWith('blob:')")
            assert "bytes of audio/mpeg" in page.inner_text("#pg-tts-status")

            # RAG: add a document to the key owner's namespace, then find it.
            page.click("#pg-tab-rag")
            page.click(".pg-add summary")
            page.fill("#pg-rag-docid", "playground-doc")
            page.fill("#pg-rag-text", "The lighthouse keeper feeds the gulls every morning.")
            page.click("#pg-rag-add")
            page.wait_for_function("() => document.getElementById('pg-rag-add-status').textContent.includes('chunks')")
            page.fill("#pg-rag-threshold", "0")
            page.fill("#pg-rag-query", "The lighthouse keeper feeds the gulls every morning.")
            page.click("#pg-rag-run")
            page.wait_for_selector("#pg-rag-results li")
            assert "playground-doc" in page.inner_text("#pg-rag-results")
            assert not errors, errors
        finally:
            browser.close()
