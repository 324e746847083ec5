"""`make run` / `make demo`: prepare the database, then run gunicorn, the ledger writer and a Celery worker.

Ctrl-C (SIGINT) or SIGTERM stops everything this command started, also when it was started with
SIGINT ignored (a shell script's background job inherits SIG_IGN): the handlers are installed
explicitly. Each child runs in a process group of its own, so a Ctrl-C in the terminal reaches
this command only, and each child is sent exactly one SIGTERM (gunicorn and the Celery worker
first, then the ledger writer, which drains what they spooled, and the emulator), so each prints
its shutdown once. On Linux a child also gets SIGTERM if this command dies without cleaning up
(PR_SET_PDEATHSIG), so a SIGKILL leaves no server behind.

The command records itself in DATA_DIR/serve.pid while it runs; `make stop` refuses to stop the
embedded Postgres and Redis under it (config/embedded.py). They keep running for the next start.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from config.embedded import forget_server, record_server
from config.paths import data_dir
from gateway.catalog import routes
from gateway.models import ApiKey

EMULATOR_ACCOUNT = "emulated-account"
EMULATOR_TOKEN = "emulated-token"
STOP_SECONDS = 30
READY_SECONDS = 60
_PR_SET_PDEATHSIG = 1


class _Stop(Exception):
    """A stop signal arrived before any child was started."""


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to SIGTERM the child when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return arm


class Command(BaseCommand):
    help = "Serve the gateway with gunicorn, the ledger writer and a Celery worker (what `make run` does)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--emulator", action="store_true", help="Use the bundled Workers AI emulator.")
        parser.add_argument("--emulator-port", type=int, default=8787)
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker.")

    def handle(self, *args: Any, **options: Any) -> None:
        self._stop_signal: int | None = None
        self._stopping = threading.Event()
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        directory = data_dir()
        try:
            record_server(directory)
            self._serve(options)
        except _Stop:
            pass
        finally:
            self._stop_children()
            forget_server(directory)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stop_signal is not None:
            return  # already stopping: every child is sent one SIGTERM, whatever arrives meanwhile
        self._stop_signal = signum
        self._stopping.set()
        if not self._children:
            raise _Stop  # still preparing (migrate, seed): nothing started to wait for

    def _serve(self, options: dict[str, Any]) -> None:
        env = dict(os.environ)
        emulator_port = options["emulator_port"]
        if options["emulator"]:
            env.update(
                CLOUDFLARE_API_BASE_URL=f"http://127.0.0.1:{emulator_port}/client/v4",
                CLOUDFLARE_ACCOUNT_ID=EMULATOR_ACCOUNT,
                CLOUDFLARE_API_TOKEN=EMULATOR_TOKEN,
                GATEWAY_UPSTREAM_EMULATED="1",
            )
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
        call_command("seed_models", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        routes.invalidate()
        first_key = self._bootstrap_admin()

        python = sys.executable
        if options["emulator"]:
            self._start(
                "emulator",
                [python, "-m", "gateway.testing.emulator", "--quiet", "--port", str(emulator_port),
                 "--account-id", EMULATOR_ACCOUNT, "--token", EMULATOR_TOKEN],
                env,
            )  # fmt: skip
        self._start(
            "gunicorn", [python, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py"], env
        )
        # Usage records reach the database through this one (gateway/accounting/ledger_writer.py).
        self._start("ledger writer", [python, "manage.py", "ledger_writer"], env)
        if not options["no_worker"]:
            self._start(
                "Celery worker",
                [python, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "4", "-l", "INFO"],
                env,
            )
        bind = env.get("GATEWAY_BIND", "127.0.0.1:8000")
        if self._wait_until_ready(bind):
            self._banner(bind, options, first_key)
        self._watch()

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        if self._stopping.is_set():
            raise _Stop
        # process_group=0: a terminal's Ctrl-C reaches this command alone, which stops each child once.
        child = subprocess.Popen(argv, env=env, process_group=0, preexec_fn=_die_with_parent())
        self._children.append((name, child))

    def _wait_until_ready(self, bind: str) -> bool:
        """Until gunicorn answers /healthz (so the banner's URL works when it shows); False if this
        command is stopping or a child exited meanwhile."""
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via http_proxy
        deadline = time.monotonic() + READY_SECONDS
        while not self._stopping.is_set() and not self._exited():
            try:
                with direct.open(f"http://{bind}/healthz", timeout=2):
                    return True
            except OSError:
                if time.monotonic() > deadline:
                    return True  # slow, not broken: say where it will answer
                self._stopping.wait(0.2)
        return False

    def _banner(self, bind: str, options: dict[str, Any], first_key: bool) -> None:
        lines = [f"Serving http://{bind} — admin at http://{bind}/admin/; Ctrl-C stops."]
        if options["emulator"]:
            lines.append(
                f"EMULATED upstream: the bundled Workers AI emulator on 127.0.0.1:{options['emulator_port']}, "
                "not Cloudflare."
            )
        if first_key:
            lines.append("API key: the one printed above (shown only once).")
        else:
            lines.append(
                "API key: the one printed on the first run; another: `.venv/bin/python manage.py create_api_key NAME`."
            )
        if not options["no_worker"] and hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append(
                "Running as root: Celery warns below about superuser privileges. Harmless here (it takes JSON "
                "tasks only, from this gateway's private Redis socket); run as an ordinary user to avoid it."
            )
        rule = "─" * 72
        self.stdout.write(self.style.SUCCESS("\n".join([rule, *lines, rule])))

    def _exited(self) -> str | None:
        return next((name for name, child in self._children if child.poll() is not None), None)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            exited = self._exited()
            if exited is not None:
                self.stderr.write(f"The {exited} exited; stopping the others.")
                return

    def _stop_children(self) -> None:
        running = [(name, child) for name, child in self._children if child.poll() is None]
        if not running:
            return
        # Web and worker first; then the ledger writer drains what they spooled, and the emulator
        # goes last so that no request in flight loses its upstream.
        late = ("ledger writer", "emulator")
        first = [c for c in running if c[0] not in late]
        then = sorted((c for c in running if c[0] in late), key=lambda c: late.index(c[0]))
        why = signal.Signals(self._stop_signal).name if self._stop_signal is not None else "a child exited"
        self.stdout.write(f"Stopping ({why}): {', '.join(name for name, _ in first + then)}.")
        deadline = time.monotonic() + STOP_SECONDS
        for wave in (first, then):
            for _, child in wave:
                if child.poll() is None:
                    child.terminate()
            for name, child in wave:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"The {name} did not stop within {STOP_SECONDS} s; killing it.")
                    child.kill()
                    child.wait()
        self.stdout.write("Stopped.")

    def _bootstrap_admin(self) -> bool:
        """Create the admin user and a first key on the first run; True if it did."""
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return False
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser("admin", password=password)
        key = ApiKey(name="default", owner=admin)
        plaintext = key.issue()
        key.save()
        self.stdout.write(self.style.SUCCESS("First run: created the admin user and an API key (shown only now)."))
        self.stdout.write(f"  admin user:  admin / {password}")
        self.stdout.write(f"  API key:     {plaintext}")
        return True
