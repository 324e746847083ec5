"""What a request cost: the price table (gateway.models.Price) applied to a usage entry.

Prices are read from a Redis snapshot of the whole table, rebuilt on a miss and dropped by
gateway/signals.py when a price is saved or deleted, so settling a request costs no extra
database round trip and an operator's edit applies from the next request on every worker.

A cost is None when the usage needs a price the table does not have (no row, or a blank
field): unknown, which is not the same as free. Usage nothing is charged for costs 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache

from gateway.models import Price, snapshot_shape

log = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 60
_MILLION = Decimal(1_000_000)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class PriceRecord:
    usd_per_m_input: Decimal | None
    usd_per_m_output: Decimal | None
    usd_per_audio_minute: Decimal | None
    usd_per_image: Decimal | None
    usd_per_m_characters: Decimal | None


# The shape of what the snapshot pickles is part of its key (gateway/models.py snapshot_shape).
_SNAPSHOT_KEY = f"prices:snapshot:{snapshot_shape(PriceRecord)}"


@dataclass(frozen=True)
class Consumption:
    """What one request used of an upstream model."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0
    images: int = 0
    characters: int = 0


def _read_table() -> dict[str, PriceRecord]:
    return {
        row.upstream_model: PriceRecord(
            usd_per_m_input=row.usd_per_m_input,
            usd_per_m_output=row.usd_per_m_output,
            usd_per_audio_minute=row.usd_per_audio_minute,
            usd_per_image=row.usd_per_image,
            usd_per_m_characters=row.usd_per_m_characters,
        )
        for row in Price.objects.all()
    }


def price_table() -> dict[str, PriceRecord]:
    """The snapshot, or the table itself when Redis cannot be reached: the ledger writes a
    record's cost with Redis down too (gateway/accounting/ledger_store.py)."""
    try:
        table = cache.get(_SNAPSHOT_KEY)
    except Exception:
        log.warning("price snapshot unreachable; reading the price table", exc_info=True)
        return _read_table()
    if table is None:
        table = _read_table()
        try:
            cache.set(_SNAPSHOT_KEY, table, timeout=SNAPSHOT_SECONDS)  # why a lifetime: gateway/catalog/routes.py
        except Exception:
            log.warning("price snapshot not stored", exc_info=True)
    return table


def invalidate() -> None:
    cache.delete(_SNAPSHOT_KEY)


def _charge(quantity: Decimal, unit_price: Decimal | None) -> Decimal | None:
    if not quantity:
        return _ZERO
    return None if unit_price is None else quantity * unit_price


def cost_of(upstream_model: str, used: Consumption, table: dict[str, PriceRecord] | None = None) -> Decimal | None:
    """USD for `used` of `upstream_model`; None when a price it needs is unknown. `table`: a price
    table read once for many records."""
    charges = (
        (Decimal(used.prompt_tokens) / _MILLION, "usd_per_m_input"),
        (Decimal(used.completion_tokens) / _MILLION, "usd_per_m_output"),
        (Decimal(str(used.audio_seconds)) / 60, "usd_per_audio_minute"),
        (Decimal(used.images), "usd_per_image"),
        (Decimal(used.characters) / _MILLION, "usd_per_m_characters"),
    )
    if not any(quantity for quantity, _ in charges):
        return _ZERO
    price = (price_table() if table is None else table).get(upstream_model)
    total = _ZERO
    for quantity, field in charges:
        charge = _charge(quantity, getattr(price, field) if price else None)
        if charge is None:
            return None
        total += charge
    return total.quantize(Decimal("1e-10"))


# Seeded by `manage.py seed_models`, from Cloudflare's pricing page
# (https://developers.cloudflare.com/workers-ai/platform/pricing/),
# which names these three only. It names "whisper" without a version: that is @cf/openai/whisper,
# not the large-v3-turbo that serves whisper-1. Every other routed model gets a row with blank
# prices for an operator to fill in: the reference gives no figures for them, and Cloudflare's
# neuron rate ($0.011 per 1,000) needs per-model neuron counts the reference does not have.
SEEDED_PRICES: dict[str, dict[str, Decimal]] = {
    "@cf/meta/llama-3.1-8b-instruct-fp8": {
        "usd_per_m_input": Decimal("0.152"),
        "usd_per_m_output": Decimal("0.287"),
    },
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast": {
        "usd_per_m_input": Decimal("0.293"),
        "usd_per_m_output": Decimal("2.253"),
    },
    "@cf/openai/whisper": {"usd_per_audio_minute": Decimal("0.0005")},
}


def ensure_prices(upstream_models: list[str]) -> int:
    """Rows for the seeded prices and for `upstream_models`; an existing row is never changed, so
    re-seeding keeps an operator's edit. Returns how many rows were created."""
    created = 0
    for name in dict.fromkeys([*SEEDED_PRICES, *upstream_models]):
        created += Price.objects.get_or_create(upstream_model=name, defaults=SEEDED_PRICES.get(name, {}))[1]
    return created
