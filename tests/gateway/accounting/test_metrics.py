"""GET /metrics: the Prometheus text format, read back with prometheus_client's own parser.

Each process adds its increments up in memory and sends them to the shared Redis hash at most every
GATEWAY_METRICS_FLUSH_SECONDS, on a scrape it serves, and at exit; the tests below watch Redis
(MONITOR, HGETALL) and other processes to see that this is so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
import requests
from conftest import error_of
from fault_stack import DedicatedRedis, eventually
from prometheus_client.parser import text_string_to_metric_families
from servers import ROOT

from gateway.testing.response_audit import wait_until_idle

pytestmark = pytest.mark.django_db(transaction=True)

LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway_url: str, **headers: str) -> tuple[dict[str, str], Samples]:
    """Family name → type, and every sample keyed by (sample name, labels)."""
    response = requests.get(f"{gateway_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    types, samples = {}, {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_until(gateway_url: str, name: str, at_least: float, **labels: str) -> Samples:
    """Metrics are added after the client has its answer (a usage.settle step): wait for them."""
    deadline = time.monotonic() + 10
    while True:
        _, samples = scrape(gateway_url)
        if value(samples, name, **labels) >= at_least or time.monotonic() > deadline:
            assert value(samples, name, **labels) >= at_least, (name, labels)
            return samples
        time.sleep(0.05)


def chat(gateway_url: str, api_key: str, model: str, **fields: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], **fields},
        timeout=30,
    )


def test_it_lists_every_family_with_its_type(gateway_url) -> None:  # type: ignore[no-untyped-def]
    types, _ = scrape(gateway_url)

    assert types == {
        "gateway_requests": "counter",
        "gateway_request_duration_seconds": "histogram",
        "gateway_time_to_first_token_seconds": "histogram",
        "gateway_upstream_duration_seconds": "histogram",
        "gateway_tokens": "counter",
        "gateway_rate_limit_refusals": "counter",
        "gateway_upstream_failures": "counter",
        "gateway_upstream_retries": "counter",
        "gateway_image_jobs_queued": "gauge",
        "gateway_ledger_spooled_records": "gauge",
        "gateway_route_cooldown_seconds": "gauge",
    }


def test_it_counts_requests_by_endpoint_model_and_status(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    ok = {"endpoint": "chat.completions", "model": "gpt-4", "status": "200"}
    unknown = {"endpoint": "chat.completions", "model": "", "status": "404"}
    _, before = scrape(gateway_url)

    assert chat(gateway_url, api_key, "gpt-4").status_code == 200
    assert chat(gateway_url, api_key, "gpt-4").status_code == 200
    assert chat(gateway_url, api_key, "no-such-model").status_code == 404

    after = scrape_until(gateway_url, "gateway_requests_total", value(before, "gateway_requests_total", **ok) + 2, **ok)
    after = scrape_until(
        gateway_url, "gateway_requests_total", value(before, "gateway_requests_total", **unknown) + 1, **unknown
    )
    assert value(after, "gateway_requests_total", **ok) == value(before, "gateway_requests_total", **ok) + 2
    # A requested name that resolved to no route is not a label: clients cannot mint new series.
    assert not any(dict(labels).get("model") == "no-such-model" for _, labels in after)
    duration = {"endpoint": "chat.completions", "model": "gpt-4"}
    assert value(after, "gateway_request_duration_seconds_count", **duration) == (
        value(before, "gateway_request_duration_seconds_count", **duration) + 2
    )
    prompt = {"endpoint": "chat.completions", "model": "gpt-4", "kind": "prompt"}
    completion = {**prompt, "kind": "completion"}
    assert value(after, "gateway_tokens_total", **prompt) > value(before, "gateway_tokens_total", **prompt)
    assert value(after, "gateway_tokens_total", **completion) > value(before, "gateway_tokens_total", **completion)


def test_it_times_the_upstream_and_the_first_token_of_streams(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    upstream = {"provider": "workers-ai", "upstream_model": LLAMA_70B}
    first_token = {"endpoint": "chat.completions", "model": "gpt-4"}
    _, before = scrape(gateway_url)

    streamed = chat(gateway_url, api_key, "gpt-4", stream=True)
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")

    count = "gateway_upstream_duration_seconds_count"
    after = scrape_until(gateway_url, count, value(before, count, **upstream) + 1, **upstream)
    ttft = "gateway_time_to_first_token_seconds_count"
    after = scrape_until(gateway_url, ttft, value(before, ttft, **first_token) + 1, **first_token)
    assert value(after, "gateway_upstream_duration_seconds_sum", **upstream) >= value(
        before, "gateway_upstream_duration_seconds_sum", **upstream
    )


def test_histograms_are_cumulative_and_agree_with_their_count(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    assert chat(gateway_url, api_key, "gpt-4").status_code == 200
    samples = scrape_until(
        gateway_url, "gateway_upstream_duration_seconds_count", 1, provider="workers-ai", upstream_model=LLAMA_70B
    )

    series: dict[tuple[str, frozenset], list[tuple[float, float]]] = {}
    for (name, labels), number in samples.items():
        if name.endswith("_bucket"):
            family = name.removesuffix("_bucket")
            rest = frozenset((k, v) for k, v in labels if k != "le")
            series.setdefault((family, rest), []).append((float(dict(labels)["le"]), number))
    assert {family for family, _ in series} >= {
        "gateway_request_duration_seconds",
        "gateway_upstream_duration_seconds",
    }
    for (family, labels), buckets in series.items():
        buckets.sort()
        counts = [count for _, count in buckets]
        assert counts == sorted(counts), (family, labels, buckets)
        assert buckets[-1][0] == float("inf")
        assert samples[(f"{family}_count", labels)] == counts[-1]
        assert samples[(f"{family}_sum", labels)] >= 0


def test_refusals_from_the_limiter_are_counted_and_labels_are_escaped(gateway_url) -> None:  # type: ignore[no-untyped-def]
    from gateway.accounting import metrics

    odd = 'rpm "quoted" \\ back\nslash'
    _, before = scrape(gateway_url)

    metrics.count_refusal("rpm")
    metrics.count_refusal(odd)

    _, after = scrape(gateway_url)
    assert value(after, "gateway_rate_limit_refusals_total", kind="rpm") == (
        value(before, "gateway_rate_limit_refusals_total", kind="rpm") + 1
    )
    assert value(after, "gateway_rate_limit_refusals_total", kind=odd) == (
        value(before, "gateway_rate_limit_refusals_total", kind=odd) + 1
    )


def other_process_env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "DATABASE_URL": "postgresql://unused@/unused?host=/nonexistent",  # never connected
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def test_counts_from_other_processes_add_up(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    """As a second gunicorn worker or the Celery worker would: another process, the same numbers.
    Each process exits right after counting: what it still had pending is sent at exit."""
    kind = f"other-process-{uuid.uuid4().hex[:8]}"
    env = other_process_env(settings.REDIS_URL, settings.CACHES["default"]["KEY_PREFIX"])
    code = f"import django; django.setup(); from gateway.accounting import metrics; metrics.count_refusal({kind!r})"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)

    _, samples = scrape(gateway_url)
    assert value(samples, "gateway_rate_limit_refusals_total", kind=kind) == 2


# Counts a refusal of each kind read from stdin ("fill N": N kinds never seen), answering each line.
COUNTER_PROCESS = """
import sys
import django

