"""gateway/plain_data.py: cached dataclasses as JSON and back, built only as the asked type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.access.auth import KeyPrincipal
from gateway.accounting.pricing import PriceRecord
from gateway.cache.responses import CachedAnswer
from gateway.catalog.routes import RouteTable, RouteTarget
from gateway.plain_data import NotPlainData, from_plain, from_stored, to_plain
from gateway.provider_models import ProviderRecord

PRINCIPAL = KeyPrincipal(
    key_id=7,
    name="team",
    prefix="sk-gw-abcdefgh",
    owner_id=3,
    allowed_models=("gpt-4", "gpt-4o"),
    rpm_limit=60,
    tpm_limit=None,
    model_limits=(("gpt-4", 10, None), ("gpt-4o", None, 5000)),
    quota_tokens=None,
    quota_usd=Decimal("12.50"),
    quota_period="day",
    expires_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC),
    revoked=False,
)
PROVIDER = ProviderRecord(
    provider_id=1,
    name="workers-ai",
    kind="workers_ai",
    base_url="",
    account_id="acc",
    api_token_env="CLOUDFLARE_API_TOKEN",
    connect_timeout=5.0,
    read_timeout=60.0,
    extra_headers=(("X-Team", "search"),),
    updated_at=1795750000.25,
)
TARGET = RouteTarget(
    route_id=4,
    public_name="gpt-4",
    task="chat",
    upstream_model="@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    provider=PROVIDER,
    context_window=24000,
    max_output_tokens=None,
    supports_tools=True,
    supports_vision=False,
    supports_json_mode=True,
    reasoning=False,
    created=1795750000,
    cache_ttl_seconds=None,
    output_dimensions=None,
)


def through_json(value: object) -> object:
    return json.loads(json.dumps(to_plain(value)))  # what Redis gives back


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (PRINCIPAL, KeyPrincipal),
        (RouteTable({"gpt-4": (TARGET, TARGET)}), RouteTable),
        ({"@cf/x": PriceRecord(Decimal("0.293"), Decimal("2.253"), None, None, Decimal("0"))}, dict[str, PriceRecord]),
        (CachedAnswer(body={"choices": [{"index": 0}], "usage": None}, upstream_model="m", provider="p"), CachedAnswer),
    ],
    ids=["principal", "route table", "prices", "cached answer"],
)
def test_a_cached_value_comes_back_equal_and_of_its_types(value: object, kind: object) -> None:
    back = from_plain(through_json(value), kind)
    assert back == value
    assert repr(back) == repr(value)  # tuples stay tuples, Decimals Decimals, datetimes aware


def test_the_stored_form_is_plain_json_data() -> None:
    stored = to_plain(PRINCIPAL)
    assert stored["quota_usd"] == "12.50" and stored["expires_at"] == "2027-01-02T03:04:05+00:00"
    assert stored["model_limits"] == [["gpt-4", 10, None], ["gpt-4o", None, 5000]]
    with pytest.raises(TypeError):
        to_plain({"a set": {1, 2}})


@pytest.mark.parametrize(
    "spoiled",
    [
        {**to_plain(PRINCIPAL), "key_id": "7"},  # a string where an int belongs
        {**to_plain(PRINCIPAL), "revoked": 0},  # an int where a bool belongs
        {k: v for k, v in to_plain(PRINCIPAL).items() if k != "prefix"},  # a field missing
        {**to_plain(PRINCIPAL), "quota_usd": "twelve"},
        {**to_plain(PRINCIPAL), "model_limits": [["gpt-4", 10]]},  # a triple cut short
        ["not", "an", "object"],
        "gASVBQAAAAAAAACMAXiULg==",  # base64 of a pickle: just a string here
    ],
)
def test_a_value_that_does_not_fit_is_refused_and_reads_as_a_miss(spoiled: object) -> None:
    with pytest.raises(NotPlainData):
        from_plain(spoiled, KeyPrincipal)
    assert from_stored(spoiled, KeyPrincipal) is None
    assert from_stored(None, KeyPrincipal) is None
