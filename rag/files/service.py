"""The Files API's work, no HTTP: store an upload, find, list and delete an owner's files.

Everything is scoped to the owner: another owner's id is looked up exactly like one that does not
exist (None / False), so the views answer both with the same 404.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.files.base import File
from django.db import transaction

from rag.files import storage
from rag.files.request import FileListRequest, UploadRequest
from rag.list_pages import page
from rag.models import STORE_PREFIX, Document
from rag.vector_store_models import StoredFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilePage:
    files: list[StoredFile]
    has_more: bool


def create(body: UploadRequest, owner_id: int, api_key_id: int | None = None) -> StoredFile:
    """Store the upload's bytes, then its row. Bytes whose row could not be written are deleted."""
    name = storage.save_file(body.upload)
    try:
        return StoredFile.objects.create(
            owner_id=owner_id,
            api_key_id=api_key_id,
            filename=body.filename,
            purpose=body.purpose,
            bytes=body.upload.size,
            media_type=body.media_type,
            storage_name=name,
        )
    except BaseException:
        _delete_bytes(name)
        raise


def get(owner_id: int, file_id: str) -> StoredFile | None:
    return StoredFile.objects.filter(owner_id=owner_id, pk=file_id).first()


def list_page(owner_id: int, body: FileListRequest) -> FilePage:
    rows = StoredFile.objects.filter(owner_id=owner_id)
    if body.purpose is not None:
        rows = rows.filter(purpose=body.purpose)
    files, has_more = page(rows, body.query)
    return FilePage(files=files, has_more=has_more)


def open_content(file: StoredFile) -> File:
    """The file's bytes as an open binary file (storage.open_file): FileMissing, StorageUnavailable."""
    return storage.open_file(file.storage_name)


def read_content(file: StoredFile) -> bytes:
    """All of the file's bytes (storage.read_file): FileMissing, StorageUnavailable."""
    return storage.read_file(file.storage_name)


def delete(owner_id: int, file_id: str) -> bool:
    """Delete the file, its chunks in every vector store and (once committed) its bytes.

    One transaction: the file's row is locked, then the documents it became in vector stores
    (owner, namespace "vs_…", external_id the file id; their chunks cascade) and the row are
    deleted (its VectorStoreFile rows cascade). False when the owner has no such file.
    """
    with transaction.atomic():
        found = StoredFile.objects.select_for_update().filter(owner_id=owner_id, pk=file_id).first()
        if found is None:
            return False
        documents = Document.objects.filter(owner_id=owner_id, external_id=file_id, namespace__startswith=STORE_PREFIX)
        pks = list(documents.select_for_update().values_list("pk", flat=True))
        if pks:
            Document.objects.filter(pk__in=pks).delete()
        found.delete()
        name = found.storage_name
        transaction.on_commit(lambda: _delete_bytes(name))
    return True


def _delete_bytes(name: str) -> None:
    # After the row is gone the bytes are unreachable: a storage failure here only leaves them
    # orphaned, logged (gateway/blob_storage.py) rather than failing a delete that has happened.
    try:
        storage.delete_file(name)
    except storage.StorageUnavailable:
        log.warning("the bytes of a deleted file are left in the files storage: %s", name)
