"""`manage.py ledger_writer`: drain the usage spool into Postgres until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from gateway.accounting import ledger_writer


class Command(BaseCommand):
    help = "Write spooled usage records into the database and record interrupted requests (`make run` starts it)."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def finish(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, finish)
        signal.signal(signal.SIGINT, finish)
        self.stdout.write("ledger writer: draining the usage spool")
        self.stdout.flush()
        ledger_writer.run(stop)
