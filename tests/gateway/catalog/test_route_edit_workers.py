"""A route edit reaches every worker at once: real gunicorn, two workers, each holding its own copy of
the route table (gateway/stamps.py). The edit is made by `manage.py shell`, a process of its own, as
an operator's admin save would be; the very next requests, on fresh connections spread over both
workers, go to the new upstream model, though each worker still held the old table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from fault_stack import GatewayStack

from gateway.testing.emulator import WorkersAIEmulator

LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"  # gpt-4's seeded route
LLAMA_8B = "@cf/meta/llama-3.1-8b-instruct-fp8"
REMAP = (
    "from gateway.models import ModelRoute; route = ModelRoute.objects.get(public_name='gpt-4'); "
    f"route.upstream_model = '{LLAMA_8B}'; route.save()"
)


@pytest.fixture
def stack(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[GatewayStack]:
    gateway = GatewayStack(fresh_database, settings.REDIS_URL, upstream.base_url, tmp_path, GATEWAY_WORKERS="2")
    yield gateway.start()
    gateway.stop()


def test_a_remap_applies_on_the_next_request_of_every_worker(stack: GatewayStack, upstream: WorkersAIEmulator) -> None:
    key = stack.issue_key()

    before = stack.chats_on_new_connections(key)
    assert [answer.status_code for answer in before] == [200] * 16
    assert {request.model for request in upstream.requests} == {LLAMA_70B}
    assert len(stack.worker_pids()) == 2

    stack.manage("shell", "-c", REMAP)
    served = len(upstream.requests)
    after = stack.chats_on_new_connections(key)

    assert [answer.status_code for answer in after] == [200] * 16
    assert [request.model for request in upstream.requests[served:]] == [LLAMA_8B] * 16
