"""OpenAI's Files API (/v1/files): through the official SDK and raw HTTP against the live gateway."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from conftest import error_of, make_key
from django.contrib.auth import get_user_model

from rag.files import storage
from rag.models import Chunk, Document
from rag.store import ChunkInput, replace_document
from rag.vector_store_models import StoredFile, VectorStore, VectorStoreFile

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = b"The cat eats twice a day.\nFresh water sits next to the mat.\n"


@pytest.fixture(autouse=True)
def files_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The files storage: a directory of this test's own (config/settings.py's default backend)."""
    location = tmp_path / "files"
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post_file(gateway_url: str, key: str, files: Any = None, data: Any = None, **kwargs: Any) -> requests.Response:
    return requests.post(f"{gateway_url}/v1/files", files=files, data=data, headers=auth(key), timeout=30, **kwargs)


def call(gateway_url: str, key: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{gateway_url}/v1/files{path}", headers=auth(key), timeout=30, **kwargs)


def not_found_error(file_id: str) -> dict[str, Any]:
    return {
        "message": f"No such File object: {file_id}",
        "type": "invalid_request_error",
        "param": "id",
        "code": "not_found",
    }


def test_upload_from_memory(openai_client, files_dir) -> None:  # type: ignore[no-untyped-def]
    before = int(time.time())
    created = openai_client.files.create(file=("notes.txt", NOTES, "text/plain"), purpose="assistants")

    assert created.id.startswith("file-") and created.object == "file"
    assert (created.bytes, created.filename, created.purpose, created.status) == (
        len(NOTES), "notes.txt", "assistants", "processed"
    )  # fmt: skip
    assert before <= created.created_at <= int(time.time())
    assert created.expires_at is None and created.status_details is None
    row = StoredFile.objects.get(pk=created.id)
    assert row.media_type == "text/plain" and storage.valid_name(row.storage_name)
    assert (files_dir / row.storage_name).read_bytes() == NOTES
    assert storage.read_file(row.storage_name) == NOTES and storage.file_size(row.storage_name) == len(NOTES)


def test_upload_from_a_path_and_read_it_back(openai_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 40_000  # 10 MB of every byte value: above Django's in-memory upload size
    path = tmp_path / "blob.bin"
    path.write_bytes(data)

    created = openai_client.files.create(file=path, purpose="user_data")

    assert (created.filename, created.bytes, created.purpose) == ("blob.bin", len(data), "user_data")
    assert openai_client.files.retrieve(created.id) == created
    assert openai_client.files.content(created.id).content == data


def test_content_answers_the_bytes_with_their_type_and_name(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    answer = post_file(gateway_url, api_key, files={"file": ("notes.md", NOTES, "text/markdown")},
                       data={"purpose": "assistants"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    file_id = answer.json()["id"]

    content = call(gateway_url, api_key, "GET", f"/{file_id}/content")

    assert content.status_code == 200 and content.content == NOTES
    assert content.headers["Content-Type"] == "text/markdown"
    assert content.headers["Content-Disposition"] == 'attachment; filename="notes.md"'
    assert content.headers["Content-Length"] == str(len(NOTES))
    assert content.headers["X-Content-Type-Options"] == "nosniff"


def test_media_type_is_guessed_from_the_name_or_generic(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    guessed = post_file(gateway_url, api_key, files={"file": ("page.html", b"<p>hi</p>", "application/octet-stream")},
                        data={"purpose": "assistants"})  # fmt: skip
    unknown = post_file(gateway_url, api_key, files={"file": ("data.zzz-unknown", b"\x00\x01", "")},
                        data={"purpose": "assistants"})  # fmt: skip

    assert StoredFile.objects.get(pk=guessed.json()["id"]).media_type == "text/html"
    content = call(gateway_url, api_key, "GET", f"/{unknown.json()['id']}/content")
    assert content.headers["Content-Type"] == "application/octet-stream" and content.content == b"\x00\x01"


def test_filename_loses_its_path_and_is_kept_short(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    traversal = post_file(gateway_url, api_key, files={"file": ("../../etc/passwd", b"x", "text/plain")},
                          data={"purpose": "assistants"})  # fmt: skip
    windows = post_file(gateway_url, api_key, files={"file": ("C:\\Users\\me\\report.pdf", b"x", "application/pdf")},
                        data={"purpose": "assistants"})  # fmt: skip
    long = post_file(gateway_url, api_key, files={"file": ("a" * 400 + ".txt", b"x", "text/plain")},
                     data={"purpose": "assistants"})  # fmt: skip

    assert traversal.json()["filename"] == "passwd"
    assert windows.json()["filename"] == "report.pdf"
    name = long.json()["filename"]
    assert len(name) <= 255 and name.endswith(".txt")


@pytest.mark.parametrize("purpose", ["batch", "fine-tune", "vision", "evals"])
def test_every_openai_purpose_is_stored(openai_client, purpose: str) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.files.create(file=("f.jsonl", b"{}\n"), purpose=purpose)  # type: ignore[arg-type]
    assert openai_client.files.retrieve(created.id).purpose == purpose


def test_list_filters_orders_and_pages(openai_client) -> None:  # type: ignore[no-untyped-def]
    ids = [
        openai_client.files.create(file=(f"f{n}.txt", b"text %d" % n), purpose=purpose).id
        for n, purpose in enumerate(["assistants", "user_data", "assistants", "assistants"])
    ]

    newest_first = openai_client.files.list()
    assert [item.id for item in newest_first.data] == ids[::-1] and newest_first.has_more is False
    assert [item.id for item in openai_client.files.list(order="asc").data] == ids
    assert [item.id for item in openai_client.files.list(purpose="user_data").data] == [ids[1]]

    first = openai_client.files.list(purpose="assistants", limit=2)
    assert [item.id for item in first.data] == [ids[3], ids[2]] and first.has_more is True
    rest = openai_client.files.list(purpose="assistants", limit=2, after=first.data[-1].id)
    assert [item.id for item in rest.data] == [ids[0]] and rest.has_more is False
    # The SDK's auto-pagination follows `after` from page to page.
    assert [item.id for item in openai_client.files.list(limit=1, order="asc")] == ids


def test_list_body_is_openais(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    empty = call(gateway_url, api_key, "GET", "/")
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    created = post_file(gateway_url, api_key, files={"file": ("a.txt", b"a")}, data={"purpose": "assistants"}).json()
    listed = call(gateway_url, api_key, "GET", "", params={"limit": 10000}).json()
    assert listed == {"object": "list", "data": [created], "first_id": created["id"], "last_id": created["id"],
                      "has_more": False}  # fmt: skip


def test_delete_then_everything_is_404(openai_client, gateway_url, api_key, files_dir) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.files.create(file=("notes.txt", NOTES), purpose="assistants")
    name = StoredFile.objects.get(pk=created.id).storage_name

    deleted = openai_client.files.delete(created.id)

    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "file", True)
    assert not (files_dir / name).exists()
    assert not StoredFile.objects.filter(pk=created.id).exists()
    for method, path in [("GET", ""), ("GET", "/content"), ("DELETE", "")]:
        error = error_of(call(gateway_url, api_key, method, f"/{created.id}{path}"), 404)
        assert error == not_found_error(created.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve(created.id)
    assert openai_client.files.list().data == []


def test_another_owner_sees_nothing(openai_client, gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.files.create(file=("notes.txt", NOTES), purpose="assistants")
    stranger = make_key("stranger")

    for method, path in [("GET", ""), ("GET", "/content"), ("DELETE", "")]:
        error = error_of(call(gateway_url, stranger, method, f"/{created.id}{path}"), 404)
        assert error == not_found_error(created.id)
    listed = call(gateway_url, stranger, "GET", "")
    assert listed.status_code == 200 and listed.json()["data"] == []
    # A cursor naming another owner's file names nothing in the stranger's list.
    assert error_of(call(gateway_url, stranger, "GET", "", params={"after": created.id}), 400)["param"] == "after"
    assert openai_client.files.content(created.id).content == NOTES  # still the owner's, untouched


def test_a_nonexistent_id_is_the_same_404(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    for file_id in ["file-doesnotexist", "nothing.at.all"]:
        error = error_of(call(gateway_url, api_key, "GET", f"/{file_id}"), 404)
        assert error == not_found_error(file_id)


def test_a_file_whose_bytes_are_gone_is_404(gateway_url, api_key, files_dir) -> None:  # type: ignore[no-untyped-def]
    created = post_file(gateway_url, api_key, files={"file": ("a.txt", b"a")}, data={"purpose": "assistants"}).json()
    (files_dir / StoredFile.objects.get(pk=created["id"]).storage_name).unlink()

    assert error_of(call(gateway_url, api_key, "GET", f"/{created['id']}/content"), 404)["code"] == "not_found"
    assert call(gateway_url, api_key, "DELETE", f"/{created['id']}").json()["deleted"] is True


def _document(owner_id: int, namespace: str, external_id: str) -> Document:
    return replace_document(
        owner_id=owner_id,
        namespace=namespace,
        external_id=external_id,
        title="",
        metadata={},
        source_hash="",
        embedding_model="m",
        chunks=[ChunkInput(text="chunk", vector=[1.0] + [0.0] * 383)],
    )


def test_deleting_a_file_deletes_its_vector_store_documents_only(openai_client, gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    doomed = openai_client.files.create(file=("a.txt", b"a"), purpose="assistants")
    other = openai_client.files.create(file=("b.txt", b"b"), purpose="assistants")
    owner_id = StoredFile.objects.get(pk=doomed.id).owner_id
    stranger_key = make_key("stranger")
    stranger_id = get_user_model().objects.get(username="owner-stranger").pk
    store = VectorStore.objects.create(owner_id=owner_id, embedding_model="text-embedding-ada-002")
    membership = VectorStoreFile.objects.create(vector_store=store, file_id=doomed.id)
    gone = [_document(owner_id, "vs_x", doomed.id), _document(owner_id, "vs_y", doomed.id)]
    kept = [
        _document(owner_id, "vs_x", other.id),  # another file in the same store
        _document(owner_id, "default", doomed.id),  # the same id outside any vector store
        _document(owner_id, "vsx", doomed.id),  # a namespace that only looks like one ("_" is no wildcard)
        _document(stranger_id, "vs_x", doomed.id),  # another owner's document of that id
    ]

    assert call(gateway_url, stranger_key, "DELETE", f"/{doomed.id}").status_code == 404
    assert Document.objects.filter(pk__in=[d.pk for d in gone]).count() == 2
    assert openai_client.files.delete(doomed.id).deleted is True

    assert not Document.objects.filter(pk__in=[d.pk for d in gone]).exists()
    assert not Chunk.objects.filter(document_id__in=[d.pk for d in gone]).exists()
    assert set(Document.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert not VectorStoreFile.objects.filter(pk=membership.pk).exists()
    assert VectorStore.objects.filter(pk=store.pk).exists()
    assert openai_client.files.retrieve(other.id).id == other.id


@pytest.mark.parametrize(
    ("files", "data", "param", "code"),
    [
        ({"file": ("a.txt", b"a")}, {}, "purpose", None),
        ({"file": ("a.txt", b"a")}, {"purpose": ""}, "purpose", None),
        ({"file": ("a.txt", b"a")}, {"purpose": "answers"}, "purpose", None),
        (None, {"purpose": "assistants"}, "file", None),
        ({"file": ("a.txt", b"")}, {"purpose": "assistants"}, "file", "empty_file"),
    ],
)
def test_upload_validation(gateway_url, api_key, files, data, param, code) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post_file(gateway_url, api_key, files=files, data=data), 400)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert not StoredFile.objects.exists()


def test_a_json_body_is_told_to_send_a_file(gateway_url, api_key) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(f"{gateway_url}/v1/files", json={"purpose": "assistants", "file": "x"},
                           headers=auth(api_key), timeout=30)  # fmt: skip
    assert error_of(answer, 400)["param"] == "file"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "file-nope"}, "after"),
        ({"purpose": "answers"}, "purpose"),
    ],
)
def test_list_validation(gateway_url, api_key, params, param) -> None:  # type: ignore[no-untyped-def]
    error = error_of(call(gateway_url, api_key, "GET", "", params=params), 400)
    assert error["param"] == param


def test_a_file_over_the_limit_is_413(gateway_url, api_key, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_FILE_MAX_BYTES = 10

    too_big = post_file(gateway_url, api_key, files={"file": ("a.txt", b"x" * 11)}, data={"purpose": "assistants"})
    at_limit = post_file(gateway_url, api_key, files={"file": ("a.txt", b"x" * 10)}, data={"purpose": "assistants"})

    error = error_of(too_big, 413)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "file", "file_too_large")
    assert "10 bytes" in error["message"]
    assert at_limit.status_code == 200 and at_limit.json()["bytes"] == 10
    assert StoredFile.objects.count() == 1


def test_a_body_over_the_gateway_cap_is_its_413(gateway_url, api_key, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_BODY_BYTES = 2048  # checked first, from Content-Length, before the view runs
    answer = post_file(gateway_url, api_key, files={"file": ("a.txt", b"x" * 4096)}, data={"purpose": "assistants"})
    assert error_of(answer, 413)["code"] == "request_too_large"


def test_the_static_access_token_has_no_owner(gateway_url, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_TOKEN = "static-token"
    token = "static-token"
    upload = post_file(gateway_url, token, files={"file": ("a.txt", b"a")}, data={"purpose": "assistants"})
    for answer in [upload, call(gateway_url, token, "GET", ""), call(gateway_url, token, "GET", "/x")]:
        error = error_of(answer, 403)
        assert (error["type"], error["code"]) == ("permission_error", "owner_required")


def test_no_key_is_401(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    answer = requests.get(f"{gateway_url}/v1/files", timeout=30)
    assert error_of(answer, 401)["code"] == "missing_api_key"


def test_a_storage_that_cannot_answer_is_503(gateway_url, api_key, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": blocked}},
    }

    answer = post_file(gateway_url, api_key, files={"file": ("a.txt", b"a")}, data={"purpose": "assistants"})

    error = error_of(answer, 503)
    assert (error["type"], error["code"]) == ("server_error", "service_unavailable")
    assert answer.headers["Retry-After"] == "5"
    assert not StoredFile.objects.exists()


def test_storage_names_are_checked() -> None:
    for name in ["../x", "file_" + "0" * 31, "file_" + "A" * 32, "img_" + "0" * 32 + ".png", "file_" + "0" * 32 + "/"]:
        assert not storage.valid_name(name)
        with pytest.raises(storage.FileMissing):
            storage.open_file(name)
        storage.delete_file(name)  # a name never given out: nothing to do
