"""The shared sync step against the real Neo4j: identification across sources, precedence,
idempotence, cleanup only after a complete run, the cleanup guard, dry runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cmdb_graph.model import Label, RelType
from cmdb_graph.store import Store
from loaders.native import load_paths
from loaders.native.get import Location
from loaders.sync.load import CleanupRefused, SyncOptions, sync_batch
from loaders.sync.model import AMBIGUOUS, DANGLING, SourceBatch


def batch_of(cis: dict[str, dict[str, Any]], rels: list[tuple[str, str, str]] = (), file: str = "src.json") -> SourceBatch:
    batch = SourceBatch()
    for index, (key, data) in enumerate(cis.items()):
        ci = batch.add_ci(key, {"id": key.replace(" ", "-"), **data}, Location(file, None, "items", index))
        assert ci is not None, batch.errors
    for index, (source, rel_type, target) in enumerate(rels):
        batch.depends(source, target, Location(file, None, "links", index), RelType(rel_type))
    return batch


def sync(store: Store, batch: SourceBatch, source: str = "netbox", importer: str | None = None, **options: Any):
    return sync_batch(store, batch, SyncOptions(source=source, importer=importer or source, actor="test",
                                                batch_size=2, **options), path="test")


def ci_props(store: Store, ci_id: str) -> dict[str, Any]:
    rows = store.rows("MATCH (n:CI {id: $id}) RETURN properties(n) AS p", id=ci_id)
    assert rows, f"no CI {ci_id}"
    props = dict(rows[0]["p"])
    if "external_ids" in props:
        props["external_ids"] = json.loads(props["external_ids"])
    return props


def content_digest(store: Store) -> tuple[dict[str, Any], set[tuple[str, str, str]], int]:
    """Everything but the run's own stamps (sync tag, last seen), plus the audit count."""
    nodes = {
        row["id"]: {k: v for k, v in row["p"].items() if k not in ("sync_tag", "last_seen")}
        for row in store.rows("MATCH (n) WHERE n.id IS NOT NULL AND NOT n:AuditEntry AND NOT n:SyncRun "
                              "RETURN n.id AS id, properties(n) AS p")
    }
    rels = {(r["a"], r["t"], r["b"]) for r in store.rows("MATCH (a:CI)-[r]->(b:CI) RETURN a.id AS a, type(r) AS t, b.id AS b")}
    audit = store.rows("MATCH (e:AuditEntry) RETURN count(e) AS n")[0]["n"]
    return nodes, rels, audit


SERVERS = {
    "dcim.device:1": {"class": "Server", "name": "pay-db-01", "serial_number": "CZJ1234ABC", "fqdn": "pay-db-01.dc1.example.com",
                      "ip_addresses": ["10.10.1.21"], "attributes": {"rack": "R12"}},
    "dcim.device:2": {"class": "NetworkDevice", "name": "dc1-leaf-01", "serial_number": "FDO2211X0AB"},
    "dcim.device:3": {"class": "Server", "name": "web-01", "serial_number": "CZJ9999XYZ"},
}


def test_first_run_creates_cis_named_after_the_source_with_its_keys_as_external_ids(store: Store):
    report = sync(store, batch_of(SERVERS, [("dcim.device:1", "CONNECTED_VIA", "dcim.device:2")]))
    assert report.cis == {"create": 3}
    assert report.relationships == {"create": 1}
    props = ci_props(store, "netbox:dcim.device:1")
    assert props["external_ids"] == {"netbox": "dcim.device:1"}
    assert props["reported_by"] == ["netbox"]
    assert props["sync_tag"] == report.sync_tag
    assert props["serial_number"] == "CZJ1234ABC"
    assert store.rows("MATCH (r:SyncRun {id: $tag}) RETURN r.cis_create AS n", tag=report.sync_tag)[0]["n"] == 3


