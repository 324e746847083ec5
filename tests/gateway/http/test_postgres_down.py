"""Postgres out of reach, on the production server command (tests/fault_stack.py): model requests
are still served (keys, routes, prices and budgets are read from Redis), a request that needs the
database itself answers a 503 envelope with Retry-After, and once Postgres is back every request
of the outage is in the ledger. (Under load: tests/gateway/accounting/test_ledger_faults.py.)
"""

from __future__ import annotations

from pathlib import Path

import requests
from conftest import error_of
from fault_stack import DedicatedPostgres, DedicatedRedis, GatewayStack, eventually

from gateway.testing.emulator import WorkersAIEmulator


def test_model_requests_go_on_and_the_usage_report_is_a_503_until_postgres_is_back(
    upstream: WorkersAIEmulator, tmp_path: Path
) -> None:
    redis_server, postgres = DedicatedRedis(), DedicatedPostgres()
    redis_server.start()
    stack = GatewayStack(postgres.url, redis_server.url, upstream.base_url, tmp_path).start()
    try:
        key = stack.issue_key()
        auth = {"Authorization": f"Bearer {key}"}
        answers = [stack.chat(key)]  # the key and its routes are now in Redis

        postgres.stop()
        answers += [stack.chat(key), stack.chat(key, stream=True)]
        report = requests.get(f"{stack.url}/v1/usage", headers=auth, timeout=30)

        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert answers[2].text.rstrip().endswith("data: [DONE]")
        error = error_of(report, 503)
        assert (error["type"], error["code"]) == ("server_error", "service_unavailable")
        assert report.headers["Retry-After"] == "5"

        postgres.start()
        # The pool replaces the connections the shutdown closed as it hands them out.
        eventually(lambda: requests.get(f"{stack.url}/v1/usage", headers=auth, timeout=30).ok, what="the report")
        wanted = {answer.headers["x-request-id"] for answer in [*answers, report]}

        def ours() -> list[dict]:
            return [record for record in stack.records() if record["request_id"] in wanted]

        records = eventually(lambda: len(found := ours()) >= len(wanted) and found, what="every record of the outage")
        assert sorted(record["status"] for record in records) == [200, 200, 200, 503]  # one each
    finally:
        stack.stop()
        postgres.destroy()
        redis_server.destroy()
