"""Settings, all read from the environment (see .env.example and README's configuration table).

Everything about the machine lives here; everything an operator may change without a deploy
(providers, model routes, keys, limits) lives in the database and the admin.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import embedded
from config.env import env_bool, env_float, env_int, env_list, env_str
from config.paths import BASE_DIR, data_dir

DATA_DIR = data_dir()

DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, or a random key kept in DATA_DIR so every local process shares it.

    API keys are stored as HMACs under it unless GATEWAY_KEY_HASH_SECRET is set apart.
    """
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        candidate = secrets.token_urlsafe(50)
        try:
            with open(key_file, "x") as handle:  # "x": of two racing processes, one writes
                handle.write(candidate)
            key_file.chmod(0o600)
        except FileExistsError:
            pass
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# API keys are stored as HMAC-SHA256 under this secret (gateway/models.py). Unset, it is
# DJANGO_SECRET_KEY, as before it existed; set it (to that same value, for keys issued until then)
# and DJANGO_SECRET_KEY can rotate without revoking every key. To rotate it in turn, move the old
# value into the fallbacks: a key found under one is re-hashed under the current secret at its
# next use (README "API key hashes").
GATEWAY_KEY_HASH_SECRET = env_str("GATEWAY_KEY_HASH_SECRET") or SECRET_KEY
GATEWAY_KEY_HASH_SECRET_FALLBACKS = env_list("GATEWAY_KEY_HASH_SECRET_FALLBACKS", "")
# Provider tokens stored in the database are encrypted under a key derived from this
# (gateway/encryption.py). Unset, it is DJANGO_SECRET_KEY, so it works out of the box; set it apart
# and DJANGO_SECRET_KEY can rotate without losing them. Old keys listed in the fallbacks still
# decrypt; the current key encrypts every save.
GATEWAY_SECRETS_KEY = env_str("GATEWAY_SECRETS_KEY") or SECRET_KEY
GATEWAY_SECRETS_KEY_FALLBACKS = env_list("GATEWAY_SECRETS_KEY_FALLBACKS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, so /docs/ needs no CDN
    "corsheaders",
    "gateway",
    "rag",
    "audio",
    "images",
]

MIDDLEWARE = [
    "gateway.http.middleware.RequestIdMiddleware",
    # Before the ledger: a CORS preflight is answered here and is no request to record.
    "gateway.http.cors.CorsMiddleware",
    "gateway.http.ledger_middleware.UsageLedgerMiddleware",  # after the id, before any early refusal
    "gateway.http.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gateway.ops.context_processors.upstream_label",
            ],
        },
    },
]


# --- Services -----------------------------------------------------------------------------------


def _positive_seconds(name: str, default: float) -> float:
    value = env_float(name, default)
    if value <= 0:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name}={value} must be a positive number of seconds")
    return value