def test_running_an_import_twice_changes_nothing_but_its_stamps(store: Store):
    batch = batch_of(SERVERS, [("dcim.device:1", "CONNECTED_VIA", "dcim.device:2")])
    first = sync(store, batch)
    before = content_digest(store)
    second = sync(store, batch)
    assert second.cis == {"unchanged": 3}
    assert second.relationships == {"unchanged": 1}
    assert content_digest(store) == before
    assert ci_props(store, "netbox:dcim.device:1")["sync_tag"] == second.sync_tag != first.sync_tag


def test_a_ci_the_source_no_longer_reports_is_retired_and_keeps_its_last_seen(store: Store):
    sync(store, batch_of(SERVERS))
    seen = ci_props(store, "netbox:dcim.device:3")["last_seen"]
    report = sync(store, batch_of({k: v for k, v in SERVERS.items() if k != "dcim.device:3"}), allow_large_cleanup=True)
    assert report.retired == ["netbox:dcim.device:3"]
    props = ci_props(store, "netbox:dcim.device:3")
    assert props["status"] == "retired"
    assert props["last_seen"] == seen
    assert props["reported_by"] == []
    assert props["version"] == 2
    # it comes back: operational again, and claimed again
    back = sync(store, batch_of(SERVERS))
    assert back.cis["update"] == 1
    assert ci_props(store, "netbox:dcim.device:3")["status"] == "operational"
    assert ci_props(store, "netbox:dcim.device:3")["reported_by"] == ["netbox"]


def test_a_cleanup_larger_than_the_allowed_share_is_refused_and_writes_nothing(store: Store):
    sync(store, batch_of(SERVERS))
    before = content_digest(store)
    smaller = batch_of({"dcim.device:1": SERVERS["dcim.device:1"], "dcim.device:9": {"class": "Server", "name": "new"}})
    with pytest.raises(CleanupRefused, match=r"2 of the 3 CIs .* \(67%, more than the 20% allowed\)"):
        sync(store, smaller)
    assert content_digest(store) == before  # not even the new CI
    allowed = sync(store, smaller, allow_large_cleanup=True)
    assert sorted(allowed.retired) == ["netbox:dcim.device:2", "netbox:dcim.device:3"]
    assert allowed.cis["create"] == 1


def test_an_empty_source_is_refused_rather_than_retiring_everything(store: Store):
    sync(store, batch_of(SERVERS))
    with pytest.raises(CleanupRefused, match="3 of the 3"):
        sync(store, SourceBatch())


def test_delete_stale_deletes_instead_of_retiring(store: Store):
    sync(store, batch_of(SERVERS, [("dcim.device:3", "CONNECTED_VIA", "dcim.device:2")]))
    report = sync(store, batch_of({k: v for k, v in SERVERS.items() if k != "dcim.device:3"}),
                  allow_large_cleanup=True, delete_stale=True)
    assert report.deleted == ["netbox:dcim.device:3"]
    assert store.rows("MATCH (n:CI {id: 'netbox:dcim.device:3'}) RETURN n") == []
    assert store.history("netbox:dcim.device:3")[0].action == "delete"


def test_a_relationship_no_longer_reported_is_removed_but_one_loaded_by_hand_stays(store: Store, tmp_path):
    sync(store, batch_of(SERVERS, [("dcim.device:1", "CONNECTED_VIA", "dcim.device:2"),
                                   ("dcim.device:3", "CONNECTED_VIA", "dcim.device:2")]))
    native = tmp_path / "by-hand.yaml"
    native.write_text("relationships:\n  - {from: 'netbox:dcim.device:3', to: 'netbox:dcim.device:1', type: DEPENDS_ON}\n")
    assert load_paths(store, [native], actor="test").ok
    report = sync(store, batch_of(SERVERS, [("dcim.device:1", "CONNECTED_VIA", "dcim.device:2")]))
    assert report.relationships_removed == ["netbox:dcim.device:3|CONNECTED_VIA|netbox:dcim.device:2"]
    _, rels, _ = content_digest(store)
    assert rels == {("netbox:dcim.device:1", "CONNECTED_VIA", "netbox:dcim.device:2"),
                    ("netbox:dcim.device:3", "DEPENDS_ON", "netbox:dcim.device:1")}


