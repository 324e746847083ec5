"""A revocation by queryset update() — no post_save signal — reaches every worker at once: real
gunicorn, two workers, each holding its own copy of the key's state (gateway/stamps.py), and the
update made by `manage.py shell`, a process of its own, as a script of an operator's would be."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from fault_stack import GatewayStack

from gateway.testing.emulator import WorkersAIEmulator

BULK_REVOKE = (
    "from django.utils import timezone; from gateway.models import ApiKey; "
    "print(ApiKey.objects.filter(revoked_at__isnull=True).update(revoked_at=timezone.now()))"
)


@pytest.fixture
def stack(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[GatewayStack]:
    gateway = GatewayStack(fresh_database, settings.REDIS_URL, upstream.base_url, tmp_path, GATEWAY_WORKERS="2")
    yield gateway.start()
    gateway.stop()


def test_a_bulk_revocation_applies_on_the_next_request_of_every_worker(
    stack: GatewayStack, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key()

    before = stack.chats_on_new_connections(key)
    assert [answer.status_code for answer in before] == [200] * 16  # each worker holds the key as good
    assert len(stack.worker_pids()) == 2

    assert stack.manage("shell", "-c", BULK_REVOKE).strip().splitlines()[-1] == "1"
    served = len(upstream.requests)
    after = stack.chats_on_new_connections(key)

    assert [answer.status_code for answer in after] == [401] * 16
    assert {answer.json()["error"]["message"] for answer in after} == {"This API key has been revoked."}
    assert len(upstream.requests) == served