django.setup()
from gateway.accounting import metrics

for line in sys.stdin:
    command, _, argument = line.strip().partition(" ")
    if command == "fill":
        for number in range(int(argument)):
            metrics.count_refusal(f"fill-{number}")
    else:
        metrics.count_refusal(command)
    print("counted", flush=True)
"""


class CounterProcess:
    """A process of the gateway's code that counts refusals when told and lives on until its stdin
    closes: what it sends meanwhile is its flusher's doing, not its exit's."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", COUNTER_PROCESS],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self.log.append(line)

    def count(self, line: str) -> None:
        self.process.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        assert self.process.stdout.readline() == "counted\n", "".join(self.log)  # type: ignore[union-attr]

    def logged(self, text: str) -> int:
        return sum(text in line for line in list(self.log))

    def finish(self) -> int:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
        try:
            return self.process.wait(timeout=60)
        finally:
            self._reader.join(timeout=10)


def hash_fields(client: redis.Redis, key: str) -> dict[str, float]:
    return {field.decode(): float(number) for field, number in client.hgetall(key).items()}


def refusals_field(kind: str) -> str:
    return f'["gateway_rate_limit_refusals_total","","{kind}"]'


def test_a_request_sends_nothing_to_the_metrics_hash_before_a_flush(gateway_url, api_key, settings) -> None:  # type: ignore[no-untyped-def]
    """Settling a request adds to this process's pending increments: no command reaches the
    metrics hash until a flush, here the one of the scrape this process serves next."""
    from django.core.cache import cache

    settings.GATEWAY_METRICS_FLUSH_SECONDS = 3600  # this process's own flusher stays quiet meanwhile
    ok = {"endpoint": "chat.completions", "model": "gpt-4", "status": "200"}
    duration = {"endpoint": "chat.completions", "model": "gpt-4"}
    hash_key = cache.make_key("metrics")
    sentinel = f"metrics-test-end-{uuid.uuid4().hex}"
    _, before = scrape(gateway_url)  # sends whatever this process had pending: a flush just done

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    touching: list[str] = []
    with client.monitor() as monitor:  # every command the Redis server runs, in order, from now on
        for _ in range(5):
            assert chat(gateway_url, api_key, "gpt-4").status_code == 200
        assert wait_until_idle(), "requests still being served"  # settled: their metrics recorded
        client.echo(sentinel)
        while True:
            line = monitor.connection.read_response().decode(errors="replace")  # times out, not hangs
            if sentinel in line:
                break
            if hash_key in line:
                touching.append(line)
    client.close()

    assert touching == []
    _, after = scrape(gateway_url)
    assert value(after, "gateway_requests_total", **ok) == value(before, "gateway_requests_total", **ok) + 5
    count = "gateway_request_duration_seconds_count"
    assert value(after, count, **duration) == value(before, count, **duration) + 5


