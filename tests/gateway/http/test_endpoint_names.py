"""The ledger's endpoint names come from the URL routes, regex routes with groups included."""

from __future__ import annotations

import pytest

from gateway.http.ledger_middleware import endpoint_of


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/chat/completions", "chat.completions"),
        ("/v1/models/@cf/meta/llama", "models"),
        ("/v1/responses/resp_1", "responses"),  # a group holding [^/]+ once leaked "]+)" into the name
        ("/v1/responses/resp_1/input_items", "responses.input_items"),
        ("/v1/files/file-1/content", "files.content"),
        ("/v1/vector_stores/vs_1/files/file-1", "vector_stores.files"),
        ("/v1/vector_stores/vs_1/file_batches/vsfb_1/cancel", "vector_stores.file_batches.cancel"),
        ("/v1/nothing/here", "unknown"),
    ],
)
def test_endpoint_names(path: str, name: str) -> None:
    assert endpoint_of(path) == name
