"""Routes as code: the typed content of the YAML file `import_routes` reads and `export_routes`
writes (README "Routes as code"), and the writing of one; route_file_reader.py reads it.

A provider or route in the file states the whole row: a key left out means its default, as for a
new row. The stored token is the one exception: it is never read from a file nor written to one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from gateway.models import LEGACY_TOKEN_ENV, ModelRoute, Provider

# File name → ModelRoute boolean, in the order a file lists them.
CAPABILITIES = {
    "tools": "supports_tools",
    "vision": "supports_vision",
    "json_mode": "supports_json_mode",
    "reasoning": "reasoning",
}
STDIN = "<stdin>"


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based; None: the file as a whole
    text: str


class RouteFileError(Exception):
    """Everything wrong with a route file, each problem with its line; nothing was written."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(
            f"{self.source} line {problem.line}: {problem.text}" if problem.line else f"{self.source}: {problem.text}"
            for problem in self.problems
        )


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as a file states it: every setting but the stored token."""

    name: str
    kind: str
    base_url: str
    account_id: str
    api_key_env: str
    headers: dict[str, str]
    connect_timeout: float
    read_timeout: float
    enabled: bool
    line: int = field(default=0, compare=False)  # 0: read from the database
    key_lines: dict[str, int] = field(default_factory=dict, compare=False)

    @classmethod
    def from_row(cls, row: Provider) -> ProviderSpec:
        return cls(
            name=row.name,
            kind=row.kind,
            base_url=row.base_url,
            account_id=row.account_id,
            api_key_env=row.api_token_env,
            headers=dict(row.extra_headers or {}),
            connect_timeout=row.connect_timeout,
            read_timeout=row.read_timeout,
            enabled=row.enabled,
        )

    def row_fields(self) -> dict[str, Any]:
        """The Provider fields this spec sets (`api_token` is not one of them)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "base_url": self.base_url,
            "account_id": self.account_id,
            "api_token_env": self.api_key_env,
            "extra_headers": dict(self.headers),
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class RouteSpec:
    public_name: str
    task: str
    provider: str
    upstream_model: str
    priority: int
    capabilities: tuple[str, ...]  # in CAPABILITIES order
    context_window: int | None
    max_output_tokens: int | None
    output_dimensions: int | None
    cache_ttl_seconds: int | None
    enabled: bool
    line: int = field(default=0, compare=False)
    key_lines: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """The model's unique constraint: anything else about a route is updated in place."""
        return (self.public_name, self.task, self.provider, self.upstream_model)

    @classmethod
    def from_row(cls, row: ModelRoute) -> RouteSpec:
        return cls(
            public_name=row.public_name,
            task=row.task,
            provider=row.provider.name,
            upstream_model=row.upstream_model,
            priority=row.priority,
            capabilities=tuple(name for name, flag in CAPABILITIES.items() if getattr(row, flag)),
            context_window=row.context_window,
            max_output_tokens=row.max_output_tokens,
            output_dimensions=row.output_dimensions,
            cache_ttl_seconds=row.cache_ttl_seconds,
            enabled=row.enabled,
        )

    def row_fields(self) -> dict[str, Any]:
        """The ModelRoute fields this spec sets, but its provider (a row the caller resolves)."""
        flags = {flag: name in self.capabilities for name, flag in CAPABILITIES.items()}
        return {
            "public_name": self.public_name,
            "task": self.task,
            "upstream_model": self.upstream_model,
            "priority": self.priority,
            **flags,
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "output_dimensions": self.output_dimensions,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class RouteFile:
    source: str  # the path as given, or STDIN: what every message names
    providers: tuple[ProviderSpec, ...]
    routes: tuple[RouteSpec, ...]


def default_token_env(kind: str) -> str:
    """A Workers AI provider reads CLOUDFLARE_API_TOKEN unless told otherwise, as the model does;
    any other kind reads none, so the Cloudflare token is never sent to another host by default."""
    return LEGACY_TOKEN_ENV if kind == Provider.Kind.WORKERS_AI else ""


# Defaults for keys a file leaves out: the model's own defaults (api_key_env: default_token_env).
PROVIDER_DEFAULTS: dict[str, Any] = {
    "kind": Provider.Kind.WORKERS_AI.value,
    "base_url": "",
    "account_id": "",
    "headers": {},
    "connect_timeout": Provider._meta.get_field("connect_timeout").default,
    "read_timeout": Provider._meta.get_field("read_timeout").default,
    "enabled": True,
}
ROUTE_DEFAULTS: dict[str, Any] = {
    "priority": 0,
    "capabilities": (),
    "context_window": None,
    "max_output_tokens": None,
    "output_dimensions": None,
    "cache_ttl_seconds": None,
    "enabled": True,
}


def route_label(route: RouteSpec) -> str:
    return f"route {route.public_name} ({route.task}) → {route.provider} {route.upstream_model}"


# --- writing: one entry per line, so a changed route is a one-line diff ----------------------

HEADER = (
    '# Providers and model routes (README "Routes as code"): `manage.py import_routes FILE` applies\n'
    "# this file, `manage.py export_routes` writes it. Tokens are never in it: api_key_env names the\n"
    "# variable a provider's token is read from.\n"
)


def _flow(mapping: dict[str, Any]) -> str:
    # safe_dump quotes whatever YAML would otherwise read as another type ('on', '1.0', '@cf/…').
    return yaml.safe_dump(mapping, default_flow_style=True, sort_keys=False, width=1 << 16, allow_unicode=True).strip()


def provider_mapping(spec: ProviderSpec) -> dict[str, Any]:
    """What a file says of a provider: its name, its kind, and each setting that is not the default."""
    defaults = {**PROVIDER_DEFAULTS, "api_key_env": default_token_env(spec.kind)}
    stated = {
        "name": spec.name,
        "kind": spec.kind,
        "base_url": spec.base_url,
        "account_id": spec.account_id,
        "api_key_env": spec.api_key_env,
        "headers": spec.headers,
        "connect_timeout": spec.connect_timeout,
        "read_timeout": spec.read_timeout,
        "enabled": spec.enabled,
    }
    return {key: value for key, value in stated.items() if key in ("name", "kind") or value != defaults[key]}


def route_mapping(spec: RouteSpec) -> dict[str, Any]:
    stated = {
        "public_name": spec.public_name,
        "task": spec.task,
        "provider": spec.provider,
        "upstream_model": spec.upstream_model,
        "priority": spec.priority,
        "capabilities": spec.capabilities,
        "context_window": spec.context_window,
        "max_output_tokens": spec.max_output_tokens,
        "output_dimensions": spec.output_dimensions,
        "cache_ttl_seconds": spec.cache_ttl_seconds,
        "enabled": spec.enabled,
    }
    written = {key: value for key, value in stated.items() if key not in ROUTE_DEFAULTS or value != ROUTE_DEFAULTS[key]}
    if "capabilities" in written:
        written["capabilities"] = list(spec.capabilities)  # YAML's safe dumper writes lists, not tuples
    return written


def render_route_file(providers: Iterable[ProviderSpec], routes: Iterable[RouteSpec]) -> str:
    lines = [HEADER.rstrip("\n"), "providers:"]
    lines += [f"  - {_flow(provider_mapping(spec))}" for spec in providers]
    lines.append("routes:")
    lines += [f"  - {_flow(route_mapping(spec))}" for spec in routes]
    return "\n".join(lines) + "\n"


def export_route_file() -> str:
    """Every provider and route in the database, in the file format (no stored token)."""
    providers = [ProviderSpec.from_row(row) for row in Provider.objects.order_by("name")]
    rows = ModelRoute.objects.select_related("provider").order_by(
        "public_name", "task", "priority", "provider__name", "upstream_model"
    )
    return render_route_file(providers, [RouteSpec.from_row(row) for row in rows])
