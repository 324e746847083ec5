"""Files uploaded to POST /v1/rag/documents as multipart: read, chunked, embedded, searchable."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from conftest import error_of, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = b"# Feeding the cat\n\nThe cat eats twice a day.\n\nFresh water sits next to the mat.\n"
PAGE = (
    b"<!doctype html><html><head><title>Garden notes</title><style>p {color: red}</style>"
    b"<script>var secret = 'never indexed';</script></head>"
    b"<body><h1>Roses</h1><p>Roses need sun &amp; water.</p></body></html>"
)


def upload(gateway_url: str, key: str, name: str, data: bytes, kind: str, **fields: Any) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/rag/documents",
        files={"file": (name, data, kind)},
        data=fields,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def get(gateway_url: str, key: str, path: str, **params: Any) -> dict[str, Any]:
    answer = requests.get(
        f"{gateway_url}/v1/rag/{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_markdown_file_is_stored_under_its_name_and_found(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = upload(gateway_url, api_key, "notes.md", NOTES, "text/markdown", metadata='{"topic": "pets"}')

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"success": True, "document_id": "notes.md", "namespace": "default", "chunks_processed": 1}
    stored = get(gateway_url, api_key, "documents/notes.md")
    assert (stored["title"], stored["metadata"]) == ("Feeding the cat", {"topic": "pets"})
    found = requests.post(
        f"{gateway_url}/v1/rag/search",
        json={"query": "how often does the cat eat", "score_threshold": 0.1},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    ).json()
    assert found["sources"][0]["document_id"] == "notes.md"
    assert "twice a day" in found["sources"][0]["text"]


def test_an_html_file_is_read_as_its_visible_text(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = upload(gateway_url, api_key, "garden.html", PAGE, "text/html", document_id="garden", namespace="home")

    assert answer.status_code == 200, answer.text
    (embedded,) = routes.requests[0].json["text"]
    assert "Roses need sun & water." in embedded and "Roses" in embedded
    assert "secret" not in embedded and "color" not in embedded
    assert get(gateway_url, api_key, "documents/garden", namespace="home")["title"] == "Garden notes"


def test_uploading_the_same_name_again_replaces_it(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    upload(gateway_url, api_key, "notes.txt", b"first version about cats", "text/plain")
    upload(gateway_url, api_key, "notes.txt", b"second version about dogs", "text/plain")

    listed = get(gateway_url, api_key, "documents")["data"]
    assert [item["document_id"] for item in listed] == ["notes.txt"]


def test_a_file_that_is_not_text_is_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    error = error_of(upload(gateway_url, api_key, "cat.png", png, "image/png"), 400)
    assert (error["param"], error["code"]) == ("file", "unreadable_file")
    assert routes.requests == []


def test_a_file_over_the_upload_limit_is_refused(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RAG_MAX_UPLOAD_BYTES = 1024
    error = error_of(upload(gateway_url, api_key, "big.txt", b"word " * 400, "text/plain"), 400)
    assert (error["param"], error["code"]) == ("file", "file_too_large")


def test_a_multipart_body_needs_its_file(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(
        f"{gateway_url}/v1/rag/documents",
        files={"document": ("a.txt", b"text", "text/plain")},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert error_of(answer, 400)["param"] == "file"


def test_bad_form_metadata_is_a_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = upload(gateway_url, api_key, "a.txt", b"some text", "text/plain", metadata="{not json")
    assert error_of(answer, 400)["param"] == "metadata"


def wait_for_status(gateway_url: str, key: str, document_id: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        document = get(gateway_url, key, f"documents/{document_id}")
        if document["status"] == wanted or time.monotonic() > deadline:
            assert document["status"] == wanted, document
            return document
        time.sleep(0.1)


def test_a_large_document_is_ingested_by_a_task(gateway_url, api_key, routes, settings, celery_worker) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RAG_SYNC_MAX_CHARS = 2000
    text = " ".join(f"Paragraph {i} tells how the cat sat on the mat." for i in range(200))

    as_json = requests.post(
        f"{gateway_url}/v1/rag/documents",
        json={"text": text, "document_id": "big-json"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert as_json.status_code == 200  # JSON text is always embedded within its request
    routes.reset()
    answer = upload(gateway_url, api_key, "big.txt", text.encode(), "text/plain", document_id="big")

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"success": True, "document_id": "big", "namespace": "default", "chunks_processed": 0,
                             "status": "processing"}  # fmt: skip
    ready = wait_for_status(gateway_url, api_key, "big", "ready")
    assert ready["chunks"] > 5 and ready["dimensions"] == 768
    assert sum(len(request.json["text"]) for request in routes.requests) == ready["chunks"]  # each once
    found = requests.post(
        f"{gateway_url}/v1/rag/search",
        json={"query": "paragraph cat sat on the mat", "score_threshold": 0.1, "top_k": 50},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    ).json()
    assert "big" in {source["document_id"] for source in found["sources"]}
    (record,) = usage_records(1, endpoint="rag.documents", status=202)  # the JSON one answered 200
    assert record.usage_estimated and record.prompt_tokens > 0


def test_a_task_that_cannot_embed_marks_it_failed(gateway_url, api_key, routes, settings, celery_worker) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RAG_SYNC_MAX_CHARS = 100
    routes.inject_error(status=400, code=5006, message="Bad input", model="@cf/baai/bge-base-en-v1.5", times=5)

    answer = upload(gateway_url, api_key, "doomed.txt", b"word " * 100, "text/plain", document_id="doomed")

    assert answer.status_code == 202
    failed = wait_for_status(gateway_url, api_key, "doomed", "failed")
    assert failed["chunks"] == 0 and "Bad input" in failed["error"]
