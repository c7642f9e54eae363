"""Every analysis answers on the demo enterprise through the CLI (table and --json)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cmdb_graph.cli import app
from cmdb_graph.connection import Neo4jTarget
from cmdb_graph.demo import build_demo
from cmdb_graph.store import Store
from loaders.native.get import read_mapping
from loaders.native.load import load_document
from loaders.native.transform import transform

COMMANDS = [
    (["impact", "db-catalog"], lambda r: r["business_services"][0]["ci"]["id"] == "svc-online-shop"),
    (["dependencies", "app-checkout", "--max-depth", "1"], lambda r: all(d["distance"] == 1 for d in r)),
    (["blast-radius", "dc-fra"], lambda r: r["severity_level"] == "I"),
    (["root-cause", "app-checkout", "app-storefront", "--top", "3"], lambda r: len(r) == 3),
    (["change-impact", "CHG-0001"], lambda r: r["approval_route"] == "EMERGENCY_CAB"),
    (["continuity", "svc-payments"], lambda r: r["single_points_of_failure"] and r["availability"]["estimate"]),
    (["bia", "--first", "3"], lambda r: [e["rank"] for e in r] == [1, 2, 3]),
    (["health"], lambda r: r["ci_count"] == len(build_demo()["cis"])),
]


@pytest.fixture(scope="module")
def demo_loaded(driver, neo4j_target: Neo4jTarget) -> None:
    from cmdb_graph.schema import reset_database

    store = Store(driver, neo4j_target.database)
    reset_database(driver, neo4j_target.database)
    transformed = transform(read_mapping("demo", build_demo()))
    assert load_document(store, transformed.document, files=["demo"], source="demo", actor="test").ok


@pytest.mark.parametrize(("args", "check"), COMMANDS, ids=[c[0][0] for c in COMMANDS])
def test_each_analysis_answers_on_the_demo(demo_loaded, neo4j_env, args, check):
    runner = CliRunner()
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    machine = runner.invoke(app, [*args, "--json"])
    assert machine.exit_code == 0, machine.output
    assert check(json.loads(machine.output))


def test_an_unknown_ci_is_a_clear_error(demo_loaded, neo4j_env):
    result = CliRunner().invoke(app, ["impact", "no-such-ci"])
    assert result.exit_code == 1 and "no CI with id 'no-such-ci'" in result.output
