"""A local S3 server (moto in server mode: real HTTP, real boto3, nothing patched) and the storage
entries config/settings.py builds for it, for the S3 storage tests of images and files.

The storage options are not copied here: they are read from config/settings.py itself, run in a
process of its own with the GATEWAY_S3_* variables set (settings are read once per process), and
put in place with the `settings` fixture. Changing STORAGES sends setting_changed, on which Django
empties its storage handler (django/test/signals.py storages_changed), so the next
`storages[alias]` is built from the new entry; the fixture's undo does the same.
"""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
from typing import Any

import boto3
from conftest import database_url
from moto.server import ThreadedMotoServer
from servers import ROOT

BUCKET = "gateway-images"
REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key"


class LocalS3:
    """moto's S3 server on loopback, with the gateway's bucket; `stop()` takes it down mid-test."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.running = True
        client(self.url).create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        if self.running:  # werkzeug closes the listening socket too: connections are refused
            self._server.stop()
            self.running = False


def client(url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )


def settings_storage(endpoint_url: str, alias: str, **variables: str) -> dict[str, Any]:
    """STORAGES[alias] exactly as config/settings.py builds it for GATEWAY_IMAGE_STORAGE=s3, this
    server and these extra variables (the prefixes)."""
    from django.conf import settings

    env = {
        **os.environ,
        # Given, so importing the settings starts no embedded service of its own.
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "GATEWAY_IMAGE_STORAGE": "s3",
        "GATEWAY_S3_BUCKET": BUCKET,
        "GATEWAY_S3_ENDPOINT_URL": endpoint_url,
        "GATEWAY_S3_REGION": REGION,
        "GATEWAY_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "GATEWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        **variables,
    }
    # pickle, not JSON: the options may hold objects (a botocore Config) as well as strings.
    program = (
        "import base64, pickle, config.settings as s;"
        f"print(base64.b64encode(pickle.dumps(s.STORAGES[{alias!r}])).decode())"
    )
    out = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, check=True, text=True)
    entry: dict[str, Any] = pickle.loads(base64.b64decode(out.stdout))  # noqa: S301 (our own child's output)
    assert entry["BACKEND"] == "storages.backends.s3.S3Storage"
    return entry
