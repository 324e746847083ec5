"""Run the emulator as a process:

    python -m gateway.testing.emulator --host 127.0.0.1 --port 8787 --account-id ACC --token TOKEN

Prints the base URL (not with --quiet: `manage.py serve --emulator` prints its own banner), then
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from .server import WorkersAIEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.testing.emulator", description="Serve an emulated Cloudflare Workers AI REST API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--account-id", default="test-account")
    parser.add_argument("--token", default="test-token")
    parser.add_argument(
        "--vision-licence-agreed",
        action="store_true",
        help="skip the llama-3.2 vision licence gate (403/5016 until 'agree')",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the base URL")
    args = parser.parse_args(argv)

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator = WorkersAIEmulator(
        account_id=args.account_id,
        token=args.token,
        host=args.host,
        port=args.port,
        vision_licence_agreed=args.vision_licence_agreed,
    )
    emulator.start()
    if not args.quiet:
        print(emulator.base_url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
