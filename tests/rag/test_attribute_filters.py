"""rag/attribute_filters.py through rag.search.search on the real Postgres: what each filter finds."""

from __future__ import annotations

from typing import Any

import pytest
from rag_helpers import DIMS, axis, owner, put

from gateway.errors import GatewayError
from rag.attribute_filters import MAX_COMPARISONS, MAX_DEPTH, MAX_KEY_LENGTH, compile_filter
from rag.search import search

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = "a') OR true --"
# Attributes that differ in type on purpose: gamma's year is a string, delta's draft a string,
# beta/epsilon/zeta lack lang, delta/zeta lack score, zeta holds an array.
DOCUMENTS: dict[str, dict[str, Any]] = {
    "alpha": {"author": "ann", "year": 2020, "score": 4.5, "draft": False, "lang": "en"},
    "beta": {"author": "bob", "year": 2021, "score": 3, "draft": True},
    "gamma": {"author": "cy", "year": "2022", "score": 4.0, "draft": False, "lang": "fr"},
    "delta": {"author": "Dee", "year": 2019.5, "draft": "false", "lang": "en"},
    "epsilon": {"author": "émile", "year": 2023, "score": 1, "draft": False, HOSTILE: "x", "quote": "it's"},
    "zeta": {"tags": ["x", "y"]},
}
EVERYONE = set(DOCUMENTS)


@pytest.fixture
def library() -> int:
    reader = owner("attributes")
    for position, (name, metadata) in enumerate(DOCUMENTS.items()):
        put(reader, name, [(f"{name} field notes", axis(position))], metadata=metadata)
    put(owner("stranger"), "alien", [("alien field notes", axis(0))], metadata={"author": "ann"})
    return reader


def found(owner_id: int, filters: Any, **options: Any) -> set[str]:
    hits = search(
        owner_id=owner_id,
        query_vector=axis(0),
        dimensions=DIMS,
        top_k=100,
        score_threshold=-1,
        attribute_filter=compile_filter(filters),
        **options,
    )
    return {hit.document_id for hit in hits}


def cmp(kind: str, key: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "key": key, "value": value}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (cmp("eq", "author", "ann"), {"alpha"}),  # the other owner's "ann" stays out
        (cmp("eq", "score", 4), {"gamma"}),  # 4.0 stored: jsonb numbers compare numerically
        (cmp("eq", "year", 2022), set()),  # "2022" is a string
        (cmp("eq", "year", "2022"), {"gamma"}),
        (cmp("eq", "draft", False), {"alpha", "gamma", "epsilon"}),  # not delta's "false"
        (cmp("eq", "score", True), set()),  # true is not 1
        (cmp("eq", "tags", "x"), set()),  # an array is not its element
        (cmp("eq", "quote", "it's"), {"epsilon"}),
        (cmp("ne", "lang", "en"), {"beta", "gamma", "epsilon", "zeta"}),  # missing key included
        (cmp("ne", "draft", False), {"beta", "delta", "zeta"}),
        (cmp("ne", "nowhere", 1), EVERYONE),
    ],
)
def test_equality(library: int, filters: dict[str, Any], expected: set[str]) -> None:
    assert found(library, filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (cmp("gt", "year", 2020), {"beta", "epsilon"}),  # gamma's "2022" is no number
        (cmp("gte", "year", 2020), {"alpha", "beta", "epsilon"}),
        (cmp("lt", "year", 2020), {"delta"}),
        (cmp("lte", "year", 2019.5), {"delta"}),
        (cmp("gte", "score", 4), {"alpha", "gamma"}),
        (cmp("lt", "score", 3.0000001), {"beta", "epsilon"}),
        (cmp("gt", "draft", 0), set()),  # booleans are not numbers
        (cmp("gte", "year", "2000"), {"gamma"}),  # strings compare with strings only
        (cmp("lt", "author", "b"), {"alpha", "delta"}),  # byte order: "Dee" < "ann" < "b"
        (cmp("gte", "author", "d"), {"epsilon"}),  # "é" is above every ASCII letter
        (cmp("gt", "author", "bob"), {"gamma", "epsilon"}),
        (cmp("lte", "author", "bob"), {"alpha", "beta", "delta"}),
        (cmp("gt", "nowhere", 0), set()),
    ],
)
def test_ordering_compares_numbers_with_numbers_and_strings_with_strings(
    library: int, filters: dict[str, Any], expected: set[str]
) -> None:
    assert found(library, filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (cmp("in", "author", ["ann", "bob", "nobody"]), {"alpha", "beta"}),
        (cmp("in", "year", [2020, "2022", 2019.5]), {"alpha", "gamma", "delta"}),  # mixed types
        (cmp("in", "draft", [True, "false"]), {"beta", "delta"}),
        (cmp("in", "score", [1.0, 4]), {"epsilon", "gamma"}),
        (cmp("in", "score", [True]), set()),
        (cmp("in", "year", ["2020"]), set()),
        (cmp("nin", "lang", ["en"]), {"beta", "gamma", "epsilon", "zeta"}),  # missing key included
        (cmp("nin", "year", [2020, 2021, "2022"]), {"delta", "epsilon", "zeta"}),
    ],
)
def test_membership(library: int, filters: dict[str, Any], expected: set[str]) -> None:
    assert found(library, filters) == expected