# gunicorn's threads per worker process; config/gunicorn.conf.py reads the same variable with the
# same default (tests/gateway/http/test_database_pool.py checks that they agree).
GATEWAY_THREADS = env_int("GATEWAY_THREADS", 128, minimum=1)
# How many requests one web worker serves at once (config/gunicorn.conf.py reads the same three
# variables, with the same defaults): its gevent connections, or its gthread threads.
_WORKER_CONCURRENCY = (
    GATEWAY_THREADS
    if env_str("GATEWAY_WORKER_CLASS", "gevent") == "gthread"
    else env_int("GATEWAY_WORKER_CONNECTIONS", 1000, minimum=1)
)
# Upstream connections kept open per host in each process (gateway/providers/http.py): a stream
# holds one for its length, so the pool follows the worker's concurrency; past it, connections are
# opened and closed per request.
GATEWAY_UPSTREAM_POOL_SIZE = env_int("GATEWAY_UPSTREAM_POOL_SIZE", _WORKER_CONCURRENCY, minimum=1)
# The pool follows the thread count. A thread holds a connection only for its own statements, never
# across an upstream wait (gateway/db.py), so with a connection per four threads a wait for one
# means the database itself is the bottleneck; a request that finds none free within the pool
# timeout then answers 503 with Retry-After (gateway/http/envelope.py) instead of queueing on.
# At the defaults, 2 workers × 32 stay under PostgreSQL's default max_connections of 100, with
# room for Celery and manage.py
# (https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-MAX-CONNECTIONS).
DATABASE_POOL_MAX = env_int("DATABASE_POOL_MAX", -(-GATEWAY_THREADS // 4), minimum=1)
DATABASE_POOL_TIMEOUT_SECONDS = _positive_seconds("DATABASE_POOL_TIMEOUT_SECONDS", 5.0)
# The server cancels any statement running longer (0: never), so no query holds a pooled connection
# for long; the gateway's own statements take milliseconds. Sent as a libpq `options` startup
# parameter, so every connection of the pool has it from the start
# (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS).
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 30_000, minimum=0)


def _database_from_url(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
    options = dict(parse_qsl(parts.query))
    host = options.pop("host", None) or (parts.hostname or "")
    if DATABASE_STATEMENT_TIMEOUT_MS:  # after any `options` the URL itself gives
        options["options"] = (
            f"{options.get('options', '')} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}".strip()
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        # Sized from the thread count (above): a request hands its connection back before it waits
        # on the upstream (gateway/db.py), so a few serve many concurrent streams.
        "OPTIONS": {
            **options,
            "pool": {
                "min_size": 1,
                "max_size": DATABASE_POOL_MAX,
                "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
            },
        },
        "CONN_HEALTH_CHECKS": False,
    }


DATABASE_URL = env_str("DATABASE_URL") or embedded.postgres_url(DATA_DIR)
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL") or embedded.redis_url(DATA_DIR)
# Redis answers in well under a millisecond. One that is gone or hung must fail a request at once
# (503 with Retry-After, gateway/http/envelope.py), not hold a worker thread for redis-py's default
# of 5 s or the OS's TCP timeouts. Django's RedisCache hands OPTIONS to redis-py's
# ConnectionPool.from_url, so every connection of the pool has both. A blocking command sent
# through this client (XREADGROUP BLOCK, say) must block for less than the socket timeout.
REDIS_CONNECT_TIMEOUT_SECONDS = _positive_seconds("REDIS_CONNECT_TIMEOUT_SECONDS", 1.0)
REDIS_SOCKET_TIMEOUT_SECONDS = _positive_seconds("REDIS_SOCKET_TIMEOUT_SECONDS", 2.0)
REDIS_POOL_SIZE = env_int("GATEWAY_REDIS_POOL_SIZE", 64, minimum=1)
CACHES = {
    "default": {
        "BACKEND": "gateway.cache.backend.GatewayRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "gw"),
        "OPTIONS": {
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            "serializer": "gateway.cache.backend.JSONSerializer",  # data, never pickles
            # One pool a process (gateway/cache/backend.py); a request holds a connection only for one
            # command, so a burst of requests past the pool's size waits its turn, up to the socket
            # timeout, rather than opening a connection each (redis-py's own pool refuses past 100).
            "pool_class": "redis.BlockingConnectionPool",
            "max_connections": REDIS_POOL_SIZE,
            "timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            # A failed command is not sent again: one socket timeout is the longest a request waits
            # on a hung Redis before its 503. redis-py's default depends on how the client is built
            # (a redis.Redis of its own retries 3 times with backoff since redis-py 6), so it is
            # stated here rather than left to the pool's.
            "retry": Retry(NoBackoff(), 0),
        },
    }
}


def _celery_broker(url: str) -> str:
    # kombu spells a Unix-socket Redis "redis+socket:///path"; redis-py spells it "unix:///path".
    return "redis+socket://" + url[len("unix://") :] if url.startswith("unix://") else url


# The cache's Redis unless the broker is a server of its own (an outage of either is its own fault:
# README "Failure policy").
CELERY_BROKER_URL = _celery_broker(env_str("GATEWAY_CELERY_BROKER_URL") or REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue name per deployment sharing a Redis (tests use their own); a task is acknowledged only
# once done, so a worker killed mid-task leaves it to be run again
# (https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late).
CELERY_TASK_DEFAULT_QUEUE = env_str("GATEWAY_CELERY_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task taken by a worker that then died outright (killed, machine lost) is handed to another
# worker this long after it was taken (kombu's Redis transport: the visibility timeout). Longer
# than any task runs: a task still running then would be started a second time (image jobs
# tolerate that — images/service.py — but it is wasted work).
GATEWAY_CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("GATEWAY_CELERY_VISIBILITY_TIMEOUT_SECONDS", 900, minimum=1)
# Every broker key under the cache's prefix: kombu keeps one `unacked` set for all queues, so a
# deployment sharing the Redis (or a test run) with another visibility timeout would otherwise hand
# this one's tasks back to its queue early (https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": GATEWAY_CELERY_VISIBILITY_TIMEOUT_SECONDS,
    # A worker looks for such tasks this often (kombu's default: every 10th 10-second tick, so up
    # to ~100 s late); a quarter of the timeout, a minute at most.
    "unacked_restore_interval": min(60, max(1, GATEWAY_CELERY_VISIBILITY_TIMEOUT_SECONDS // 4)),
    "unacked_restore_throttle": 1,
    "global_keyprefix": f"{CACHES['default']['KEY_PREFIX']}:celery:",
    # A hung broker fails a publish (gateway/job_queue.py) instead of holding the request until the
    # OS gives up on the socket; longer than a worker's 1 s blocking pop, which would otherwise time out.
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Upstream: Cloudflare, retries, backoff and cooldowns (config/upstream.py) ----------------
from config.upstream import *  # noqa: E402, F403

# --- Gateway behaviour --------------------------------------------------------------------------

ACCESS_TOKEN = env_str("ACCESS_TOKEN")
GATEWAY_EXPOSE_RAW_MODELS = env_bool("GATEWAY_EXPOSE_RAW_MODELS", True)
# 26 MiB: a 25 MiB audio upload (OpenAI's limit) with its multipart framing.
GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 27_262_976, minimum=1024)
GATEWAY_SSE_KEEPALIVE_SECONDS = env_float("GATEWAY_SSE_KEEPALIVE_SECONDS", 15.0)
GATEWAY_MAX_N = env_int("GATEWAY_MAX_N", 8, minimum=1)
GATEWAY_AUTH_CACHE_SECONDS = env_int("GATEWAY_AUTH_CACHE_SECONDS", 300, minimum=0)
# Images are fetched one after another while the request waits: cap how many one request may carry.
GATEWAY_MAX_IMAGES_PER_REQUEST = env_int("GATEWAY_MAX_IMAGES_PER_REQUEST", 4, minimum=1)
# Images given by http(s) URL are fetched by the gateway behind an SSRF guard (gateway/chat/image_fetch.py);
# the byte cap applies to data: URL images too. ALLOW_HOSTS: host names or CIDRs fetched even if private.
GATEWAY_IMAGE_FETCH_MAX_BYTES = env_int("GATEWAY_IMAGE_FETCH_MAX_BYTES", 10_485_760, minimum=1)
GATEWAY_IMAGE_FETCH_TIMEOUT_SECONDS = env_float("GATEWAY_IMAGE_FETCH_TIMEOUT_SECONDS", 10.0)
GATEWAY_IMAGE_FETCH_ALLOW_HOSTS = env_list("GATEWAY_IMAGE_FETCH_ALLOW_HOSTS", "")
# Default lifetime of cached chat answers (gateway/cache/responses.py); 0 turns the cache off.
GATEWAY_CACHE_TTL_SECONDS = env_int("GATEWAY_CACHE_TTL_SECONDS", 3600, minimum=0)
# Stored responses of POST /v1/responses (`store`, on by default) are kept this many days, as on
# OpenAI (30): older ones answer 404 at once, and `manage.py prune_responses` deletes them. 0: kept
# until deleted.
GATEWAY_RESPONSE_RETENTION_DAYS = env_int("GATEWAY_RESPONSE_RETENTION_DAYS", 30, minimum=0)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES
# GET /metrics asks for this bearer token when set, and is open when unset (scraped on a private
# network; set it whenever the gateway's port is reachable from beyond that network).
GATEWAY_METRICS_TOKEN = env_str("GATEWAY_METRICS_TOKEN")
# Each process gathers its metric increments and sends them to Redis at most this often, in one
# round trip, never one per request (gateway/accounting/metrics.py). A scrape sends its own process's
# first; other processes' counts appear on /metrics within this interval.
GATEWAY_METRICS_FLUSH_SECONDS = _positive_seconds("GATEWAY_METRICS_FLUSH_SECONDS", 1.0)
# Reserved: would let request log lines carry a prompt excerpt. Nothing logs prompt text today.
GATEWAY_LOG_PROMPTS = env_bool("GATEWAY_LOG_PROMPTS", False)
# A running request's lease (gateway/accounting/spool.py): renewed every third of it while the
# request runs; a request whose process died is recorded as interrupted, and its reservations
# released, this long after its last renewal.
GATEWAY_LEDGER_LEASE_SECONDS = env_float("GATEWAY_LEDGER_LEASE_SECONDS", 30.0)
# The embedding model RAG documents, searches and RAG chat use when a request names none.
GATEWAY_RAG_EMBEDDING_MODEL = env_str("GATEWAY_RAG_EMBEDDING_MODEL", "text-embedding-ada-002")
# Largest file POST /v1/rag/documents takes as a multipart upload (text, markdown, HTML or PDF).
GATEWAY_RAG_MAX_UPLOAD_BYTES = env_int("GATEWAY_RAG_MAX_UPLOAD_BYTES", 10_485_760, minimum=1)
# Uploaded files with more text than this are embedded by a Celery task: the POST answers 202 at once
# and the document shows `processing` until it is `ready` (or `failed`). JSON text never waits.
GATEWAY_RAG_SYNC_MAX_CHARS = env_int("GATEWAY_RAG_SYNC_MAX_CHARS", 200_000, minimum=1)
# A vector store's file batch (or single file) has this long to be embedded by the Celery workers;
# one whose files have not all ended by then is recorded as interrupted (gateway/accounting/handoff.py).
GATEWAY_VECTOR_STORE_INGEST_DEADLINE_SECONDS = env_int("GATEWAY_VECTOR_STORE_INGEST_DEADLINE_SECONDS", 3600, minimum=60)
# Audio uploads to /v1/audio/transcriptions and /translations: bytes (OpenAI's 25 MB), and the
# longest audio accepted, measured by decoding, so a small file that decodes to hours is refused.
GATEWAY_AUDIO_MAX_UPLOAD_BYTES = env_int("GATEWAY_AUDIO_MAX_UPLOAD_BYTES", 26_214_400, minimum=1)
GATEWAY_AUDIO_MAX_SECONDS = env_float("GATEWAY_AUDIO_MAX_SECONDS", 3600.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["gateway.access.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["gateway.http.input_limits.LimitedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "gateway.http.negotiation.AlwaysJSON",
    "EXCEPTION_HANDLER": "gateway.http.envelope.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- The OpenAPI document and /docs/ (config/api_docs.py) ---------------------------------------
from config.api_docs import *  # noqa: E402, F403

# --- Security: CORS, TLS behind a proxy, throttles, input limits (config/security.py) ------------
from config.security import *  # noqa: E402, F403

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every process start when it is missing
MEDIA_ROOT = DATA_DIR / "media"
# Generated images (images/storage.py): files under MEDIA_ROOT/images, or an S3 bucket (AWS S3,
# Cloudflare R2 or any S3-compatible service) through django-storages when GATEWAY_IMAGE_STORAGE=s3.
GATEWAY_IMAGE_STORAGE = env_str("GATEWAY_IMAGE_STORAGE", "local")
if GATEWAY_IMAGE_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"GATEWAY_IMAGE_STORAGE={GATEWAY_IMAGE_STORAGE!r} must be 'local' or 's3'")
_IMAGE_STORAGE: dict[str, Any] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": MEDIA_ROOT / "images", "base_url": None},
}


def _s3_client_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})


if GATEWAY_IMAGE_STORAGE == "s3":
    _IMAGE_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("GATEWAY_S3_BUCKET"),
            "endpoint_url": env_str("GATEWAY_S3_ENDPOINT_URL")
            or None,  # R2: https://<account>.r2.cloudflarestorage.com
            "region_name": env_str("GATEWAY_S3_REGION") or None,
            "access_key": env_str("GATEWAY_S3_ACCESS_KEY_ID") or None,  # else boto3's own chain (AWS_* env, roles)
            "secret_key": env_str("GATEWAY_S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("GATEWAY_S3_PREFIX", "images"),
            "default_acl": None,  # private objects: the gateway serves them (GET /v1/images/get/…)
            "querystring_auth": False,
            "file_overwrite": False,
            # botocore waits 60 s to connect and retries by default: a gone S3 would hold a worker
            # for minutes; this answers 503 (or retries the job) within seconds.
            "client_config": _s3_client_config(),
        },
    }
# Uploaded files (POST /v1/files, rag/files/storage.py): on the images' backend, under MEDIA_ROOT/files,
# or in the same bucket under the prefix GATEWAY_S3_FILES_PREFIX.
_FILE_STORAGE: dict[str, Any] = {
    "BACKEND": _IMAGE_STORAGE["BACKEND"],
    "OPTIONS": {**_IMAGE_STORAGE["OPTIONS"], "location": MEDIA_ROOT / "files"},
}
if GATEWAY_IMAGE_STORAGE == "s3":
    _FILE_STORAGE["OPTIONS"]["location"] = env_str("GATEWAY_S3_FILES_PREFIX", "files")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "images": _IMAGE_STORAGE,
    "files": _FILE_STORAGE,
}
# Largest upload POST /v1/files stores (413 file_too_large above it), 50 MB. The request body cap
# GATEWAY_MAX_BODY_BYTES (26 MiB by default) is checked first, from Content-Length: uploads above
# it get that 413 (request_too_large) unless it is raised too.
GATEWAY_FILE_MAX_BYTES = env_int("GATEWAY_FILE_MAX_BYTES", 52_428_800, minimum=1)
# Generated images: how long a signed `url` opens without a key (OpenAI's links last an hour), how
# long a generation request waits for its jobs before answering with their ids, and how long
# images are kept before `manage.py prune_images` deletes them.
GATEWAY_IMAGE_URL_TTL_SECONDS = env_int("GATEWAY_IMAGE_URL_TTL_SECONDS", 3600, minimum=1)
GATEWAY_IMAGE_WAIT_SECONDS = env_float("GATEWAY_IMAGE_WAIT_SECONDS", 120.0)
GATEWAY_IMAGE_RETENTION_DAYS = env_int("GATEWAY_IMAGE_RETENTION_DAYS", 30, minimum=1)
# An image request's usage record is written when its last job ends; one whose jobs have not
# all ended this long after it arrived is recorded as interrupted (its jobs still finish).
GATEWAY_IMAGE_JOB_DEADLINE_SECONDS = env_int("GATEWAY_IMAGE_JOB_DEADLINE_SECONDS", 3600, minimum=60)
# Uploads above FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) wait here while their request runs; Django
# deletes each when the request ends.
FILE_UPLOAD_TEMP_DIR = DATA_DIR / "uploads"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "message": {"format": "%(message)s"},  # the request log: each message is one JSON object
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "requests": {"class": "logging.StreamHandler", "formatter": "message"},
    },
    "loggers": {"gateway.requests": {"handlers": ["requests"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
