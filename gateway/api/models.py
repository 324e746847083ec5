"""GET /v1/models and GET /v1/models/{id}."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.errors import GatewayError
from gateway.routing import RouteTarget, route_table


def _model_body(name: str, targets: tuple[RouteTarget, ...]) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": min(target.created for target in targets),
        "owned_by": targets[0].provider.name,
    }


class ModelListView(APIView):
    def get(self, request: Request) -> Response:
        principal = request.user
        table = route_table()
        data = [_model_body(name, table.by_name[name]) for name in table.names() if principal.allows(name)]
        return Response({"object": "list", "data": data})


class ModelDetailView(APIView):
    def get(self, request: Request, model_id: str) -> Response:
        # Path converters see the decoded path, so "@cf%2Fmeta%2F…" arrives as "@cf/meta/…".
        targets = route_table().by_name.get(model_id)
        if not targets or not request.user.allows(model_id):
            raise GatewayError(
                404,
                f"The model '{model_id}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return Response(_model_body(model_id, targets))