def test_cis_loaded_by_hand_are_never_retired_by_an_import(store: Store, tmp_path):
    native = tmp_path / "by-hand.yaml"
    native.write_text("cis:\n  - {id: hand-made, class: Server, name: hand-made, serial_number: HM-1}\n")
    assert load_paths(store, [native], actor="test").ok
    sync(store, batch_of(SERVERS))
    sync(store, batch_of({k: v for k, v in SERVERS.items() if k != "dcim.device:3"}), allow_large_cleanup=True)
    assert ci_props(store, "hand-made")["status"] == "operational"


def test_two_sources_reporting_one_server_make_one_ci_with_both_ids_and_precedence_per_field(store: Store):
    sync(store, batch_of(SERVERS))
    servicenow = batch_of({
        "4f1d2a": {"class": "Server", "name": "PAY-DB-01 (prod)", "serial_number": "czj1234abc", "status": "operational",
                   "fqdn": "pay-db-01.example.com", "criticality": 1, "attributes": {"rack": "R99", "os": "RHEL 9"}},
    })
    report = sync(store, servicenow, source="servicenow")
    assert report.cis == {"update": 1}
    props = ci_props(store, "netbox:dcim.device:1")
    assert props["external_ids"] == {"netbox": "dcim.device:1", "servicenow": "4f1d2a"}
    assert props["reported_by"] == ["netbox", "servicenow"]
    assert props["fqdn"] == "pay-db-01.dc1.example.com"  # NetBox ranks first for addresses
    assert props["name"] == "PAY-DB-01 (prod)"  # ServiceNow ranks first for names
    assert props["criticality"] == 1  # NetBox says nothing about it
    assert json.loads(props["attributes"]) == {"rack": "R12", "os": "RHEL 9"}
    assert store.count(Label.CI) == 3
    # NetBox running again keeps ServiceNow's name and the merged CI stays unchanged
    again = sync(store, batch_of(SERVERS))
    assert again.cis == {"unchanged": 3}
    # ServiceNow dropping it only drops its claim: NetBox still reports the server
    gone = sync(store, SourceBatch(), source="servicenow", allow_large_cleanup=True)
    assert gone.no_longer_reported == ["netbox:dcim.device:1"] and gone.retired == []
    assert ci_props(store, "netbox:dcim.device:1")["reported_by"] == ["netbox"]


def test_an_item_matching_two_stored_cis_is_reported_and_not_loaded(store: Store):
    sync(store, batch_of(SERVERS))
    both = batch_of({"77": {"class": "Server", "name": "x", "serial_number": "CZJ1234ABC", "ip_addresses": ["10.9.9.9"]},
                     "78": {"class": "Server", "name": "y", "serial_number": "CZJ9999XYZ"}},
                    rels=[("77", "DEPENDS_ON", "78")])
    sync(store, batch_of({"dcim.device:5": {"class": "Server", "name": "z", "ip_addresses": ["10.9.9.9"]}}),
         source="other")
    report = sync(store, both, source="servicenow")
    ambiguous = [f for f in report.findings if AMBIGUOUS in f]
    assert len(ambiguous) == 1 and "netbox:dcim.device:1" in ambiguous[0] and "other:dcim.device:5" in ambiguous[0]
    assert report.cis == {"update": 1}  # "78" merged into web-01
    assert report.findings_by_kind["skipped"] == 1  # its relationship to the held-back item
    assert store.count(Label.CI) == 4


def test_a_shared_serial_across_classes_is_reported_not_merged(store: Store):
    sync(store, batch_of(SERVERS))
    report = sync(store, batch_of({"x1": {"class": "StorageDevice", "name": "array", "serial_number": "CZJ1234ABC"}}),
                  source="servicenow")
    assert report.cis == {"create": 1}
    assert any("a different class, so not merged" in f for f in report.findings)


