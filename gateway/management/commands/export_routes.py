"""Write every provider and model route as a route file (README "Routes as code"); no token in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway.catalog.route_file import export_route_file


class Command(BaseCommand):
    help = (
        "Write every provider and model route in the database as the YAML file import_routes reads "
        "(importing it back changes nothing). Stored tokens are never written; api_key_env is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = export_route_file()
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
