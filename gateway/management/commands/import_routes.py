"""Apply a route file (README "Routes as code"): providers and model routes as code, idempotently."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.catalog.route_file import STDIN, RouteFileError
from gateway.catalog.route_file_reader import parse_route_file
from gateway.catalog.route_import import import_route_file


class Command(BaseCommand):
    help = (
        "Create or update providers and model routes from a YAML file (FILE, or - for stdin), all in one "
        "transaction. A route is identified by public_name, task, provider and upstream_model; its other "
        "keys are updated in place, and a key left out takes its default. Rows the file does not mention "
        "are kept, unless --prune. Stored tokens are never read from the file and never changed."
    )
    stealth_options = ("stdin",)  # call_command(..., stdin=StringIO(...)), as createsuperuser takes it

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The YAML route file; - reads standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Print the changes; write nothing.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete the routes of every provider the file defines under providers: that the "
            "file does not list. Routes of providers the file only points a route at (such as the seeded "
            "workers-ai) or does not name, and providers themselves, are never deleted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        source = STDIN if path == "-" else path
        try:
            text = (options.get("stdin") or sys.stdin).read() if path == "-" else Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: cannot read it: {exc}") from exc
        try:
            plan = import_route_file(parse_route_file(text, source), prune=options["prune"], dry_run=options["dry_run"])
        except RouteFileError as exc:
            raise CommandError(f"{exc}\nNothing was written.") from exc
        for step in plan.providers + plan.routes:
            if step.action != "unchanged":
                self.stdout.write(f"  {step}")
        self.stdout.write(plan.summary())
        if not plan.changed:
            self.stdout.write(f"Nothing to change: the database already matches {source}.")
        elif options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")
        else:
            self.stdout.write("Applied.")
