"""A cooldown is shared through Redis by every gateway process: two gateways (the production
server command, as two replicas behind a load balancer) on one database and one Redis; the one
whose requests find the first route failing cools it down, and the other skips it from then on.
The route is added as code (manage.py import_routes) on the running stack, as an operator would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import PERSISTENT
from fault_stack import DedicatedRedis, GatewayStack
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing.emulator import WorkersAIEmulator

LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
LLAMA_8B = "@cf/meta/llama-3.1-8b-instruct-fp8"
SECOND_ROUTE = f"""
routes:
  - {{public_name: gpt-4, task: chat, provider: workers-ai, upstream_model: "{LLAMA_8B}", priority: 1,
     capabilities: [tools, json_mode], context_window: 32000}}
"""
COOLDOWN = {
    "GATEWAY_COOLDOWN_FAILURES": "2",
    "GATEWAY_COOLDOWN_SECONDS": "120",
    "GATEWAY_UPSTREAM_RETRIES": "0",  # one attempt per route: the upstream calls are counted exactly
}


@pytest.fixture
def replicas(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[list[GatewayStack]]:
    redis = DedicatedRedis()
    redis.start()
    stacks: list[GatewayStack] = []
    prefix = f"replicas{os.getpid()}"  # one gateway's two replicas: the same Redis keys
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            stacks.append(
                GatewayStack(fresh_database, redis.url, upstream.base_url, tmp_path / name, prefix=prefix, **COOLDOWN)
            )
            stacks[-1].start()
        yield stacks
    finally:
        for stack in stacks:
            stack.stop()
        redis.destroy()


def cooldown_seconds(url: str) -> dict[str, float]:
    """upstream model → seconds of cooldown left, for gpt-4's routes, from GET /metrics."""
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    left = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "gateway_route_cooldown_seconds" and sample.labels["public_name"] == "gpt-4":
                left[sample.labels["upstream_model"]] = sample.value
    return left


def test_a_cooldown_started_by_one_gateway_is_honoured_by_another(replicas, upstream, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = replicas
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(SECOND_ROUTE)
    assert "create route gpt-4" in first.manage("import_routes", str(routes_file))
    key = first.issue_key()
    upstream.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT)

    for _ in range(2):  # the first gateway: 70B refuses, 8B answers; the second failure cools 70B
        assert first.chat(key).json()["choices"][0]["message"]["content"] == "Hello! You said: hi"
    assert [request.model for request in upstream.requests] == [LLAMA_70B, LLAMA_8B] * 2

    for _ in range(3):  # the other gateway goes straight to the second route
        assert second.chat(key).status_code == 200
    assert [request.model for request in upstream.requests][4:] == [LLAMA_8B] * 3

    left = cooldown_seconds(second.url)
    assert 0 < left[LLAMA_70B] <= 120 and left[LLAMA_8B] == 0
