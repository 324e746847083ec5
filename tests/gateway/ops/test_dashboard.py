"""The usage dashboard and its CSV export, read as an operator's browser would get them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from conftest import make_key
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from seeded_usage import has_cost, record, seed_usage

from gateway.models import ApiKey, UsageRecord, UsageRollup

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/usage-dashboard/"
CSV_URL = "/admin/usage-dashboard/csv/"


class Tables(HTMLParser):
    """Body rows of every <table id=…>: {table id: {row heading: [cell texts]}}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._text: list[str] | None = None
        self._in_body = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id"):
            self._table = dict(attrs)["id"]
            self.tables[self._table] = {}
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._row is not None and self._text is not None:
            self._row.append("".join(self._text).strip())
            self._text = None
        elif tag == "tr" and self._table and self._row:
            self.tables[self._table][self._row[0]] = self._row[1:]
            self._row = None
        elif tag == "table":
            self._table, self._in_body = None, False


def cost(text: str) -> str:
    return text if has_cost() else "—"


def test_anonymous_visitors_are_sent_to_the_login_page(transactional_db: None) -> None:
    for url in (URL, CSV_URL):
        response = Client().get(url)

        assert response.status_code == 302
        assert response["Location"].startswith(f"/admin/login/?next={url}")


def test_it_refuses_users_who_are_not_staff(transactional_db: None) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_user("visitor", password="x"))

    for url in (URL, CSV_URL):
        response = client.get(url)

        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_it_refuses_staff_without_the_usage_permission(transactional_db: None) -> None:
    user = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client = Client()
    client.force_login(user)

    assert client.get(URL).status_code == 403
    assert client.get(CSV_URL).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="view_usagerecord"))
    assert client.get(URL).status_code == 200


def test_its_tables_and_tiles_add_up_the_seeded_records(operator: Client) -> None:
    seed_usage()

    response = operator.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    tables = Tables(html).tables
    # Requests, 4xx and their rate, 5xx and their rate, prompt, completion, total tokens, cost, p50, p95.
    alpha = [k for k in tables["by-key"] if k.startswith("alpha")]
    beta = [k for k in tables["by-key"] if k.startswith("beta")]
    assert len(alpha) == len(beta) == 1
    assert tables["by-key"][alpha[0]] == [
        "3",
        "0",
        "0.0%",
        "1",
        "33.3%",
        "15",
        "25",
        "40",
        cost("$0.0035"),
        "100 ms",
        "280 ms",
    ]
    assert tables["by-key"][beta[0]] == [
        "2",
        "1",
        "50.0%",
        "0",
        "0.0%",
        "7",
        "3",
        "10",
        cost("$0.001"),
        "110 ms",
        "200 ms",
    ]
    assert tables["by-model"] == {
        "gpt-4": ["2", "0", "0.0%", "0", "0.0%", "15", "25", "40", cost("$0.0035"), "200 ms", "290 ms"],
        "gpt-4o-mini": ["3", "1", "33.3%", "1", "33.3%", "7", "3", "10", cost("$0.001"), "50 ms", "194 ms"],
    }
    assert 'data-tile="requests">5<' in html
    assert 'data-tile="tokens">50<' in html
    assert 'data-tile="error-rate">40.0%<' in html
    assert 'data-tile="p95">' in html and html.count('class="gw-chart"') == (12 if has_cost() else 9)
    assert response.context["board"].filter.bucket == "day"
    assert len(response.context["board"].over_time) == 7


def test_the_key_and_model_filters_narrow_everything(operator: Client) -> None:
    seeded = seed_usage()

    response = operator.get(URL, {"key": seeded.beta.pk, "model": "gpt-4o-mini"})

    tables = Tables(response.content.decode()).tables
    assert list(tables["by-model"]) == ["gpt-4o-mini"]
    assert tables["by-model"]["gpt-4o-mini"][:2] == ["2", "1"]
    assert len(tables["by-key"]) == 1
    assert b'data-tile="requests">2<' in response.content


def test_a_range_of_two_days_or_less_is_drawn_per_hour(operator: Client) -> None:
    seeded = seed_usage()
    yesterday = (seeded.today - timedelta(days=1)).date().isoformat()

    response = operator.get(URL, {"start": yesterday, "end": yesterday})

    board = response.context["board"]
    assert board.filter.bucket == "hour"
    assert len(board.over_time) == 24
    busy = {point.at.hour: point.stats.requests for point in board.over_time if point.stats.requests}
    assert busy == {10: 2, 12: 1}  # alpha's and beta's 10:00 requests, alpha's 500 two hours later
    assert "12:00" in response.content.decode()


