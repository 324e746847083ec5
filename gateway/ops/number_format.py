"""Numbers as the dashboard shows them: axis ticks, counts, money, percentages, latencies.

Two uses, one set of formatters. Without `step`, a value is shown on its own (a tooltip, a bar's
label) with a few significant digits. With `step` — the distance between an axis's ticks — it is
shown exactly to that step: ticks are multiples of a 1/2/5 × 10ⁿ step (`nice_ticks`), so writing
each to the step's last digit is exact, and two different ticks never read the same.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Protocol

SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
MAX_INTERVALS = 5
SIGNIFICANT = 3


class Formatter(Protocol):
    def __call__(self, value: float, step: float | None = None) -> str: ...


def nice_ticks(largest: float, *, whole: bool = False, intervals: int = MAX_INTERVALS) -> list[float]:
    """Ticks from 0 to the first multiple of the step at or above `largest`, at most `intervals` apart.

    The step is 1, 2 or 5 × 10ⁿ. `whole` keeps it at 1 or more, so counts never get ticks like
    1.5 requests. Each tick is rounded to the step's precision, so 3 × 0.1 is 0.3, not 0.30000000000000004.
    """
    if not math.isfinite(largest) or largest <= 0:
        return [0.0, 1.0] if whole else [0.0, 0.25, 0.5, 0.75, 1.0]
    power = 10.0 ** math.floor(math.log10(largest / intervals))
    step = next(step for step in (f * power * s for s in (1, 10) for f in (1, 2, 5)) if largest / step <= intervals)
    if whole:
        step = max(step, 1.0)
    digits = max(0, -math.floor(math.log10(step)))
    count = math.ceil(largest / step - 1e-9)
    return [round(step * tick, digits) for tick in range(count + 1)]


def _decimals(step: float | None, unit: float, value: float) -> int:
    """Decimals that write `value` / `unit` exactly to the step, or to SIGNIFICANT digits without one."""
    if step:
        return max(0, -math.floor(math.log10(step / unit) + 1e-9))
    scaled = abs(value) / unit
    return max(0, SIGNIFICANT - 1 - math.floor(math.log10(scaled))) if scaled else 0


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def si(value: float, step: float | None = None) -> str:
    """Counts and tokens: 950, 1.2k, 3.4M, 2G; to the step on an axis (1.25k beside 1.5k)."""
    value = float(value)
    unit, suffix = next(((size, mark) for size, mark in SI if abs(value) >= size), (1.0, ""))
    if not suffix and not step:
        return f"{value:.0f}" if value.is_integer() else _trim(f"{value:.{_decimals(None, 1.0, value)}f}")
    decimals = _decimals(step, unit, value) if step else 1
    return _trim(f"{value / unit:.{decimals}f}") + suffix


def usd(value: float | Decimal, step: float | None = None) -> str:
    """Money with the precision it needs: $0.00012, $0.0015, $1.20, $1.2k; exact zero is "$0".

    Below $1000 at least cents are shown (when not a whole dollar on an axis); from $1000 the
    thousands are SI-marked like counts. A non-zero amount is never rounded to zero.
    """
    value = float(value)
    if value == 0:
        return "$0"
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value >= 1000:
        return sign + "$" + si(value, step)
    if step:
        decimals = _decimals(step, 1.0, value)
        if decimals:
            decimals = max(decimals, 2)
        return f"{sign}${value:.{decimals}f}"
    return sign + money(value) if value < 1 else f"{sign}${value:.2f}"


def money(value: float | Decimal | None) -> str:
    """A cost in a table: cents from $1 up ($1,234.50), else 3 significant digits ($0.0000123); 0 is "$0"."""
    if value is None:
        return "—"
    amount = Decimal(value) if not isinstance(value, Decimal) else value
    if amount == 0:
        return "$0"
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    decimals = SIGNIFICANT - 1 - math.floor(math.log10(amount))
    text = _trim(f"{amount:.{decimals}f}")
    whole, _, fraction = text.partition(".")
    return f"{sign}${whole}.{fraction.ljust(2, '0')}"


def percent(value: float, step: float | None = None) -> str:
    """A fraction as a percentage: 0.125 → 12.5%; on an axis, to the step (0.05%, 0.1%, …)."""
    hundredths = float(value) * 100
    if step:
        return f"{hundredths:.{_decimals(step * 100, 1.0, hundredths)}f}%"
    if hundredths == 0 or abs(hundredths) >= 10:
        return _trim(f"{hundredths:.1f}") + "%"
    return _trim(f"{hundredths:.{_decimals(None, 1.0, hundredths)}f}") + "%"


def millis(value: float, step: float | None = None) -> str:
    """Latency: 120 ms, 0.5 ms on a fine axis, 12.5 s from 10 s up."""
    value = float(value)
    if value >= 10_000 or (step and step >= 1000):
        seconds = value / 1000
        decimals = _decimals(step / 1000, 1.0, seconds) if step else 2
        return f"{seconds:.{decimals}f} s"
    decimals = _decimals(step, 1.0, value) if step else 0
    return f"{value:.{decimals}f} ms"