def test_a_running_process_sends_its_counts_within_the_flush_interval(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    """No scrape reaches the counting process: the live server's scrape flushes only its own."""
    kind = f"flushed-{uuid.uuid4().hex[:8]}"
    env = other_process_env(
        settings.REDIS_URL, settings.CACHES["default"]["KEY_PREFIX"], GATEWAY_METRICS_FLUSH_SECONDS="0.5"
    )
    counter = CounterProcess(env)
    try:
        counter.count(kind)
        scrape_until(gateway_url, "gateway_rate_limit_refusals_total", 1, kind=kind)
        assert counter.process.poll() is None  # still running: sent by its flusher, not at its exit
    finally:
        assert counter.finish() == 0, "".join(counter.log)

    _, samples = scrape(gateway_url)
    assert value(samples, "gateway_rate_limit_refusals_total", kind=kind) == 1  # sent once, not again at exit


def test_counts_wait_in_their_process_while_redis_is_away_and_stay_bounded() -> None:
    from gateway.accounting.metric_batches import MAX_PENDING_FIELDS

    own = DedicatedRedis()
    own.start()
    prefix = "metrics-away"
    counter = CounterProcess(other_process_env(own.url, prefix, GATEWAY_METRICS_FLUSH_SECONDS="0.2"))
    try:
        own.stop()
        counter.count("rpm")
        eventually(lambda: counter.logged("metrics not sent, kept pending"), what="a failed flush")
        counter.count("rpm")
        counter.count(f"fill {MAX_PENDING_FIELDS + 50}")  # the first that fit, with rpm: the rest dropped
        own.start()

        client = own.client()
        key = f"{prefix}:1:metrics"
        fields = eventually(lambda: hash_fields(client, key), seconds=20, what="the pending counts in Redis")
        assert len(fields) == MAX_PENDING_FIELDS
        assert fields[refusals_field("rpm")] == 2
        assert fields[refusals_field("fill-0")] == 1
        assert refusals_field(f"fill-{MAX_PENDING_FIELDS - 1}") not in fields
        assert counter.process.poll() is None
        assert counter.logged("metrics not sent, kept pending") == 1  # once for the outage
        assert counter.logged("dropping recordings that add fields") == 1
        eventually(lambda: counter.logged("recordings were dropped"), what="the count of dropped recordings")
        assert counter.logged("recordings were dropped") == 1
    finally:
        exit_code = counter.finish()
        own.destroy()
    assert exit_code == 0, "".join(counter.log)


def test_it_reports_the_image_job_queue_depth(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    from kombu import Connection

    settings.CELERY_TASK_DEFAULT_QUEUE = f"metrics-test-{uuid.uuid4().hex}"
    _, samples = scrape(gateway_url)
    assert samples[("gateway_image_jobs_queued", frozenset())] == 0

    with Connection(settings.CELERY_BROKER_URL) as conn:
        client = conn.default_channel.client
        client.lpush(settings.CELERY_TASK_DEFAULT_QUEUE, "job-1", "job-2")
        try:
            _, samples = scrape(gateway_url)
        finally:
            client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert samples[("gateway_image_jobs_queued", frozenset())] == 2


def test_it_still_answers_without_the_queue_gauge_when_the_broker_is_down(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    types, samples = scrape(gateway_url)

    assert types["gateway_image_jobs_queued"] == "gauge"
    assert ("gateway_image_jobs_queued", frozenset()) not in samples


def test_it_asks_for_the_token_when_one_is_set(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_METRICS_TOKEN = "metrics-s3cret"

    missing = requests.get(f"{gateway_url}/metrics", timeout=10)
    wrong = requests.get(f"{gateway_url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)

    assert error_of(missing, 401)["code"] == "invalid_metrics_token"
    assert error_of(wrong, 401)["code"] == "invalid_metrics_token"
    assert "metrics-s3cret" not in missing.text
    types, _ = scrape(gateway_url, Authorization="Bearer metrics-s3cret")
    assert "gateway_requests" in types


def test_it_refuses_other_methods(gateway_url) -> None:  # type: ignore[no-untyped-def]
    assert error_of(requests.post(f"{gateway_url}/metrics", timeout=10), 405)["code"] == "method_not_allowed"


def test_cached_answers_count_as_requests_but_not_as_upstream_tokens(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    ok = {"endpoint": "chat.completions", "model": "gpt-4", "status": "200"}
    prompt = {"endpoint": "chat.completions", "model": "gpt-4", "kind": "prompt"}
    _, start = scrape(gateway_url)
    first = chat(gateway_url, api_key, "gpt-4", temperature=0)
    assert first.headers["x-cache"] == "miss"
    # One transaction holds a request's count and its tokens: once the count is in, so are they.
    before = scrape_until(gateway_url, "gateway_requests_total", value(start, "gateway_requests_total", **ok) + 1, **ok)

    hit = chat(gateway_url, api_key, "gpt-4", temperature=0)
    assert hit.headers["x-cache"] == "hit"

    after = scrape_until(gateway_url, "gateway_requests_total", value(before, "gateway_requests_total", **ok) + 1, **ok)
    assert value(after, "gateway_tokens_total", **prompt) == value(before, "gateway_tokens_total", **prompt)
