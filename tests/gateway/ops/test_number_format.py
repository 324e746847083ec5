"""The dashboard's number formats: axis ticks that never read the same twice, SI counts, money."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from gateway.ops.number_format import millis, money, nice_ticks, percent, si, usd

# From a thousandth of a cent to billions, in awkward places between the round numbers.
LARGEST = sorted(
    {m * 10.0**e for e in range(-7, 10) for m in (1, 1.2, 1.5, 2, 2.5, 3, 3.3, 4.9, 5, 7, 9.99)} | {0.0, 17.0, 123.0}
)


def labels(fmt, largest: float, *, whole: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    ticks = nice_ticks(largest, whole=whole)
    step = ticks[1] - ticks[0]
    return [fmt(tick, step) for tick in ticks]


@pytest.mark.parametrize("largest", LARGEST)
def test_ticks_are_nice_steps_from_zero_past_the_largest_value(largest: float) -> None:
    ticks = nice_ticks(largest)

    assert ticks[0] == 0 and ticks[-1] >= largest * (1 - 1e-9) and 2 <= len(ticks) <= 6
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5, 2.5)  # 2.5 only for the empty axis
    assert ticks[-2] < largest or largest == 0


@pytest.mark.parametrize("largest", LARGEST)
@pytest.mark.parametrize("fmt", [si, usd, percent, millis], ids=["si", "usd", "percent", "millis"])
def test_no_two_ticks_of_an_axis_read_the_same(fmt, largest: float) -> None:  # type: ignore[no-untyped-def]
    for whole in (False, True):
        shown = labels(fmt, largest, whole=whole)

        assert len(set(shown)) == len(shown), (largest, whole, shown)


def test_the_cost_axis_that_used_to_repeat_itself() -> None:
    # Five records of about $0.0001 each: the old axis read $0, $0.0001, $0.0001, $0.0001, …
    assert labels(usd, 0.00023) == ["$0", "$0.00005", "$0.00010", "$0.00015", "$0.00020", "$0.00025"]
    assert labels(usd, 0.0049) == ["$0", "$0.001", "$0.002", "$0.003", "$0.004", "$0.005"]
    assert labels(usd, 0.0016) == ["$0", "$0.0005", "$0.0010", "$0.0015", "$0.0020"]
    assert labels(usd, 4.2) == ["$0", "$1", "$2", "$3", "$4", "$5"]
    assert labels(usd, 1.7) == ["$0", "$0.50", "$1.00", "$1.50", "$2.00"]
    assert labels(usd, 2400) == ["$0", "$500", "$1k", "$1.5k", "$2k", "$2.5k"]


def test_count_axes_use_si_suffixes_to_the_step() -> None:
    assert labels(si, 7, whole=True) == ["0", "2", "4", "6", "8"]
    assert labels(si, 0.4, whole=True) == ["0", "1"]
    assert labels(si, 1100, whole=True) == ["0", "500", "1k", "1.5k"]
    assert labels(si, 12_345, whole=True) == ["0", "5k", "10k", "15k"]
    assert labels(si, 3_400_000, whole=True) == ["0", "1M", "2M", "3M", "4M"]
    assert labels(si, 1_250_000, whole=True) == ["0", "500k", "1M", "1.5M"]


def test_si_on_its_own_keeps_a_few_digits() -> None:
    assert [si(v) for v in (0, 7, 950, 1234, 3_400_000, 2e9, 12.5)] == ["0", "7", "950", "1.2k", "3.4M", "2G", "12.5"]


def test_usd_on_its_own_has_adaptive_precision() -> None:
    assert usd(0) == "$0"
    assert usd(0.00012) == "$0.00012"
    assert usd(0.0015) == "$0.0015"
    assert usd(1.2) == "$1.20"
    assert usd(1234) == "$1.2k"
    assert usd(Decimal("0.000012")) == "$0.000012"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal(0), "$0"),
        (Decimal("0.0000000"), "$0"),
        (Decimal("0.000012"), "$0.000012"),
        (Decimal("0.0000123456"), "$0.0000123"),
        (Decimal("0.0010"), "$0.001"),
        (Decimal("0.0035"), "$0.0035"),
        (Decimal("0.0235"), "$0.0235"),
        (Decimal("0.5"), "$0.50"),
        (Decimal("0.999"), "$0.999"),
        (Decimal("1.2"), "$1.20"),
        (Decimal("1234.5"), "$1,234.50"),
        (0.0000001, "$0.0000001"),
        (None, "—"),
    ],
)
def test_table_costs_have_significant_digits_and_never_read_zero(amount: Decimal | None, shown: str) -> None:
    assert money(amount) == shown


def test_percent_and_millis() -> None:
    assert percent(0.125) == "12.5%" and percent(0) == "0%" and percent(0.0004) == "0.04%"
    assert labels(percent, 0.003) == ["0.0%", "0.1%", "0.2%", "0.3%"]
    assert labels(percent, 0.0021) == ["0.00%", "0.05%", "0.10%", "0.15%", "0.20%", "0.25%"]
    assert labels(percent, 1) == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert labels(millis, 280) == ["0 ms", "100 ms", "200 ms", "300 ms"]
    assert labels(millis, 2.2) == ["0.0 ms", "0.5 ms", "1.0 ms", "1.5 ms", "2.0 ms", "2.5 ms"]
    assert labels(millis, 12_000) == ["0 s", "5 s", "10 s", "15 s"]
    assert millis(120) == "120 ms" and millis(12_500) == "12.50 s"
