"""Files and vector stores in the admin: per owner, with counts and status; deleting there acts as
the API's DELETE does."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from vector_store_helpers import fill_store, upload_three

from rag.models import Document, StoredFile, VectorStore

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store_and_files(openai_client, routes, celery_worker):  # type: ignore[no-untyped-def]
    files = upload_three(openai_client)
    bad = openai_client.files.create(file=("blob.bin", bytes(range(256)) * 4), purpose="assistants").id
    store = fill_store(openai_client, files, name="handbook")
    failed = openai_client.vector_stores.files.create_and_poll(bad, vector_store_id=store.id)
    assert failed.status == "failed"
    return store, {**files, "bad": bad}


def test_the_store_list_shows_counts_and_status(operator, store_and_files) -> None:  # type: ignore[no-untyped-def]
    store, _ = store_and_files

    page = operator.get("/admin/rag/vectorstore/").content.decode()

    assert '<table id="result_list"' in page and store.id in page and "handbook" in page
    row = page[page.index(store.id) :].split("</tr>")[0]
    cells = [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:]]
    assert cells[2:6] == ["completed", "3", "0", "1"]  # status, completed, in progress, failed


def test_a_store_shows_its_files_and_their_errors(operator, store_and_files) -> None:  # type: ignore[no-untyped-def]
    store, files = store_and_files

    page = operator.get(f"/admin/rag/vectorstore/{quote(store.id)}/change/").content.decode()

    assert all(file_id in page for file_id in files.values())
    assert "The file cannot be read as text" in page  # the failed file's last error


def test_the_file_list_shows_sizes_and_stores(operator, store_and_files) -> None:  # type: ignore[no-untyped-def]
    _, files = store_and_files

    page = operator.get("/admin/rag/storedfile/").content.decode()

    assert "cats.txt" in page and "blob.bin" in page and "1.0 kB" in page
    row = page[page.index(files["cats"]) :].split("</tr>")[0]
    cells = [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:]]
    assert cells[-2] == "1"  # in one store
    found = operator.get(f"/admin/rag/storedfile/?q={files['tea']}").content.decode()
    assert "tea.txt" in found and "cats.txt" not in found


def test_deleting_in_the_admin_acts_as_the_api_does(operator, store_and_files) -> None:  # type: ignore[no-untyped-def]
    store, files = store_and_files

    operator.post(f"/admin/rag/storedfile/{quote(files['cats'])}/delete/", {"post": "yes"})
    assert not StoredFile.objects.filter(pk=files["cats"]).exists()
    assert not Document.objects.filter(external_id=files["cats"]).exists()

    operator.post(f"/admin/rag/vectorstore/{quote(store.id)}/delete/", {"post": "yes"})
    assert not VectorStore.objects.filter(pk=store.id).exists()
    assert not Document.objects.filter(namespace=store.id).exists()
    assert StoredFile.objects.filter(pk=files["tea"]).exists()  # a store's files stay
