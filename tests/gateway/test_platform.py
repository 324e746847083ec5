"""The core is a platform: families plug in, and the dependency direction is checked, not hoped for.

Moderations is the example family: its request computes its own Demand (gateway/moderations/
request.py) and accounting admits and settles that without knowing the family exists.
"""

from __future__ import annotations

import subprocess

import grimp
import requests
from conftest import ROOT, make_key

ACCOUNTING_AND_CORE = ("gateway.access", "gateway.accounting", "gateway.catalog")
FAMILIES = (
    "gateway.chat",
    "gateway.completions",
    "gateway.moderations",
    "gateway.embeddings",
    "gateway.responses",
    "audio",
)


def test_the_import_contracts_hold() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_accounting_reaches_no_family_even_indirectly() -> None:
    graph = grimp.build_graph("gateway", "audio")
    for core in ACCOUNTING_AND_CORE:
        for family in FAMILIES:
            chain = graph.find_shortest_chain(importer=core, imported=family, as_packages=True)
            assert chain is None, f"{core} reaches {family}: {chain}"


def test_a_family_is_admitted_by_the_demand_it_computes(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.moderations.request import VERDICT_MAX_TOKENS

    key = make_key("moderator", tpm_limit=1000)
    answer = requests.post(
        f"{gateway_url}/v1/moderations",
        json={"input": ["abcd", "efgh"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    # Two inputs, each one user message: 4 tokens of markup, 1 of text (4 bytes); 3 for the primer
    # each; and each verdict held to VERDICT_MAX_TOKENS. Nothing in accounting knows this rule.
    demand = 2 * (3 + 4 + 1) + 2 * VERDICT_MAX_TOKENS
    assert answer.headers["x-ratelimit-remaining-tokens"] == str(1000 - demand)


def test_the_layout_is_the_same_in_every_family() -> None:
    for family in FAMILIES:
        package = ROOT / family.replace(".", "/")
        assert {"request.py", "service.py", "render.py", "views.py"} <= {path.name for path in package.iterdir()}