def test_a_relationship_to_an_item_the_source_does_not_hold_is_reported_not_invented(store: Store):
    report = sync(store, batch_of(SERVERS, [("dcim.device:1", "CONNECTED_VIA", "dcim.device:404")]))
    assert report.findings_by_kind == {DANGLING: 1}
    assert store.count_relationships() == 0


def test_a_dry_run_lists_the_diff_and_writes_nothing(store: Store):
    sync(store, batch_of(SERVERS))
    before = content_digest(store)
    changed = dict(SERVERS)
    changed["dcim.device:2"] = {**SERVERS["dcim.device:2"], "name": "dc1-leaf-01a"}
    del changed["dcim.device:3"]
    changed["dcim.device:4"] = {"class": "Server", "name": "web-02"}
    report = sync(store, batch_of(changed), dry_run=True, allow_large_cleanup=True)
    assert report.created == ["netbox:dcim.device:4"]
    assert [(c.id, c.fields) for c in report.updated] == [("netbox:dcim.device:2", ["name"])]
    assert report.retired == ["netbox:dcim.device:3"]
    assert content_digest(store) == before
    assert store.count(Label.SYNC_RUN) == 1


def test_an_unknown_owner_team_is_reported_and_left_unset(store: Store):
    batch = batch_of({"a": {"class": "Application", "name": "a", "owner": "ghosts"}})
    report = sync(store, batch, source="backstage")
    assert report.findings_by_kind == {DANGLING: 1}
    assert "owner" not in ci_props(store, "backstage:a")


def test_a_run_committed_in_several_transactions_gives_the_same_graph(store: Store):
    batch = batch_of(SERVERS, [("dcim.device:1", "CONNECTED_VIA", "dcim.device:2"),
                               ("dcim.device:3", "CONNECTED_VIA", "dcim.device:2")])
    one = sync(store, batch)
    single = content_digest(store)
    store.driver.execute_query("MATCH (n) DETACH DELETE n")
    several = sync(store, batch, commit_rows=2)  # teams, 2 CI batches, 1 relationship batch: 3 commits
    assert (several.cis, several.relationships) == (one.cis, one.relationships)
    nodes, rels, _ = content_digest(store)
    strip = lambda ns: {k: {p: v for p, v in n.items() if p not in ("created_at", "updated_at", "first_seen")}
                        for k, n in ns.items()}
    assert (strip(nodes), rels) == (strip(single[0]), single[1])


def test_a_run_that_fails_part_way_retires_nothing_and_running_it_again_finishes_it(store: Store, monkeypatch):
    from loaders.sync import load

    sync(store, batch_of(SERVERS))
    changed = {k: v for k, v in SERVERS.items() if k != "dcim.device:3"}
    changed["dcim.device:4"] = {"class": "Server", "name": "web-02"}
    failing = load._Run.load_relationships

    def broken(self, index, tx):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(load._Run, "load_relationships", broken)
    with pytest.raises(RuntimeError):
        sync(store, batch_of(changed, [("dcim.device:4", "CONNECTED_VIA", "dcim.device:2")]),
             allow_large_cleanup=True, commit_rows=2)
    assert ci_props(store, "netbox:dcim.device:3")["status"] == "operational"  # not retired
    assert store.count(Label.SYNC_RUN) == 1  # the failed run is not recorded as done
    monkeypatch.setattr(load._Run, "load_relationships", failing)
    again = sync(store, batch_of(changed, [("dcim.device:4", "CONNECTED_VIA", "dcim.device:2")]),
                 allow_large_cleanup=True, commit_rows=2)
    assert again.retired == ["netbox:dcim.device:3"]
    # the first commit (devices 1 and 2) stayed; the second (device 4, the relationship) did not
    assert again.cis == {"unchanged": 2, "create": 1, "retired": 1}
    assert again.relationships == {"create": 1}