def test_nested_and_or(library: int) -> None:
    filters = {
        "type": "or",
        "filters": [
            {"type": "and", "filters": [cmp("eq", "author", "ann"), cmp("gte", "year", 2020)]},
            {
                "type": "and",
                "filters": [
                    cmp("eq", "lang", "fr"),
                    {"type": "or", "filters": [cmp("gt", "score", 3.5), cmp("eq", "draft", True)]},
                ],
            },
            {"type": "and", "filters": [cmp("eq", "author", "bob"), cmp("eq", "lang", "en")]},  # none
        ],
    }
    assert found(library, filters) == {"alpha", "gamma"}
    assert found(library, {"type": "and", "filters": [cmp("ne", "lang", "en"), cmp("ne", "draft", True)]}) == {
        "gamma",
        "epsilon",
        "zeta",
    }


def test_the_filter_joins_namespace_and_metadata_filter_and_hybrid_mode(library: int) -> None:
    ranged = cmp("gte", "year", 2020)
    assert found(library, ranged, metadata_filter={"draft": False}) == {"alpha", "epsilon"}
    assert found(library, ranged, namespace="elsewhere") == set()
    assert found(library, ranged, mode="hybrid", query_text="field notes") == {"alpha", "beta", "epsilon"}
    # An unrelated query text: the vector side alone, still filtered.
    assert found(library, cmp("in", "author", ["cy"]), mode="hybrid", query_text="zebra") == {"gamma"}


def test_a_hostile_key_is_only_a_key(library: int) -> None:
    assert found(library, cmp("eq", HOSTILE, "x")) == {"epsilon"}
    assert found(library, cmp("ne", HOSTILE, "x")) == EVERYONE - {"epsilon"}
    assert found(library, cmp("gte", HOSTILE, "")) == {"epsilon"}
    assert found(library, cmp("in", HOSTILE, ["y", "x"])) == {"epsilon"}
    assert found(library, cmp("eq", "author", "ann' OR '1'='1")) == set()
    compiled = compile_filter(cmp("lt", HOSTILE, "%(owner)s"))
    assert HOSTILE not in compiled.sql and "%(owner)s" not in compiled.sql
    assert set(compiled.params) == {"af_0", "af_1"}


def test_the_bounds_themselves_are_accepted(library: int) -> None:
    many = {"type": "or", "filters": [cmp("eq", "author", str(n)) for n in range(MAX_COMPARISONS - 1)]}
    many["filters"].append(cmp("eq", "author", "cy"))
    assert found(library, many) == {"gamma"}
    deep: dict[str, Any] = cmp("eq", "k" * MAX_KEY_LENGTH, 1)
    for _ in range(MAX_DEPTH):
        deep = {"type": "and", "filters": [deep]}
    assert found(library, deep) == set()


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = cmp("eq", "k", 1)
    for _ in range(depth):
        node = {"type": "and", "filters": [node]}
    return node


@pytest.mark.parametrize(
    ("filters", "param"),
    [
        ("author = 'ann'", "filters"),
        ([cmp("eq", "a", 1)], "filters"),
        ({"key": "a", "value": 1}, "filters.type"),
        (cmp("like", "a", "x"), "filters.type"),
        ({"type": 1, "key": "a", "value": 1}, "filters.type"),
        ({"type": "eq", "value": 1}, "filters.key"),
        (cmp("eq", 5, 1), "filters.key"),
        (cmp("eq", "", 1), "filters.key"),
        (cmp("eq", "k" * (MAX_KEY_LENGTH + 1), 1), "filters.key"),
        (cmp("eq", "a\x00b", 1), "filters.key"),
        ({"type": "eq", "key": "a"}, "filters.value"),
        (cmp("eq", "a", None), "filters.value"),
        (cmp("eq", "a", [1]), "filters.value"),
        (cmp("ne", "a", {"b": 1}), "filters.value"),
        (cmp("eq", "a", float("nan")), "filters.value"),
        (cmp("eq", "a", "nul\x00"), "filters.value"),
        (cmp("gt", "a", True), "filters.value"),
        (cmp("lte", "a", [1, 2]), "filters.value"),
        (cmp("in", "a", []), "filters.value"),
        (cmp("nin", "a", "x"), "filters.value"),
        (cmp("in", "a", [1, None]), "filters.value[1]"),
        (cmp("nin", "a", ["x", ["y"]]), "filters.value[1]"),
        ({**cmp("eq", "a", 1), "filters": []}, "filters.filters"),
        ({"type": "and", "filters": []}, "filters.filters"),
        ({"type": "or"}, "filters.filters"),
        ({"type": "or", "filters": cmp("eq", "a", 1)}, "filters.filters"),
        ({"type": "and", "filters": [cmp("eq", "a", 1), "b"]}, "filters.filters[1]"),
        (
            {
                "type": "and",
                "filters": [
                    cmp("eq", "a", 1),
                    {"type": "or", "filters": [cmp("eq", "b", 2), {"type": "eq", "key": "c"}]},
                ],
            },
            "filters.filters[1].filters[1].value",
        ),
        (
            {"type": "or", "filters": [cmp("eq", "a", 1), {"type": "and", "filters": [cmp("gt", "b", False)]}]},
            "filters.filters[1].filters[0].value",
        ),
        (nested(MAX_DEPTH + 1), "filters" + ".filters[0]" * MAX_DEPTH),
        (
            {"type": "and", "filters": [cmp("eq", "a", n) for n in range(MAX_COMPARISONS + 1)]},
            f"filters.filters[{MAX_COMPARISONS}]",
        ),
    ],
)
def test_malformed_filters_are_a_400_naming_the_path(filters: Any, param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        compile_filter(filters)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert caught.value.body()["error"]["type"] == "invalid_request_error"


def test_the_root_path_is_the_callers() -> None:
    with pytest.raises(GatewayError) as caught:
        compile_filter({"type": "and", "filters": [cmp("in", "a", [])]}, param="tools[0].filters")
    assert caught.value.param == "tools[0].filters.filters[0].value"