def test_the_csv_has_one_row_per_bucket_key_and_model(operator: Client) -> None:
    seeded = seed_usage()

    response = operator.get(CSV_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="usage-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    day1 = (seeded.today - timedelta(days=1)).date().isoformat()
    day3 = (seeded.today - timedelta(days=3)).date().isoformat()
    found = {(row["bucket_start_utc"][:10], row["key_name"], row["model"]): row for row in rows}
    assert set(found) == {
        (day3, "alpha", "gpt-4"),
        (day3, "beta", "gpt-4o-mini"),
        (day1, "alpha", "gpt-4"),
        (day1, "alpha", "gpt-4o-mini"),
        (day1, "beta", "gpt-4o-mini"),
    }
    assert sum(int(row["requests"]) for row in rows) == 5
    assert sum(int(row["total_tokens"]) for row in rows) == 50
    beta_day3 = found[(day3, "beta", "gpt-4o-mini")]
    assert (beta_day3["requests"], beta_day3["errors"], beta_day3["latency_p50_ms"]) == ("1", "1", "10.0")
    assert beta_day3["key_prefix"] == seeded.beta.prefix
    assert found[(day1, "alpha", "gpt-4")]["cost_usd"] == ("0.003" if has_cost() else "")


def rollup(
    key: ApiKey | None, model: str, status: int, day: date, requests: int, *, tokens: int = 0, cost: str = "0"
) -> UsageRollup:
    """A day `prune_usage` folded away: `tokens` split 2:1 into prompt and completion."""
    return UsageRollup.objects.create(
        day=day,
        api_key=key,
        key_prefix=key.prefix if key else "",
        endpoint="chat.completions",
        public_model=model,
        status=status,
        requests=requests,
        prompt_tokens=tokens * 2 // 3,
        completion_tokens=tokens - tokens * 2 // 3,
        total_tokens=tokens,
        cost_usd=Decimal(cost),
    )


def seed_rollups() -> tuple[date, date]:
    """Roll-ups five days ago (in the default range) and ten days ago (outside it); returns both days.

    day 5  alpha gpt-4 200: 4 requests, 150 tokens (100 + 50), $0.02
           alpha gpt-4o-mini 500: 2 requests, no tokens
           no key gpt-3.5 200: 1 request, 6 tokens (4 + 2)
    day 10 alpha gpt-4 200: 100 requests, 9999 tokens, $50 (must not count)
    """
    seeded = seed_usage()
    day5, day10 = (seeded.today - timedelta(days=5)).date(), (seeded.today - timedelta(days=10)).date()
    rollup(seeded.alpha, "gpt-4", 200, day5, 4, tokens=150, cost="0.02")
    rollup(seeded.alpha, "gpt-4o-mini", 500, day5, 2)
    rollup(None, "gpt-3.5", 200, day5, 1, tokens=6)
    rollup(seeded.alpha, "gpt-4", 200, day10, 100, tokens=9999, cost="50")
    return day5, day10


def test_rolled_up_days_add_to_the_tables_tiles_and_charts(operator: Client) -> None:
    day5, _ = seed_rollups()

    response = operator.get(URL)

    html = response.content.decode()
    tables = Tables(html).tables
    alpha = next(k for k in tables["by-key"] if k.startswith("alpha"))
    # Records plus roll-ups for the counts, tokens and cost; latency from the records alone.
    assert tables["by-key"][alpha] == [
        "9",
        "0",
        "0.0%",
        "3",
        "33.3%",
        "115",
        "75",
        "190",
        cost("$0.0235"),
        "100 ms",
        "280 ms",
    ]
    assert tables["by-key"]["(no key)"] == ["1", "0", "0.0%", "0", "0.0%", "4", "2", "6", cost("$0"), "—", "—"]
    assert tables["by-model"] == {
        "gpt-4": ["6", "0", "0.0%", "0", "0.0%", "115", "75", "190", cost("$0.0235"), "200 ms", "290 ms"],
        "gpt-4o-mini": ["5", "1", "20.0%", "3", "60.0%", "7", "3", "10", cost("$0.001"), "50 ms", "194 ms"],
        "gpt-3.5": ["1", "0", "0.0%", "0", "0.0%", "4", "2", "6", cost("$0"), "—", "—"],
    }
    assert 'data-tile="requests">12<' in html
    assert 'data-tile="tokens">206<' in html
    assert 'data-tile="error-rate">33.3%<' in html  # (2 + 2) / 12
    assert 'data-tile="p50">100 ms<' in html  # the five records' latencies alone
    board = response.context["board"]
    assert board.rolled_up_days == 1
    point = next(point for point in board.over_time if point.at.date() == day5)
    assert (point.stats.requests, point.stats.errors, point.stats.total_tokens) == (7, 2, 156)
    assert point.stats.p50_ms is None and point.stats.p95_ms is None  # no latency point for that day
    if has_cost():
        assert point.stats.cost_usd == Decimal("0.02")
    assert sum(p.requests for p in board.by_model_over_time if p.at.date() == day5) == 7
    assert 'id="rollup-note"' in html and "00:00" not in html.split('id="rollup-note"')[1].split("</p>")[0]


def test_the_csv_includes_rolled_up_days_without_latency(operator: Client) -> None:
    day5, day10 = seed_rollups()

    rows = list(csv.DictReader(io.StringIO(operator.get(CSV_URL).content.decode())))

    assert sum(int(row["requests"]) for row in rows) == 12
    assert sum(int(row["errors"]) for row in rows) == 4
    assert sum(int(row["total_tokens"]) for row in rows) == 206
    assert all(row["bucket_start_utc"][:10] != day10.isoformat() for row in rows)
    rolled = {(row["key_name"], row["model"]): row for row in rows if row["bucket_start_utc"][:10] == day5.isoformat()}
    assert set(rolled) == {("alpha", "gpt-4"), ("alpha", "gpt-4o-mini"), ("", "gpt-3.5")}
    gpt4 = rolled[("alpha", "gpt-4")]
    assert gpt4["bucket_start_utc"] == f"{day5.isoformat()}T00:00:00+00:00"
    assert (gpt4["requests"], gpt4["errors"], gpt4["prompt_tokens"], gpt4["completion_tokens"]) == (
        "4",
        "0",
        "100",
        "50",
    )
    assert gpt4["cost_usd"] == ("0.02" if has_cost() else "")
    assert (gpt4["latency_p50_ms"], gpt4["latency_p95_ms"]) == ("", "")
    assert rolled[("alpha", "gpt-4o-mini")]["errors"] == "2"
    assert [row["bucket_start_utc"] for row in rows] == sorted(row["bucket_start_utc"] for row in rows)


def test_per_hour_a_rolled_up_day_sits_at_its_first_hour(operator: Client) -> None:
    seeded = seed_usage()
    yesterday = (seeded.today - timedelta(days=1)).date()
    rollup(seeded.beta, "gpt-4o-mini", 503, yesterday, 3, tokens=30)

    response = operator.get(URL, {"start": yesterday.isoformat(), "end": yesterday.isoformat()})

    board = response.context["board"]
    busy = {point.at.hour: point.stats.requests for point in board.over_time if point.stats.requests}
    assert busy == {0: 3, 10: 2, 12: 1}
    assert board.over_time[0].stats.errors == 3 and board.over_time[0].stats.p50_ms is None
    assert board.totals.requests == 6 and board.totals.errors == 4
    note = response.content.decode().split('id="rollup-note"')[1].split("</p>")[0]
    assert "00:00 of that day" in note
    rows = list(
        csv.DictReader(io.StringIO(operator.get(CSV_URL, {"start": yesterday, "end": yesterday}).content.decode()))
    )
    assert {row["bucket_start_utc"] for row in rows if row["errors"] == "3"} == {f"{yesterday}T00:00:00+00:00"}


def test_a_model_known_only_from_roll_ups_can_be_chosen(operator: Client) -> None:
    seed_rollups()

    response = operator.get(URL, {"model": "gpt-3.5"})

    assert response.status_code == 200
    assert Tables(response.content.decode()).tables["by-model"] == {
        "gpt-3.5": ["1", "0", "0.0%", "0", "0.0%", "4", "2", "6", cost("$0"), "—", "—"]
    }
    assert 'data-tile="p50">—<' in response.content.decode()  # roll-ups only: no latency


def test_without_roll_ups_the_page_has_no_roll_up_note(operator: Client) -> None:
    seed_usage()

    assert b'id="rollup-note"' not in operator.get(URL).content


def test_the_csv_keeps_formulas_out_of_spreadsheets(operator: Client) -> None:
    seeded = seed_usage()
    record(seeded.alpha, "=HYPERLINK(1)", 404, seeded.today - timedelta(days=1))

    rows = list(csv.DictReader(io.StringIO(operator.get(CSV_URL).content.decode())))

    assert "'=HYPERLINK(1)" in {row["model"] for row in rows}


def test_an_empty_range_renders_without_errors(operator: Client) -> None:
    response = operator.get(URL, {"start": "2001-01-01", "end": "2001-01-31"})

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="gw-chart"') == (12 if has_cost() else 9)
    assert "No requests in this range" in html
    assert 'data-tile="requests">0<' in html
    assert 'data-tile="p50">—<' in html
    csv_lines = operator.get(CSV_URL, {"start": "2001-01-01", "end": "2001-01-31"}).content.decode().splitlines()
    assert len(csv_lines) == 1 and csv_lines[0].startswith("bucket_start_utc,")


def test_a_backwards_range_is_explained_not_drawn(operator: Client) -> None:
    response = operator.get(URL, {"start": "2024-02-10", "end": "2024-02-01"})

    assert response.status_code == 200
    assert b"The start date is after the end date." in response.content
    assert b'class="gw-chart"' not in response.content
    assert operator.get(CSV_URL, {"start": "2024-02-10", "end": "2024-02-01"}).status_code == 400


@pytest.mark.parametrize("start", ["9999-12-31", "9999-12-25"])
def test_the_last_day_of_the_calendar_is_explained_not_a_500(operator: Client, start: str) -> None:
    response = operator.get(URL, {"start": start, "end": "9999-12-31"})

    assert response.status_code == 200
    assert b"Choose an end date no later than 9999-12-30." in response.content
    assert b'class="gw-chart"' not in response.content
    assert operator.get(CSV_URL, {"start": start, "end": "9999-12-31"}).status_code == 400


@pytest.mark.parametrize(
    ("start", "end", "buckets"),
    [("0001-01-01", "0001-01-02", 48), ("9999-12-29", "9999-12-30", 48), ("9999-12-01", "9999-12-30", 30)],
    ids=["first-days-per-hour", "last-days-per-hour", "last-month-per-day"],
)
def test_the_ends_of_the_calendar_are_drawn(operator: Client, start: str, end: str, buckets: int) -> None:
    make_key("edge")
    edge = ApiKey.objects.get(name="edge")
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    record(edge, "gpt-4", 200, datetime.combine(first, time(0, 30), tzinfo=UTC), prompt=3, latency=10)
    record(edge, "gpt-4", 500, datetime.combine(last, time(23, 30), tzinfo=UTC), prompt=4, latency=30)

    response = operator.get(URL, {"start": start, "end": end})

    assert response.status_code == 200
    board = response.context["board"]
    assert len(board.over_time) == buckets
    assert (board.totals.requests, board.totals.errors, board.totals.prompt_tokens) == (2, 1, 7)
    assert 'data-tile="requests">2<' in response.content.decode()
    rows = list(csv.DictReader(io.StringIO(operator.get(CSV_URL, {"start": start, "end": end}).content.decode())))
    assert [row["requests"] for row in rows] == ["1", "1"]


def test_names_from_clients_are_escaped_in_charts_and_tables(operator: Client) -> None:
    seeded = seed_usage()
    record(seeded.alpha, "<script>alert(1)</script>", 404, seeded.today - timedelta(days=1))

    html = operator.get(URL).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_admin_links_to_it(operator: Client) -> None:
    UsageRecord.objects.all().delete()

    assert f'href="{URL}"'.encode() in operator.get("/admin/").content
    assert f'href="{URL}"'.encode() in operator.get("/admin/gateway/usagerecord/").content


def test_it_splits_by_provider_and_filters_on_one(operator: Client) -> None:
    today = datetime.combine(datetime.now(UTC).date(), time(10), tzinfo=UTC)
    make_key("gamma")
    gamma = ApiKey.objects.get(name="gamma")
    answered = {"workers-ai": 2, "local-vllm": 1}
    for provider, requests in answered.items():
        for _ in range(requests):
            record(gamma, "gpt-4", 200, today, prompt=3, completion=2, latency=40, provider=provider)
    record(gamma, "gpt-4", 401, today)  # refused before any route was chosen: no provider

    everything = Tables(operator.get(URL).content.decode()).tables["by-provider"]
    narrowed = operator.get(URL, {"provider": "local-vllm"})

    assert {name: row[0] for name, row in everything.items()} == {
        "workers-ai": "2",
        "local-vllm": "1",
        "no provider: no upstream called": "1",
    }
    tables = Tables(narrowed.content.decode()).tables
    assert list(tables["by-provider"]) == ["local-vllm"]
    assert tables["by-model"]["gpt-4"][0] == "1"
    assert b'data-tile="requests">1<' in narrowed.content
