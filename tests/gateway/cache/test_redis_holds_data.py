"""Redis holds data, not code: everything the gateway caches is JSON (or a raw integer), and a
pickle planted where a key's state is cached is never unpickled (gateway/cache/backend.py)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import requests
from django.core.cache import cache

from gateway import stamps
from gateway.access.auth import cache_key
from gateway.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


class _Planted:
    """Unpickling this creates a file: the proof that a pickle from Redis was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def chat(gateway_url: str, key: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "temperature": 0},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_every_cached_value_is_json_or_an_integer(gateway_url: str, api_key: str) -> None:
    assert chat(gateway_url, api_key).status_code == 200
    assert chat(gateway_url, api_key + "x").status_code == 401  # a known-unknown key is cached too
    client = cache._cache.get_client(write=True)
    names = [name for name in client.scan_iter(match=cache.make_key("") + "*") if client.type(name) == b"string"]
    kinds = {name.decode().split(":")[2] for name in names}
    assert {"apikey", "routes"} <= kinds  # the key states and the route snapshot were stored
    for name in names:
        value = client.get(name)
        assert not value.startswith(b"\x80"), name  # pickle's protocol marker
        json.loads(value)  # JSON, or an integer counter (valid JSON as well)


def test_a_pickle_planted_in_redis_is_never_unpickled(gateway_url: str, api_key: str, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    key_hash = ApiKey.hash_key(api_key)
    client = cache._cache.get_client(write=True)
    client.set(cache.make_key(cache_key(key_hash)), pickle.dumps(_Planted(marker)))
    stamps.bump("keys")  # every process reads the key's state from Redis again

    answer = chat(gateway_url, api_key)

    assert answer.status_code == 200, answer.text  # a spoiled entry is a miss: read from the database
    assert not marker.exists()
