"""A new operator's first minutes, in headless Chromium against the live gateway: sign in, add a key
with two allowed models and a per-model limit (no JSON typed anywhere), read its plaintext once,
and stream a chat answer with it in the playground. Screenshots at 1400 and 800 px go to
tests/artifacts/.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from django.contrib.auth import get_user_model
from test_playground_browser import WATCH_THE_ANSWER

from gateway.access.auth import resolve_key
from gateway.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME, PASSWORD = "first-operator", "a-known-password-3"
MESSAGE = "hello from a brand-new key"
ANSWER = "Hello! You said: " + MESSAGE  # the emulator's reply rule (gateway/testing/emulator/replies.py)
_KEY = re.compile(r"sk-gw-[A-Za-z0-9_\-]+")


def test_an_operator_adds_a_key_in_the_admin_and_streams_a_chat_with_it(live_server, routes) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    routes.set_latency(per_chunk=0.05)  # tokens arrive one by one, so the page can be seen growing

    # Playwright's sync API runs an event loop in its thread, where Django refuses database work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(journey, live_server.url).result(timeout=180)

    key = ApiKey.objects.get(name="journey")
    assert sorted(key.allowed_models) == ["gpt-3.5-turbo", "gpt-4"]
    assert key.model_limits == {"gpt-4": {"rpm": 20, "tpm": 5000}}
    assert key.owner.username == USERNAME  # prefilled with the signed-in operator
    assert resolve_key(seen["plaintext"]).key_id == key.pk  # the plaintext shown is the key's
    assert seen["plaintext_again"] is False  # shown once: not on the key's page afterwards
    lengths = [length for length in seen["lengths"] if length]
    assert len(lengths) >= 3 and lengths == sorted(lengths) and lengths[-1] == len(ANSWER), lengths
    assert seen["answer"] == ANSWER
    for shot in seen["screenshots"]:
        assert shot.stat().st_size > 10_000, shot
        print(f"screenshot: {shot}")
    sent = [request for request in routes.requests if request.model]
    assert sent[-1].model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast"  # gpt-4's route


def journey(base_url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base_url}/admin/login/")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base_url}/admin/")
            plaintext, plaintext_again, admin_shots = add_a_key(page, base_url)
            answer, lengths, playground_shots = stream_a_chat(page, base_url, plaintext)
            return {
                "plaintext": plaintext,
                "plaintext_again": plaintext_again,
                "answer": answer,
                "lengths": lengths,
                "screenshots": admin_shots + playground_shots,
            }
        finally:
            browser.close()


def add_a_key(page: Any, base_url: str) -> tuple[str, bool, list[Path]]:
    page.goto(f"{base_url}/admin/gateway/apikey/add/")
    page.fill("#id_name", "journey")
    for name in ("gpt-4", "gpt-3.5-turbo"):  # the chooser's search, then move the match across
        page.fill("#id_allowed_models_input", "")
        page.locator("#id_allowed_models_input").press_sequentially(name)
        page.select_option("#id_allowed_models_from", name)
        page.click("#id_allowed_models_add")
    page.select_option("select[name=model_limits-0-model]", "gpt-4")
    page.fill("input[name=model_limits-0-rpm]", "20")
    page.fill("input[name=model_limits-0-tpm]", "5000")
    assert page.locator("textarea").count() == 0  # nothing on the form asks for JSON
    page.click("input[name=_save]")
    message = page.input_value("#issued-key")  # the page answering the save shows it, once
    found = _KEY.search(message)
    assert found, message
    shots = screenshots(page, "admin-key-saved")
    page.click("text=All keys")
    page.click("text=journey")
    again = found.group(0) in page.content()  # the prefix is shown there; the whole key must not be
    return found.group(0), again, shots


def stream_a_chat(page: Any, base_url: str, plaintext: str) -> tuple[str, list[int], list[Path]]:
    page.goto(f"{base_url}/playground/")
    page.fill("#pg-key-input", plaintext)
    page.click("#pg-key-use")
    page.wait_for_selector("#pg-key-status.pg-ok")
    options = page.locator("#pg-chat-model option").all_inner_texts()
    assert sorted(options) == ["gpt-3.5-turbo", "gpt-4"], options  # the key's two models, no others
    page.select_option("#pg-chat-model", "gpt-4")
    page.evaluate(WATCH_THE_ANSWER)
    page.fill("#pg-chat-input", MESSAGE)
    page.click("#pg-chat-send")
    page.wait_for_function(
        "([text]) => { const a = document.querySelectorAll('#pg-chat-log .pg-assistant .pg-content');"
        " return a.length && a[a.length - 1].textContent === text; }",
        arg=[ANSWER],
        timeout=30_000,
    )
    answer = page.locator("#pg-chat-log .pg-assistant .pg-content").last.text_content()
    return answer, page.evaluate("() => window.__pgLengths"), screenshots(page, "playground-journey")


def screenshots(page: Any, name: str) -> list[Path]:
    taken = []
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 1000})
        path = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return taken
