"""The bulk load (`cmdb-graph load --bulk`): the same graph as a normal load, idempotent,
and nothing written when any row is bad."""

from __future__ import annotations

import json
from pathlib import Path

from neo4j import Driver

from cmdb_graph.generate import write_enterprise
from cmdb_graph.model import Label
from cmdb_graph.store import Store
from loaders.native import load_paths
from loaders.native.bulk import bulk_load
from tests.conftest import graph_counts

CONTENT = """
MATCH (n:CI)
OPTIONAL MATCH (n)-[o:OWNED_BY]->(t:Team)
WITH n, collect(t.id) AS owners ORDER BY n.id
RETURN collect([n.id, labels(n), n {.*, version: null, created_at: null, updated_at: null, first_seen: null,
        last_seen: null, source: null}, owners]) AS cis
"""
RELATIONSHIPS = """
MATCH (a:CI)-[r]->(b:CI)
WITH a.id AS a, type(r) AS type, b.id AS b, r.strength AS strength, r.version AS version ORDER BY a, type, b
RETURN collect([a, type, b, strength, version]) AS rels
"""


def snapshot(driver: Driver) -> tuple[list, list]:
    cis = driver.execute_query(CONTENT).records[0]["cis"]
    rels = driver.execute_query(RELATIONSHIPS).records[0]["rels"]
    return [[i, sorted(labels), props, owners] for i, labels, props, owners in cis], rels


def test_bulk_load_writes_what_a_normal_load_writes_and_again_changes_nothing(store: Store, driver: Driver, tmp_path: Path):
    folder = tmp_path / "enterprise"
    write_enterprise(folder, 600, seed=3)
    normal = load_paths(store, [folder], actor="test")
    assert normal.ok, normal.errors[:3]
    expected = snapshot(driver)

    store.driver.execute_query("MATCH (n) DETACH DELETE n")
    report = bulk_load(store, [folder], source="native", actor="test", batch_rows=100, writers=2)
    assert report.ok, report.errors[:3]
    assert snapshot(driver) == expected
    kinds = {k.kind: k for k in report.kinds}
    assert kinds["CI"].created == 600 and kinds["Relationship"].created == len(expected[1])

    before = graph_counts(driver)
    again = bulk_load(store, [folder], source="native", actor="test", batch_rows=100)
    assert again.created == 0 and again.updated == 0
    # only the load's own audit entry is new
    nodes, rels, _ = graph_counts(driver)
    assert (nodes, rels) == (before[0] + 1, before[1])


def test_a_changed_row_is_one_update_and_a_dropped_field_is_removed(store: Store, driver: Driver, tmp_path: Path):
    (tmp_path / "teams.yaml").write_text("teams:\n  - {id: t1, name: One}\n  - {id: t2, name: Two}\n")
    cis = tmp_path / "cis.csv"
    cis.write_text("id,class,owner,fqdn\na,Server,t1,a.example.org\nb,Application,t1,\n")
    (tmp_path / "relationships.csv").write_text("from,to,type\nb,a,RUNS_ON\n")
    assert bulk_load(store, [tmp_path], source="native", actor="test").ok
    cis.write_text("id,class,owner,fqdn\na,Server,t2,\nb,Application,t1,\n")
    report = bulk_load(store, [tmp_path], source="native", actor="test")
    assert {k.kind: (k.created, k.updated, k.unchanged) for k in report.kinds}["CI"] == (0, 1, 1)
    row = driver.execute_query("MATCH (n:CI {id: 'a'})-[:OWNED_BY]->(t) RETURN n.fqdn AS fqdn, n.version AS v, "
                               "collect(t.id) AS teams").records[0]
    assert (row["fqdn"], row["v"], row["teams"]) == (None, 2, ["t2"])


def test_any_bad_row_writes_nothing_and_names_file_and_line(store: Store, driver: Driver, tmp_path: Path):
    (tmp_path / "cis.csv").write_text("id,class\nok,Server\nbad,Toaster\nalso,Server\n")
    (tmp_path / "relationships.csv").write_text("from,to,type\nok,also,HAS_MEMBER\nok,ghost,DEPENDS_ON\n")
    before = graph_counts(driver)
    report = bulk_load(store, [tmp_path], source="native", actor="test")
    assert not report.ok
    text = "\n".join(report.errors)
    assert f"{tmp_path / 'cis.csv'}:3" in text and "class" in text
    assert f"{tmp_path / 'relationships.csv'}:2" in text and "only a Cluster or RedundancyGroup has members" in text
    assert f"{tmp_path / 'relationships.csv'}:3" in text and "unknown CI 'ghost'" in text
    assert graph_counts(driver) == before


def test_relationships_may_name_cis_the_database_holds(store: Store, tmp_path: Path):
    first = tmp_path / "first"
    first.mkdir()
    (first / "cis.csv").write_text("id,class\ndb,Database\n")
    assert bulk_load(store, [first], source="native", actor="test").ok
    second = tmp_path / "second"
    second.mkdir()
    (second / "cis.csv").write_text("id,class\napp,Application\n")
    (second / "relationships.csv").write_text("from,to\napp,db\n")
    assert bulk_load(store, [second], source="native", actor="test").ok
    assert store.count_relationships() == 1


def test_cli_generates_into_neo4j_and_bulk_loads_a_folder(store: Store, neo4j_env, tmp_path: Path):
    from typer.testing import CliRunner

    from cmdb_graph.cli import app

    runner = CliRunner()
    generated = runner.invoke(app, ["generate", "--cis", "400", "--seed", "5", "--json"])
    assert generated.exit_code == 0, generated.output
    assert store.count(Label.CI) == 400

    written = runner.invoke(app, ["generate", "--cis", "400", "--seed", "5", "--out", str(tmp_path), "--json"])
    assert written.exit_code == 0, written.output
    again = runner.invoke(app, ["load", str(tmp_path), "--bulk", "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["created"] == 0 and report["updated"] == 0  # the same enterprise: nothing changes

    (tmp_path / "relationships.csv").write_text("from,to,type\nnowhere,also-nowhere,DEPENDS_ON\n")
    refused = runner.invoke(app, ["load", str(tmp_path), "--bulk"])
    assert refused.exit_code != 0 and "relationships.csv:2" in refused.output and "nothing was written" in refused.output
