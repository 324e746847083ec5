"""schemathesis drives every /v1 operation of the OpenAPI document against the live gateway (the
document built in-process, which tests/gateway/http/test_openapi.py checks is the one served).

For each operation: the document's examples, then its coverage cases (boundaries, missing and
wrong-typed fields), then bounded random bodies, valid and invalid, from a fixed seed. Every answer
must be no 5xx, a content type the document gives for its status (so every error is JSON), a
status the document lists, and a body that matches the document's schema for it. The suite-wide
guard (tests/conftest.py no_500_or_html) watches the server side as well.

Most bodies get a model the gateway serves for the operation (a map_body hook), so the fuzz
reaches the families' parsers and the emulator, not only the unknown-model refusal. A Celery
worker runs (image generations, vector store files), as it does beside `make run`.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SEED = 20261127
MAX_EXAMPLES = 20  # random bodies per operation, after its examples and coverage cases

# A model the seeded routes serve, by operation path (gateway/catalog/seed.py).
MODELS = {
    "/v1/chat/completions": ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo"),
    "/v1/completions": ("gpt-3.5-turbo-instruct",),
    "/v1/embeddings": ("text-embedding-3-small", "text-embedding-ada-002"),
    "/v1/moderations": ("omni-moderation-latest",),
    "/v1/audio/transcriptions": ("whisper-1",),
    "/v1/audio/translations": ("whisper-1",),
    "/v1/audio/speech": ("tts-1",),
    "/v1/images/generations": ("dall-e-2",),
    "/v1/responses": ("gpt-4o-mini",),
    "/v1/rag/chat": ("gpt-4o-mini",),
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _document() -> dict[str, Any]:
    """The document /openapi.json serves (tests/gateway/http/test_openapi.py compares the two)."""
    from gateway.http.openapi import SchemaView, build_document

    return build_document(SchemaView.generator_class)


schema = schemathesis.openapi.from_dict(
    _document(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "request-timeout": 30,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                # Chains walk valid calls, so each step can reach the object the one before made.
                "stateful": {"generation": {"mode": "positive"}},
            },
        }
    ),
)


@schema.hook
def map_body(context: Any, body: Any) -> Any:
    models = MODELS.get(context.operation.path)
    if not models or not isinstance(body, dict):
        return body
    # Three bodies in four get a served model; the fourth keeps what was generated. crc32, not
    # hash(): the same seed must give the same run in every process.
    pick = zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode())
    if pick % 4:
        body["model"] = models[pick % len(models)]
    return body


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the server and key serve every input
def test_every_operation_answers_as_documented(case, live_server, api_key: str, celery_worker) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS)


STATEFUL_SCENARIOS = 40  # chains of calls, each up to STATEFUL_STEPS long
STATEFUL_STEPS = 6


def test_chained_operations_answer_as_documented(live_server, api_key: str, celery_worker) -> None:  # type: ignore[no-untyped-def]
    """The document's links chain operations (create a file, then fetch, attach or delete it …):
    schemathesis's state machine walks them with the ids the gateway answered, holding every
    answer to the same checks."""
    headers = {"Authorization": f"Bearer {api_key}"}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):  # type: ignore[no-untyped-def]
            return {"base_url": live_server.url, "headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):  # type: ignore[no-untyped-def]
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,  # the same chains every run
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
