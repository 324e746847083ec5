"""OpenAI attribute filters (vector store search, the Responses `file_search` tool) compiled to SQL.

A filter is a comparison, `{"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin", "key", "value"}`,
or a compound, `{"type": "and"|"or", "filters": [...]}`
(https://platform.openai.com/docs/api-reference/vector-stores/search). It becomes a WHERE fragment
over `c.metadata` (rag_chunk's jsonb, GIN `jsonb_path_ops` index) with named parameters `af_0`,
`af_1`, … that cannot collide with rag/search.py's own. Keys and values are always parameters; the
only text put in the SQL is this module's fixed operators.

Semantics, chosen so a filter never raises in the database and means one thing per JSON type:

- eq: `metadata @> {key: value}`, containment, which the GIN index serves. jsonb compares numbers
  numerically (1 equals 1.0) and never equates types ("1" ≠ 1, true ≠ 1).
- ne: NOT that containment, so a chunk without the key matches too (OpenAI's "not equal").
- gt/gte/lt/lte with a number: only values that are JSON numbers, compared as numeric (exact, the
  bound is sent as its JSON text); with a string: only JSON strings, compared byte-wise (COLLATE
  "C", independent of the database's locale). The cast sits in a CASE behind the type test, as
  AND does not fix the order of evaluation; other types are simply not matched. Booleans: 400.
- in: containment of any `{key: element}`, i.e. eq with any element; nin: NOT in, so a missing key
  matches.
- and/or: the parenthesised parts joined by AND/OR.

Bounds (400 beyond them): and/or nested at most MAX_DEPTH deep, at most MAX_COMPARISONS
comparisons, keys of at most MAX_KEY_LENGTH characters, in/nin lists of at most MAX_VALUES.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import invalid

MAX_DEPTH = 8
MAX_COMPARISONS = 64
MAX_KEY_LENGTH = 64
MAX_VALUES = 1000
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
COMPOUNDS = ("and", "or")
_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class SqlFilter:
    """A WHERE fragment over `c.metadata` and its named psycopg parameters (all `af_…`)."""

    sql: str
    params: dict[str, Any]


def compile_filter(filters: Any, param: str = "filters") -> SqlFilter:
    """The SQL of an OpenAI filter object; GatewayError 400 naming the JSON path of the first fault."""
    compiler = _Compiler()
    sql = compiler.compile(filters, param, depth=0)
    return SqlFilter(sql=sql, params=compiler.params)


@dataclass
class _Compiler:
    params: dict[str, Any] = field(default_factory=dict)
    comparisons: int = 0

    def bind(self, value: Any) -> str:
        name = f"af_{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def compile(self, node: Any, path: str, *, depth: int) -> str:
        if not isinstance(node, dict):
            raise invalid("A filter must be an object.", param=path)
        kind = node.get("type")
        if kind in COMPOUNDS:
            return self.compound(node, kind, path, depth=depth + 1)
        if kind in COMPARISONS:
            return self.comparison(node, kind, path)
        if "type" not in node:
            raise invalid("A filter needs a type.", param=f"{path}.type")
        raise invalid(f"A filter's type must be one of {', '.join(COMPARISONS + COMPOUNDS)}.", param=f"{path}.type")

    def compound(self, node: dict[str, Any], kind: str, path: str, *, depth: int) -> str:
        _no_other_fields(node, ("type", "filters"), path)
        if depth > MAX_DEPTH:
            raise invalid(f"Filters may nest and/or at most {MAX_DEPTH} deep.", param=path)
        parts = node.get("filters")
        if not isinstance(parts, list) or not parts:
            raise invalid(f"An {kind} filter needs a non-empty list of filters.", param=f"{path}.filters")
        sqls = [self.compile(part, f"{path}.filters[{i}]", depth=depth) for i, part in enumerate(parts)]
        return "(" + f" {kind.upper()} ".join(sqls) + ")"

    def comparison(self, node: dict[str, Any], kind: str, path: str) -> str:
        _no_other_fields(node, ("type", "key", "value"), path)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise invalid(f"A filter may hold at most {MAX_COMPARISONS} comparisons.", param=path)
        key = node.get("key")
        if not isinstance(key, str) or not key:
            raise invalid("A comparison needs a non-empty string key.", param=f"{path}.key")
        if len(key) > MAX_KEY_LENGTH:
            raise invalid(f"A key may have at most {MAX_KEY_LENGTH} characters.", param=f"{path}.key")
        if "\x00" in key:
            raise invalid("A key may not contain the NUL character.", param=f"{path}.key")
        if "value" not in node:
            raise invalid("A comparison needs a value.", param=f"{path}.value")
        value, value_path = node["value"], f"{path}.value"
        if kind in ("in", "nin"):
            return self.membership(key, value, kind, value_path)
        _check_scalar(value, value_path)
        if kind in ("eq", "ne"):
            contains = f"c.metadata @> {self.bind(_json({key: value}))}::jsonb"
            return contains if kind == "eq" else f"NOT ({contains})"
        return self.order(key, value, _ORDER[kind], value_path)

    def order(self, key: str, value: Any, operator: str, path: str) -> str:
        if isinstance(value, bool):
            raise invalid("gt, gte, lt and lte compare a number or a string, not a boolean.", param=path)
        key_param = self.bind(key)
        text = f"(c.metadata ->> {key_param}::text)"
        if isinstance(value, str):
            kind, compared = "string", f'{text} COLLATE "C" {operator} {self.bind(value)}::text'
        else:
            kind, compared = "number", f"{text}::numeric {operator} {self.bind(_json(value))}::numeric"
        return f"(CASE WHEN jsonb_typeof(c.metadata -> {key_param}::text) = '{kind}' THEN {compared} ELSE false END)"

    def membership(self, key: str, values: Any, kind: str, path: str) -> str:
        if not isinstance(values, list) or not values:
            raise invalid(f"{kind} needs a non-empty array of strings, numbers or booleans.", param=path)
        if len(values) > MAX_VALUES:
            raise invalid(f"{kind} takes at most {MAX_VALUES} values.", param=path)
        for i, value in enumerate(values):
            _check_scalar(value, f"{path}[{i}]")
        # One jsonb[] parameter: the SQL stays the same size whatever the list's length.
        contains = f"c.metadata @> ANY({self.bind([_json({key: value}) for value in values])}::jsonb[])"
        return contains if kind == "in" else f"NOT ({contains})"


def _no_other_fields(node: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for name in node:
        if name not in allowed:
            raise invalid(f"Unknown filter field {name!r}; expected {', '.join(allowed)}.", param=f"{path}.{name}")


def _check_scalar(value: Any, path: str) -> None:
    """A string, a finite number or a boolean, as jsonb can hold it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise invalid("A filter value may not contain the NUL character.", param=path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise invalid("A filter value must be a finite number.", param=path)
    elif not isinstance(value, (int, bool)):
        raise invalid("A filter value must be a string, a number or a boolean.", param=path)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
