"""Every importer end to end against the real Neo4j, on its hand-written fixture: a run loads
it, a second run changes nothing, a broken export retires nothing, and ServiceNow and NetBox
describing one server make one CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmdb_graph.store import Store
from loaders import importer
from loaders.sync.load import SyncOptions
from loaders.sync.run import read_source, run_import
from tests.loaders.test_sync import ci_props, content_digest

FIXTURES = Path(__file__).parent.parent / "fixtures"

SOURCES = {
    "servicenow": FIXTURES / "servicenow" / "estate",
    "netbox": FIXTURES / "netbox" / "main",
    "backstage": FIXTURES / "backstage" / "catalog",
    "kubernetes": FIXTURES / "kubernetes" / "cluster",
    "compose": FIXTURES / "compose" / "shop",
}


def run(store: Store, name: str, path: Path, **options):
    source = importer(name)
    return run_import(store, source, path, SyncOptions(source=options.pop("source", name), importer=name,
                                                       keys_are_ids=source.keys_are_ids, actor="test", **options))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_an_import_loads_its_fixture_and_a_second_run_changes_nothing(store: Store, name: str):
    batch = read_source(importer(name), SOURCES[name])
    assert not batch.errors
    first = run(store, name, SOURCES[name])
    assert first.ok, first.errors
    assert first.cis == {"create": len(batch.cis)}
    assert first.relationships.get("create", 0) > 0
    assert first.findings_by_kind.get("ambiguous-match", 0) == 0
    before = content_digest(store)
    second = run(store, name, SOURCES[name])
    assert second.cis == {"unchanged": len(batch.cis)}
    assert set(second.relationships) == {"unchanged"}
    assert content_digest(store) == before


def test_a_broken_export_writes_nothing_and_retires_nothing(store: Store):
    assert run(store, "servicenow", SOURCES["servicenow"]).ok
    before = content_digest(store)
    broken = run(store, "servicenow", FIXTURES / "servicenow" / "broken")
    assert not broken.ok
    assert any("sys_id" in error for error in broken.errors)
    assert content_digest(store) == before


def test_servicenow_and_netbox_reporting_pay_db_01_make_one_ci(store: Store):
    assert run(store, "servicenow", SOURCES["servicenow"]).ok
    server = [r["id"] for r in store.rows("MATCH (n:CI {serial_number: 'CZJ1234ABC'}) RETURN n.id AS id")]
    assert len(server) == 1
    report = run(store, "netbox", SOURCES["netbox"])
    assert report.ok, report.errors
    assert [r["id"] for r in store.rows("MATCH (n:CI) WHERE toUpper(n.serial_number) = 'CZJ1234ABC' "
                                        "RETURN n.id AS id")] == server
    props = ci_props(store, server[0])
    assert set(props["external_ids"]) == {"servicenow", "netbox"}
    assert props["reported_by"] == ["netbox", "servicenow"]
    assert props["fqdn"] == "pay-db-01.dc1.example.com"
    # the database instance ServiceNow says runs on it now runs on the merged server, which
    # NetBox cables to its leaf switch (and ServiceNow connects to a core switch)
    rows = store.rows("MATCH (db:CI)-[:RUNS_ON]->(s:CI {id: $id})-[:CONNECTED_VIA]->(sw:CI) "
                      "RETURN db.name AS db, sw.name AS switch", id=server[0])
    assert {(r["db"], r["switch"]) for r in rows} == {("payments-pg", "dc1-leaf-01"), ("payments-pg", "core-sw-01")}
    # one data centre: NetBox's site and ServiceNow's data centre share the name
    centres = store.rows("MATCH (n:Datacenter) WHERE toLower(n.name) = 'dc1 frankfurt' RETURN n.external_ids AS x")
    assert len(centres) == 1 and set(json.loads(centres[0]["x"])) == {"servicenow", "netbox"}
