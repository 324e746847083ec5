"""What the routing tests share: gpt-4's routes rearranged as an operator would (a second route,
the first moved to a provider nobody listens on) and GET /metrics read as Prometheus would."""

from __future__ import annotations

import socket

import requests
from prometheus_client.parser import text_string_to_metric_families

LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
LLAMA_8B = "@cf/meta/llama-3.1-8b-instruct-fp8"
HI = [{"role": "user", "content": "hi"}]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def second_route(upstream_model: str = LLAMA_8B, public_name: str = "gpt-4", task: str = "chat"):  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute, Provider

    return ModelRoute.objects.create(
        public_name=public_name,
        task=task,
        upstream_model=upstream_model,
        provider=Provider.objects.get(name="workers-ai"),
        context_window=32_000,
        priority=5,
    )


def first_route(public_name: str = "gpt-4"):  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    return ModelRoute.objects.filter(public_name=public_name, task="chat").order_by("priority", "id").first()


def unreachable_first_route() -> object:
    """gpt-4's first route moved to a provider nobody listens on."""
    from gateway.models import Provider

    dead = Provider.objects.create(
        name="unreachable",
        base_url=f"http://127.0.0.1:{closed_port()}/client/v4",
        account_id="x",
        api_token_env="",
        api_token="x",
        connect_timeout=1,
    )
    route = first_route()
    route.provider = dead
    route.save()
    return route


def scrape(gateway_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{gateway_url}/metrics", timeout=10)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def cooldown_seconds(samples: dict, route_id: int) -> float:
    for (name, labels), value in samples.items():
        if name == "gateway_route_cooldown_seconds" and dict(labels)["route_id"] == str(route_id):
            return value
    raise AssertionError(f"no cooldown sample for route {route_id}")


def post(gateway_url: str, api_key: str, path: str, body: dict) -> requests.Response:
    """POST a JSON body to /v1/<path> with the key, as a plain HTTP client (to read error envelopes)."""
    return requests.post(
        f"{gateway_url}/v1/{path}", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )
