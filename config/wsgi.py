"""WSGI entry point: `gunicorn config.wsgi:application -c config/gunicorn.conf.py`."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Import every view now, in each worker as it boots, rather than in its first request (which
# would otherwise pay the URLconf's imports: tens of milliseconds).
get_resolver().url_patterns  # noqa: B018
