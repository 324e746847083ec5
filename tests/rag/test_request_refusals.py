"""Inputs that were 500s: a NUL, which Postgres' text and jsonb cannot hold or compare (schemathesis
found it in file_ids, tests/gateway/http/test_openapi_fuzz.py; the other fields had the same fault),
and digits str.isdigit() accepts but int() refuses ("²"). Each is a 400 now."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from gateway.errors import GatewayError
from rag.list_pages import parse_list_query
from rag.request import parse_document_request, parse_search_request, parse_upload
from rag.vector_stores.request import parse_attributes_update, parse_file_specs, parse_store_create


def refused(parse, *args) -> str | None:  # type: ignore[no-untyped-def]
    with pytest.raises(GatewayError) as caught:
        parse(*args)
    assert caught.value.status == 400
    return caught.value.param


@pytest.mark.parametrize("limit", ["²", "١٢", "1.5", "-1"])
def test_a_limit_is_ascii_digits(limit: str) -> None:
    assert refused(parse_list_query, QueryDict(f"limit={limit}")) == "limit"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\x00b"},
        {"metadata": {"k": "a\x00"}},
        {"metadata": {"k\x00": "a"}},
        {"file_ids": ["file-\x00"]},
    ],
)
def test_a_vector_store_refuses_nul(body: dict) -> None:
    refused(parse_store_create, body)


def test_attributes_and_file_ids_refuse_nul() -> None:
    assert refused(parse_attributes_update, {"attributes": {"k": "\x00"}}) == "attributes"
    assert refused(parse_file_specs, {"files": [{"file_id": "\x00"}]}) == "files[0].file_id"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("namespace", "a\x00"),
        ("title", "a\x00"),
        ("document_id", "a\x00"),
        ("metadata", {"k": "\x00"}),
    ],
)
def test_a_document_refuses_nul(field: str, value: object) -> None:
    assert refused(parse_document_request, {"text": "Some text.", field: value}) == field


def test_a_search_refuses_nul() -> None:
    assert refused(parse_search_request, {"query": "q", "namespace": "\x00"}) == "namespace"
    assert refused(parse_search_request, {"query": "q", "filter": {"k": "\x00"}}) == "filter"


def test_an_upload_chunk_size_of_other_digits_is_refused() -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = QueryDict(mutable=True)
    form.update({"chunk_size": "²"})
    form["file"] = SimpleUploadedFile("notes.txt", b"Some text.", content_type="text/plain")
    assert refused(parse_upload, form) == "chunk_size"
