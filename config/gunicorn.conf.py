"""Gunicorn settings: the one place the server model is chosen (README "Server model").

gthread: each stream holds one OS thread for its duration, and no database connection
(gateway/db.py), so streams per machine = workers × threads. bench/ records the measurement.
"""

from __future__ import annotations

import os

bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
# config/settings.py reads the same variable, with the same default, to size each worker's database
# pool (DATABASE_POOL_MAX): change both together.
threads = int(os.environ.get("GATEWAY_THREADS", "128"))
# gthread workers heartbeat from their main loop, so a long stream does not trip this timeout.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'
# No runtime control socket (gunicornc): nothing here uses it, and by default every gunicorn on the
# machine would share one path in $HOME (and print a line about it at each start).
control_socket_disable = True
