"""`make run` / `make demo`: prepare the database, then run gunicorn, the ledger writer and a Celery worker.

Ctrl-C (or SIGTERM) stops everything this command started. The embedded Postgres and Redis keep
running for the next start; `make stop` ends them.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from gateway.catalog import routes
from gateway.models import ApiKey

EMULATOR_ACCOUNT = "emulated-account"
EMULATOR_TOKEN = "emulated-token"


class Command(BaseCommand):
    help = "Serve the gateway with gunicorn, the ledger writer and a Celery worker (what `make run` does)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--emulator", action="store_true", help="Use the bundled Workers AI emulator.")
        parser.add_argument("--emulator-port", type=int, default=8787)
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker.")

    def handle(self, *args: Any, **options: Any) -> None:
        env = dict(os.environ)
        children: list[subprocess.Popen[bytes]] = []
        if options["emulator"]:
            children.append(self._start_emulator(options["emulator_port"], env))
        elif not (settings.CLOUDFLARE_ACCOUNT_ID and settings.CLOUDFLARE_API_TOKEN):
            self.stdout.write(
                self.style.WARNING(
                    "CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN are not set: model calls will answer 502 "
                    "until they are. Run `make demo` to serve against the bundled emulator instead."
                )
            )
        # The gateway's own database URLs travel to the children so they skip the embedded start-up.
        env.setdefault("DATABASE_URL", settings.DATABASE_URL)
        env.setdefault("REDIS_URL", settings.REDIS_URL)

        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_models")
        call_command("collectstatic", interactive=False, verbosity=0)
        routes.invalidate()
        self._bootstrap_admin()

        python = sys.executable
        children.append(
            subprocess.Popen(
                [python, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py"], env=env
            )
        )
        # Usage records reach the database through this one (gateway/accounting/ledger_writer.py).
        children.append(subprocess.Popen([python, "manage.py", "ledger_writer"], env=env))
        if not options["no_worker"]:
            children.append(
                subprocess.Popen(
                    [python, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "4", "-l", "INFO"],
                    env=env,
                )
            )
        bind = env.get("GATEWAY_BIND", "127.0.0.1:8000")
        label = " (EMULATED upstream)" if options["emulator"] else ""
        self.stdout.write(
            self.style.SUCCESS(f"Serving http://{bind}{label} — admin at http://{bind}/admin/; Ctrl-C stops.")
        )
        self._wait(children)

    def _start_emulator(self, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.testing.emulator", "--port", str(port),
             "--account-id", EMULATOR_ACCOUNT, "--token", EMULATOR_TOKEN],
        )  # fmt: skip
        env.update(
            CLOUDFLARE_API_BASE_URL=f"http://127.0.0.1:{port}/client/v4",
            CLOUDFLARE_ACCOUNT_ID=EMULATOR_ACCOUNT,
            CLOUDFLARE_API_TOKEN=EMULATOR_TOKEN,
            GATEWAY_UPSTREAM_EMULATED="1",
        )
        self.stdout.write(
            self.style.WARNING(
                f"EMULATED upstream: the bundled Workers AI emulator on 127.0.0.1:{port}, not Cloudflare."
            )
        )
        return process

    def _bootstrap_admin(self) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin user exists; issue more keys with `manage.py create_api_key NAME`.")
            return
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser("admin", password=password)
        key = ApiKey(name="default", owner=admin)
        plaintext = key.issue()
        key.save()
        self.stdout.write(self.style.SUCCESS("First run: created the admin user and an API key (shown only now)."))
        self.stdout.write(f"  admin user:  admin / {password}")
        self.stdout.write(f"  API key:     {plaintext}")

    def _wait(self, children: list[subprocess.Popen[bytes]]) -> None:
        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("A child process exited; stopping the others.")
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 30
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
