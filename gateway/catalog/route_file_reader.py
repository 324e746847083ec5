"""Reading a route file: YAML text → the typed RouteFile (gateway/catalog/route_file.py).

The file is read from PyYAML's node graph (`SafeLoader.get_single_node()`, what `yaml.compose`
does) rather than from plain dicts, so every problem names the line it is on and a key given twice
is an error instead of a silent overwrite (https://pyyaml.org/wiki/PyYAMLDocumentation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from django.core.exceptions import ValidationError

from gateway.catalog.route_file import (
    CAPABILITIES,
    PROVIDER_DEFAULTS,
    ROUTE_DEFAULTS,
    Problem,
    ProviderSpec,
    RouteFile,
    RouteFileError,
    RouteSpec,
    default_token_env,
    route_label,
)
from gateway.models import Provider, Task, validate_extra_headers, validate_token_env


class _Refused(Exception):
    def __init__(self, node: yaml.Node, text: str) -> None:
        super().__init__(text)
        self.node = node
        self.text = text


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _what(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"the text '{value}'"
    return f"{type(value).__name__} {value!r}"


class _Reader:
    """One pass over a file's nodes, collecting every problem rather than stopping at the first."""

    loader: yaml.SafeLoader  # made by read(); it also builds the scalar values

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.text = text
        self.problems: list[Problem] = []

    def value(self, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _Refused(node, str(getattr(exc, "problem", None) or exc)) from exc

    def text_of(self, node: yaml.Node) -> str:
        value = self.value(node)
        if not isinstance(value, str):
            raise _Refused(node, f"expected text, got {_what(value)} (quote it to make it text)")
        return value

    def blank_or_text(self, node: yaml.Node) -> str:
        return "" if self.value(node) is None else self.text_of(node)

    def choice(self, choices: list[str]) -> Callable[[yaml.Node], str]:
        def read(node: yaml.Node) -> str:
            value = self.text_of(node)
            if value not in choices:
                raise _Refused(node, f"unknown value '{value}' (known: {', '.join(choices)})")
            return value

        return read

    def boolean(self, node: yaml.Node) -> bool:
        value = self.value(node)
        if not isinstance(value, bool):
            raise _Refused(node, f"expected true or false, got {_what(value)}")
        return value

    def count(self, node: yaml.Node) -> int:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Refused(node, f"expected a whole number ≥ 0, got {_what(value)}")
        return value

    def count_or_null(self, node: yaml.Node) -> int | None:
        return None if self.value(node) is None else self.count(node)

    def seconds(self, node: yaml.Node) -> float:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise _Refused(node, f"expected a number of seconds > 0, got {_what(value)}")
        return float(value)

    def token_env(self, node: yaml.Node) -> str:
        value = self.blank_or_text(node)
        try:
            validate_token_env(value)
        except ValidationError as exc:
            raise _Refused(node, " ".join(exc.messages)) from exc
        return value

    def headers(self, node: yaml.Node) -> dict[str, str]:
        if not isinstance(node, yaml.MappingNode):
            raise _Refused(node, f"expected a mapping of header names to values, got {_what(self.value(node))}")
        headers: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = self.text_of(key_node)
            if name in headers:
                raise _Refused(key_node, f"header '{name}' given twice")
            headers[name] = self.value(value_node)
        try:
            validate_extra_headers(headers)
        except ValidationError as exc:
            raise _Refused(node, " ".join(exc.messages)) from exc
        return headers

    def capabilities(self, node: yaml.Node) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise _Refused(node, f"expected a list such as [tools, json_mode], got {_what(self.value(node))}")
        named: set[str] = set()
        for item in node.value:
            name = self.choice(list(CAPABILITIES))(item)
            if name in named:
                raise _Refused(item, f"capability '{name}' listed twice")
            named.add(name)
        return tuple(name for name in CAPABILITIES if name in named)

    def entry(
        self, node: yaml.Node, what: str, keys: dict[str, Callable[[yaml.Node], Any]], required: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, int]] | None:
        """A mapping's values by key and the line of each key; None when it has a problem."""
        if not isinstance(node, yaml.MappingNode):
            self.problems.append(Problem(_line(node), f"expected a mapping for each {what}"))
            return None
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        sound = True
        for key_node, value_node in node.value:
            about = ""  # a bad value is named by its key; a bad key needs no prefix
            try:
                key = self.text_of(key_node)
                if key not in keys:
                    raise _Refused(key_node, f"unknown key '{key}' in {what} (known: {', '.join(keys)})")
                if key in lines:
                    raise _Refused(key_node, f"key '{key}' given twice in this {what} (first at line {lines[key]})")
                lines[key] = _line(key_node)
                about = f"{what} {key}: "
                values[key] = keys[key](value_node)
            except _Refused as refused:
                self.problems.append(Problem(_line(refused.node), about + refused.text))
                sound = False
        missing = [key for key in required if key not in lines]
        if missing:
            self.problems.append(Problem(_line(node), f"{what} without {', '.join(missing)} (required)"))
            sound = False
        return (values, lines) if sound else None

    def provider(self, node: yaml.Node) -> ProviderSpec | None:
        keys = {
            "name": self.text_of,
            "kind": self.choice(list(Provider.Kind.values)),
            "base_url": self.blank_or_text,
            "account_id": self.blank_or_text,
            "api_key_env": self.token_env,
            "headers": self.headers,
            "connect_timeout": self.seconds,
            "read_timeout": self.seconds,
            "enabled": self.boolean,
        }
        read = self.entry(node, "provider", keys, required=("name",))
        if read is None:
            return None
        values, lines = read
        stated = {**PROVIDER_DEFAULTS, **values}
        stated.setdefault("api_key_env", default_token_env(stated["kind"]))
        return ProviderSpec(**stated, line=_line(node), key_lines=lines)

    def route(self, node: yaml.Node) -> RouteSpec | None:
        keys = {
            "public_name": self.text_of,
            "task": self.choice(list(Task.values)),
            "provider": self.text_of,
            "upstream_model": self.text_of,
            "priority": self.count,
            "capabilities": self.capabilities,
            "context_window": self.count_or_null,
            "max_output_tokens": self.count_or_null,
            "output_dimensions": self.count_or_null,
            "cache_ttl_seconds": self.count_or_null,
            "enabled": self.boolean,
        }
        read = self.entry(node, "route", keys, required=("public_name", "task", "provider", "upstream_model"))
        if read is None:
            return None
        values, lines = read
        return RouteSpec(**{**ROUTE_DEFAULTS, **values}, line=_line(node), key_lines=lines)

    def section(self, node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and self.value(node) is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise _Refused(node, "expected a list (one '- {…}' item per entry)")
        return list(node.value)

    def read(self) -> RouteFile:
        try:
            self.loader = yaml.SafeLoader(self.text)  # it checks every character at once
            root = self.loader.get_single_node()
            self.loader.dispose()
        except yaml.YAMLError as exc:
            raise RouteFileError(self.source, [self._syntax_problem(exc)]) from exc
        if root is None:
            raise RouteFileError(self.source, [Problem(None, "the file is empty")])
        if not isinstance(root, yaml.MappingNode):
            raise RouteFileError(self.source, [Problem(_line(root), "expected a mapping with providers: and routes:")])
        sections: dict[str, list[yaml.Node]] = {"providers": [], "routes": []}
        seen: dict[str, int] = {}
        for key_node, value_node in root.value:
            try:
                key = self.text_of(key_node)
                if key not in sections:
                    raise _Refused(key_node, f"unknown top-level key '{key}' (known: providers, routes)")
                if key in seen:
                    raise _Refused(key_node, f"'{key}' given twice (first at line {seen[key]})")
                seen[key] = _line(key_node)
                sections[key] = self.section(value_node)
            except _Refused as refused:
                self.problems.append(Problem(_line(refused.node), refused.text))
        providers = [spec for node in sections["providers"] if (spec := self.provider(node))]
        routes = [spec for node in sections["routes"] if (spec := self.route(node))]
        self._refuse_repeats(providers, routes)
        if self.problems:
            raise RouteFileError(self.source, self.problems)
        return RouteFile(self.source, tuple(providers), tuple(routes))

    def _syntax_problem(self, exc: yaml.YAMLError) -> Problem:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if mark is not None:
            return Problem(mark.line + 1, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses: no mark, a position
            line = self.text[: exc.position].count("\n") + 1
            return Problem(line, f"not valid YAML: character #x{exc.character:04x} is not allowed")
        return Problem(None, f"not valid YAML: {exc}")

    def _refuse_repeats(self, providers: list[ProviderSpec], routes: list[RouteSpec]) -> None:
        names: dict[str, int] = {}
        for provider in providers:
            if provider.name in names:
                self.problems.append(
                    Problem(
                        provider.line,
                        f"provider '{provider.name}' defined twice (first at line {names[provider.name]})",
                    )
                )
            names.setdefault(provider.name, provider.line)
        identities: dict[tuple[str, str, str, str], int] = {}
        for route in routes:
            if route.identity in identities:
                self.problems.append(
                    Problem(
                        route.line, f"{route_label(route)} listed twice (first at line {identities[route.identity]})"
                    )
                )
            identities.setdefault(route.identity, route.line)


def parse_route_file(text: str, source: str) -> RouteFile:
    """The typed content of a route file; RouteFileError lists every problem with its line."""
    return _Reader(text, source).read()
