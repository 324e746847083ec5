"""The Files API: POST and GET /v1/files, GET and DELETE /v1/files/{id}, GET /v1/files/{id}/content.

Not model endpoints: no route, no admission, no usage of their own (the ledger middleware records
each request). Every one acts for the key's owner only (rag.service.owner_of: the static
ACCESS_TOKEN is a 403); another owner's file is the same 404 as one that never existed.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.utils import extend_schema_view
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.errors import GatewayError
from gateway.http.envelope import UNAVAILABLE_RETRY_AFTER_SECONDS
from gateway.http.input_limits import LimitedJSONParser
from rag.files import openapi, render, service, storage
from rag.files.request import DEFAULT_MEDIA_TYPE, parse_list, parse_upload
from rag.service import owner_of
from rag.vector_store_models import StoredFile


def _not_found(file_id: str) -> GatewayError:
    return GatewayError(404, f"No such File object: {file_id}", param="id", code="not_found")


def _storage_down() -> GatewayError:
    return GatewayError(
        503,
        "The file storage cannot be reached right now; retry in a few seconds.",
        type="server_error",
        code="service_unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def _owned(request: Request, file_id: str) -> StoredFile:
    found = service.get(owner_of(request.user), file_id)
    if found is None:
        raise _not_found(file_id)
    return found


@extend_schema_view(post=openapi.CREATE, get=openapi.LIST)
class FilesView(APIView):
    # Multipart is the upload; JSON and plain forms are parsed only to be refused with a clear 400.
    parser_classes = [MultiPartParser, FormParser, LimitedJSONParser]

    def post(self, request: Request) -> Response:
        owner_id = owner_of(request.user)
        body = parse_upload(request.data)
        try:
            created = service.create(body, owner_id, api_key_id=request.user.key_id)
        except storage.StorageUnavailable as exc:
            raise _storage_down() from exc
        return Response(render.file_body(created))

    def get(self, request: Request) -> Response:
        owner_id = owner_of(request.user)
        return Response(render.list_of(service.list_page(owner_id, parse_list(request.query_params))))


@extend_schema_view(get=openapi.RETRIEVE, delete=openapi.DELETE)
class FileDetailView(APIView):
    def get(self, request: Request, file_id: str) -> Response:
        return Response(render.file_body(_owned(request, file_id)))

    def delete(self, request: Request, file_id: str) -> Response:
        if not service.delete(owner_of(request.user), file_id):
            raise _not_found(file_id)
        return Response(render.deleted_body(file_id))


@extend_schema_view(get=openapi.CONTENT)
class FileContentView(APIView):
    def get(self, request: Request, file_id: str) -> FileResponse:
        found = _owned(request, file_id)
        try:
            handle = service.open_content(found)
        except storage.FileMissing as exc:  # the row outlived its bytes: as good as gone
            raise _not_found(file_id) from exc
        except storage.StorageUnavailable as exc:
            raise _storage_down() from exc
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=found.filename,
            content_type=found.media_type or DEFAULT_MEDIA_TYPE,
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response
