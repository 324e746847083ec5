"""Gunicorn settings: the one place the server model is chosen (README "Server model").

gevent (the default): each worker serves its requests as greenlets on one OS thread, so an open
stream costs a greenlet, not a thread, and a worker holds GATEWAY_WORKER_CONNECTIONS of them.
gunicorn patches the standard library in each worker before the application loads, so psycopg,
redis-py and requests wait cooperatively. GATEWAY_WORKER_CLASS=gthread keeps the threaded model:
each request holds one of GATEWAY_THREADS OS threads for its length. No database connection is
held across an upstream wait either way (gateway/db.py). bench/results.md records the measurement.
"""

from __future__ import annotations

import os

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GATEWAY_WORKER_CLASS", "gevent")
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
# gevent: concurrent requests (streams included) per worker.
worker_connections = int(os.environ.get("GATEWAY_WORKER_CONNECTIONS", "1000"))
# gthread: threads per worker. config/settings.py reads the same variable, with the same default, to
# size each worker's database pool (DATABASE_POOL_MAX): change both together.
threads = int(os.environ.get("GATEWAY_THREADS", "128"))
# Workers heartbeat from their own loop (gevent's hub, gthread's main thread), so a long stream does
# not trip this timeout; a CPU-bound request that holds a gevent worker's loop this long does.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'
# No runtime control socket (gunicornc): nothing here uses it, and by default every gunicorn on the
# machine would share one path in $HOME (and print a line about it at each start).
control_socket_disable = True
