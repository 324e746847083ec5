"""The API key's admin form and the lists: choices instead of JSON, stored as the JSON always was."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import CHROMIUM, CHROMIUM_ARGS
from conftest import error_of, make_key, usage_records
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gateway.models import ApiKey, ModelRoute, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

PLAINTEXT = re.compile(r"sk-gw-[A-Za-z0-9_-]{20,}")
ADD = "/admin/gateway/apikey/add/"


def key_form(owner: int, **changes: Any) -> dict[str, Any]:
    """The add form as a browser posts it: no JSON anywhere."""
    fields = {
        "name": "from-admin",
        "owner": owner,
        "rpm_limit": "",
        "tpm_limit": "",
        "model_limits-rows": "2",
        "model_limits-0-model": "",
        "model_limits-0-rpm": "",
        "model_limits-0-tpm": "",
        "model_limits-1-model": "",
        "model_limits-1-rpm": "",
        "model_limits-1-tpm": "",
        "quota_tokens": "",
        "quota_usd": "",
        "quota_period": "month",
        "expires_at_0": "",
        "expires_at_1": "",
        "revoked_at_0": "",
        "revoked_at_1": "",
    }
    return {**fields, **changes}


def chat(gateway_url: str, key: str, model: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16},
        headers={"Authorization": f"Bearer {key}"},
    )


def operator_id() -> int:
    return get_user_model().objects.get(username="operator").pk


def test_a_key_added_with_choices_stores_what_the_json_held_and_works(operator, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    form = key_form(
        operator_id(),
        allowed_models=["gpt-4", "gpt-4o"],
        **{"model_limits-0-model": "gpt-4", "model_limits-0-rpm": "10", "model_limits-0-tpm": "10000"},
    )
    assert not any(isinstance(value, str) and value.startswith(("[", "{")) for value in form.values())

    response = operator.post(ADD, form, follow=True)

    assert response.status_code == 200
    shown = set(PLAINTEXT.findall(response.content.decode()))
    assert len(shown) == 1, response.content.decode()[:3000]
    key = ApiKey.objects.get()
    assert key.allowed_models == ["gpt-4", "gpt-4o"]
    assert key.model_limits == {"gpt-4": {"rpm": 10, "tpm": 10000}}
    (plaintext,) = shown
    assert chat(gateway_url, plaintext, "gpt-4").status_code == 200
    assert error_of(chat(gateway_url, plaintext, "gpt-3.5-turbo"), 404)["code"] == "model_not_found"


def test_a_limit_left_blank_is_left_out(operator, routes) -> None:  # type: ignore[no-untyped-def]
    form = key_form(operator_id(), **{"model_limits-1-model": "gpt-4o", "model_limits-1-tpm": "500"})

    assert b'id="issued-key"' in operator.post(ADD, form).content  # saved: the page with the new key

    key = ApiKey.objects.get()
    assert (key.allowed_models, key.model_limits) == ([], {"gpt-4o": {"tpm": 500}})


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"model_limits-0-model": "gpt-5-imaginary", "model_limits-0-rpm": "5"}, "is not a public model name"),
        ({"model_limits-0-model": "gpt-4", "model_limits-0-rpm": "-3"}, "must be a whole number of 1 or more"),
        ({"model_limits-0-model": "gpt-4", "model_limits-0-tpm": "lots"}, "must be a whole number of 1 or more"),
        (
            {
                "model_limits-0-model": "gpt-4",
                "model_limits-0-rpm": "5",
                "model_limits-1-model": "gpt-4",
                "model_limits-1-tpm": "100",
            },
            "keep one row per model",
        ),
        ({"model_limits-0-rpm": "5"}, "choose a model"),
        ({"model_limits-0-model": "gpt-4"}, "give gpt-4 an RPM or a TPM limit"),
    ],
)
def test_bad_per_model_rows_are_form_errors(operator, routes, rows, message) -> None:  # type: ignore[no-untyped-def]
    response = operator.post(ADD, key_form(operator_id(), **rows))

    assert response.status_code == 200  # the form again, with the error on it
    page = response.content.decode()
    assert 'class="errorlist' in page and message in page
    assert not ApiKey.objects.exists()


def test_an_unknown_allowed_model_is_a_form_error(operator, routes) -> None:  # type: ignore[no-untyped-def]
    response = operator.post(ADD, key_form(operator_id(), allowed_models=["gpt-5-imaginary"]))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_add_form_offers_the_public_names_and_prefills_the_owner(operator, routes) -> None:  # type: ignore[no-untyped-def]
    get_user_model().objects.create_user("someone-else")

    page = operator.get(ADD).content.decode()

    assert re.search(rf'<option value="{operator_id()}" selected>operator</option>', page)
    names = sorted(set(ModelRoute.objects.values_list("public_name", flat=True)))
    allowed = re.search(r'<select name="allowed_models".*?</select>', page, re.S)
    assert allowed and re.findall(r'<option value="([^"]+)"', allowed.group(0)) == names
    assert "SelectFilter2.js" in page  # FilteredSelectMultiple: the searchable two-box chooser
    assert 'name="model_limits-0-model"' in page and 'name="model_limits-rows"' in page


def test_labels_and_the_budget_fieldset(operator, routes) -> None:  # type: ignore[no-untyped-def]
    assert (ApiKey._meta.verbose_name, ApiKey._meta.verbose_name_plural) == ("API key", "API keys")
    assert ModelRoute._meta.verbose_name == "model route" and UsageRecord._meta.verbose_name == "usage record"

    page = operator.get(ADD).content.decode()

    assert "Add API key" in page
    for label in ("RPM limit", "TPM limit", "Token budget", "USD budget", "Budget period", "Allowed models"):
        assert f">{label}:</label>" in page, label
    budget = re.search(r"<fieldset[^>]*>\s*<h2[^>]*>Budget</h2>.*?</fieldset>", page, re.S)
    assert budget, page[:3000]
    assert all(f'name="{field}"' in budget.group(0) for field in ("quota_tokens", "quota_usd", "quota_period"))
    assert "API keys" in operator.get("/admin/").content.decode()


def test_editing_a_key_shows_and_keeps_its_limits(operator, routes) -> None:  # type: ignore[no-untyped-def]
    make_key("held", allowed_models=["gpt-4"], model_limits={"gpt-4": {"rpm": 7, "tpm": None}})
    key = ApiKey.objects.get()
    url = f"/admin/gateway/apikey/{key.pk}/change/"

    page = operator.get(url).content.decode()
    assert re.search(r'<option value="gpt-4" selected>gpt-4</option>', page)
    assert 'name="model_limits-0-rpm" value="7"' in page

    form = key_form(
        key.owner_id,
        name="held",
        allowed_models=["gpt-4"],
        **{"model_limits-0-model": "gpt-4", "model_limits-0-rpm": "7", "model_limits-1-model": ""},
    )
    assert operator.post(url, form).status_code == 302
    key.refresh_from_db()
    assert (key.allowed_models, key.model_limits) == (["gpt-4"], {"gpt-4": {"rpm": 7}})


def test_the_keys_list_shows_todays_usage_and_budget_left(operator, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    plaintext = make_key("busy", quota_tokens=100_000, quota_usd=Decimal(1), quota_period="day")
    make_key("idle")
    busy = ApiKey.objects.get(name="busy")
    assert chat(gateway_url, plaintext, "gpt-4").status_code == 200
    assert chat(gateway_url, plaintext, "gpt-4").status_code == 200
    records = usage_records(2, api_key=busy)
    tokens = sum(record.total_tokens for record in records)
    cost = sum(record.cost_usd for record in records)
    assert tokens > 0 and cost > 0  # gpt-4's upstream has a seeded price
    UsageRecord.objects.create(  # last year's: neither today's usage nor this period's spending
        request_id="old", api_key=busy, key_prefix=busy.prefix, endpoint="chat.completions", status=200,
        total_tokens=50_000, created_at=datetime(2024, 3, 1, tzinfo=UTC),
    )  # fmt: skip

    page = operator.get("/admin/gateway/apikey/").content.decode()

    row = re.search(r"<tr>(?:(?!</tr>).)*>busy<.*?</tr>", page, re.S)
    assert row, page
    cells = dict(re.findall(r'<td class="field-(\w+)[^"]*">(.*?)</td>', row.group(0), re.S))
    assert cells["requests_today"] == "2"
    assert cells["tokens_today"] == f"{tokens:,}"
    assert cells["budget_left"] == f"{100_000 - tokens:,} tokens · ${1 - cost:,.4f} this day"
    idle = re.search(r"<tr>(?:(?!</tr>).)*>idle<.*?</tr>", page, re.S)
    assert idle and '<td class="field-budget_left">—</td>' in idle.group(0)


def test_the_keys_list_sums_in_one_query_however_many_keys(operator, routes) -> None:  # type: ignore[no-untyped-def]
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator.get("/admin/gateway/apikey/").status_code == 200
        return len(captured.captured_queries)

    make_key("one", quota_usd="5")
    one = queries()
    for name in ("two", "three", "four"):
        make_key(name, quota_tokens=10)
        UsageRecord.objects.create(
            request_id=name, api_key=ApiKey.objects.get(name=name), endpoint="chat.completions", status=200
        )
    assert queries() == one


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        ("apikey", ["Key", "Owner", "Requests today", "Tokens today", "Budget left", "Active"]),
        ("modelroute", ["Public name", "Task, provider", "Upstream model", "Priority", "Capabilities", "Enabled"]),
        (
            "usagerecord",
            ["Key prefix", "Model", "Status", "Tokens in + out", "Latency (ms)", "Cost (USD)"],
        ),
    ],
)
def test_the_lists_render_their_columns(operator, routes, model, columns) -> None:  # type: ignore[no-untyped-def]
    make_key("listed", quota_usd="1.5")
    UsageRecord.objects.create(
        request_id="r1", api_key=ApiKey.objects.get(), endpoint="chat.completions", status=200, streamed=True
    )

    response = operator.get(f"/admin/gateway/{model}/")

    assert response.status_code == 200
    page = response.content.decode()
    head = re.search(r'<table id="result_list">\s*<thead>(.*?)</thead>', page, re.S)
    assert head, page[:3000]
    headers = [
        re.sub(r"<[^>]+>", "", text).strip() for text in re.findall(r'<div class="text">(.*?)</div>', head.group(1))
    ]
    for column in columns:
        assert column in headers, (column, headers)
    assert "overflow-wrap: anywhere" in page  # long names wrap (templates/admin/gateway/change_list.html)


def test_the_routes_list_shows_capabilities(operator, routes) -> None:  # type: ignore[no-untyped-def]
    route = ModelRoute.objects.filter(public_name="gpt-4").first()
    ModelRoute.objects.filter(pk=route.pk).update(
        supports_tools=True, supports_vision=False, supports_json_mode=True, reasoning=False, context_window=131072
    )

    page = operator.get("/admin/gateway/modelroute/?q=gpt-4").content.decode()

    assert "tools · JSON · 128k context" in page


# As tests/gateway/ops/test_dashboard_browser.py launches it: Debian's chromium, never a download.


def test_in_a_browser_the_lists_fit_1280_px_and_the_chooser_searches(live_server, routes) -> None:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    get_user_model().objects.create_superuser("browser-operator", password="a-known-password-9")
    make_key("a-rather-long-key-name-for-the-production-integration", quota_tokens=100_000, quota_usd="5")
    UsageRecord.objects.create(
        request_id="wide", api_key=ApiKey.objects.get(), key_prefix=ApiKey.objects.get().prefix,
        endpoint="chat.completions", public_model="@cf/meta/llama-3.2-11b-vision-instruct", status=429,
        error_code="insufficient_quota", streamed=True, cached=True, usage_estimated=True,
    )  # fmt: skip

    # Playwright's sync API runs an event loop in its thread, where Django refuses database work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        widths, chosen = pool.submit(drive_the_admin, live_server.url).result(timeout=120)

    for path, (scroll, client) in widths.items():
        assert scroll <= client, f"{path}: the list is {scroll} px wide in a {client} px box"
    assert chosen == ["gpt-4", "gpt-4o"]
    key = ApiKey.objects.get(name="from-the-browser")
    assert (sorted(key.allowed_models), key.model_limits) == (["gpt-4", "gpt-4o"], {"gpt-4o": {"rpm": 30}})


def drive_the_admin(base_url: str) -> tuple[dict[str, list[int]], list[str]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base_url}/admin/login/")
            page.fill("#id_username", "browser-operator")
            page.fill("#id_password", "a-known-password-9")
            page.click("input[type=submit]")
            page.wait_for_url(f"{base_url}/admin/")
            widths = {}
            for path in ("apikey", "modelroute", "usagerecord"):
                page.goto(f"{base_url}/admin/gateway/{path}/")
                widths[path] = page.evaluate(
                    "() => { const box = document.querySelector('.results');"
                    " return [box.scrollWidth, box.clientWidth]; }"
                )
            page.goto(f"{base_url}{ADD}")
            page.fill("#id_name", "from-the-browser")
            for name in ("gpt-4o", "gpt-4"):  # search, pick the one match, move it across
                page.fill("#id_allowed_models_input", "")
                page.locator("#id_allowed_models_input").press_sequentially(name)  # filters on keyup
                shown = page.eval_on_selector_all("#id_allowed_models_from option", "nodes => nodes.map(n => n.value)")
                assert name in shown and len(shown) < 10, shown
                page.select_option("#id_allowed_models_from", name)
                page.click("#id_allowed_models_add")
            chosen = page.eval_on_selector_all("#id_allowed_models_to option", "nodes => nodes.map(n => n.value)")
            page.select_option("select[name=model_limits-0-model]", "gpt-4o")
            page.fill("input[name=model_limits-0-rpm]", "30")
            page.click("input[name=_save]")
            issued = page.input_value("#issued-key")  # the new key, in the page that answers the save
            assert issued.startswith("sk-gw-") and len(issued) > 40, issued
            return widths, sorted(chosen)
        finally:
            browser.close()
