"""Responses that write their usage record after the client has the body."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.response import Response

from gateway.accounting.entry import UsageEntry
from gateway.accounting.ledger import settle


class _SettledOnClose:
    """Writes the response's UsageRecord in close().

    WSGI servers call close() once the body is on the wire, so the ledger insert (about a
    millisecond) never sits between the upstream's answer and the client. It runs before
    Django's own close(), whose request_finished handler hands the DB connection back.
    """

    _usage_entry: UsageEntry

    def close(self) -> None:
        try:
            settle(self._usage_entry)
        finally:
            super().close()  # type: ignore[misc]


class SettledResponse(_SettledOnClose, Response):
    """A JSON response whose UsageRecord is written in close()."""

    def __init__(self, data: Any, entry: UsageEntry, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self._usage_entry = entry


class SettledTextResponse(_SettledOnClose, HttpResponse):
    """A plain-text answer (subtitles, a bare transcript) whose UsageRecord is written in close()."""

    def __init__(self, content: str, entry: UsageEntry, *, content_type: str, headers: dict[str, str]) -> None:
        super().__init__(content, content_type=content_type, headers=headers)
        self._usage_entry = entry
