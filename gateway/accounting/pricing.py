"""What a request cost: the price table (gateway.models.Price) applied to a usage entry.

Each process keeps a copy of the whole table (gateway/stamps.py) over a Redis snapshot that
all share, keyed by the prices' stamp, which gateway/signals.py bumps when a price is saved or
deleted: pricing a request costs no round trip, and an operator's edit applies from the next
request on every worker.

A cost is None when the usage needs a price the table does not have (no row, or a blank
field): unknown, which is not the same as free. Usage nothing is charged for costs 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache

from gateway import plain_data, stamps
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


# The shape of what the snapshot stores is part of its key (gateway/models.py snapshot_shape).
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


def _shared_table(_: object, stamp: str) -> dict[str, PriceRecord]:
    key = f"{_SNAPSHOT_KEY}:{stamp}"
    table = plain_data.from_stored(cache.get(key), dict[str, PriceRecord])
    if table is None:
        table = _read_table()
        cache.set(key, plain_data.to_plain(table), timeout=SNAPSHOT_SECONDS)  # why a lifetime: catalog/routes.py
    return table


_TABLES: stamps.LocalCopies[dict[str, PriceRecord]] = stamps.LocalCopies("prices", _shared_table)


def price_table() -> dict[str, PriceRecord]:
    """This process's copy, or the table itself when Redis cannot be reached: the ledger writes a
    record's cost with Redis down too (gateway/accounting/ledger_store.py)."""
    try:
        return _TABLES.get()
    except Exception:
        log.warning("price snapshot unreachable; reading the price table", exc_info=True)
        return _read_table()


def invalidate() -> None:
    """Prices changed (call once committed): every process reloads its copy."""
    stamps.bump("prices")


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


# Seeded by `manage.py seed_models` from Cloudflare's Workers AI pricing page
# (https://developers.cloudflare.com/workers-ai/platform/pricing/) and the model pages it is built
# from (https://developers.cloudflare.com/workers-ai/models/<name>/, "price" property), read
# 2026-11. Units as the page gives them, converted to gateway.models.Price's: "$0.015 per 1k
# characters" is $15 per M characters. The page names "whisper" without a version: that is
# @cf/openai/whisper; whisper-large-v3-turbo has a row of its own.
# FLUX.1 schnell is priced per 512x512 tile and per step: the gateway asks for its default
# (1024x1024, 4 steps: 4 tiles and 4 steps), so one image is 4 x $0.0000528 + 4 x $0.0001056.
# Left blank (no row figure; an operator fills them in the admin): @cf/openai/whisper-tiny-en and
# @cf/stabilityai/stable-diffusion-xl-base-1.0 (beta, not on the page), and @cf/myshell-ai/melotts,
# which the page prices per minute of audio *output* ($0.0002) while speech usage is measured in
# input characters (README, Audio): no per-character figure exists to seed.
_FLUX_IMAGE = 4 * Decimal("0.0000528") + 4 * Decimal("0.0001056")


def _tokens(per_m_input: str, per_m_output: str | None = None) -> dict[str, Decimal]:
    prices = {"usd_per_m_input": Decimal(per_m_input)}
    if per_m_output is not None:
        prices["usd_per_m_output"] = Decimal(per_m_output)
    return prices


SEEDED_PRICES: dict[str, dict[str, Decimal]] = {
    "@cf/meta/llama-3.1-8b-instruct-fp8": _tokens("0.152", "0.287"),
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast": _tokens("0.293", "2.253"),
    "@cf/meta/llama-3.2-11b-vision-instruct": _tokens("0.049", "0.676"),
    "@cf/meta/llama-3.2-3b-instruct": _tokens("0.051", "0.335"),
    "@cf/qwen/qwq-32b": _tokens("0.66", "1.00"),
    "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b": _tokens("0.497", "4.881"),
    "@cf/qwen/qwen2.5-coder-32b-instruct": _tokens("0.66", "1.00"),
    "@cf/openai/gpt-oss-120b": _tokens("0.35", "0.75"),
    "@cf/openai/gpt-oss-20b": _tokens("0.20", "0.30"),
    "@cf/meta/llama-guard-3-8b": _tokens("0.48", "0.03"),
    "@cf/baai/bge-small-en-v1.5": _tokens("0.020"),
    "@cf/baai/bge-base-en-v1.5": _tokens("0.067"),
    "@cf/baai/bge-large-en-v1.5": _tokens("0.204"),
    "@cf/openai/whisper": {"usd_per_audio_minute": Decimal("0.0005")},
    "@cf/openai/whisper-large-v3-turbo": {"usd_per_audio_minute": Decimal("0.0005")},
    "@cf/deepgram/aura-1": {"usd_per_m_characters": Decimal("15")},  # $0.015 per 1k characters
    "@cf/deepgram/aura-2-en": {"usd_per_m_characters": Decimal("30")},  # $0.030 per 1k characters
    "@cf/black-forest-labs/flux-1-schnell": {"usd_per_image": _FLUX_IMAGE},  # $0.0006336
}


def ensure_prices(upstream_models: list[str]) -> int:
    """Rows for the seeded prices and for `upstream_models`; an existing row is never changed, so
    re-seeding keeps an operator's edit. Returns how many rows were created."""
    created = 0
    for name in dict.fromkeys([*SEEDED_PRICES, *upstream_models]):
        created += Price.objects.get_or_create(upstream_model=name, defaults=SEEDED_PRICES.get(name, {}))[1]
    return created
