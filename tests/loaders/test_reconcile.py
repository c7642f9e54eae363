"""Identification and precedence, as pure functions (the sync tests run them on Neo4j)."""

from __future__ import annotations

from cmdb_graph.model import CI, CIClass
from loaders.native.get import Location
from loaders.sync.model import SourceCI
from loaders.sync.reconcile import StoredIdentity, identify, merge, rank

HERE = Location("f", 1, "items", 0)


def item(key: str, **data) -> SourceCI:
    return SourceCI(key, CI.model_validate({"id": key, **data}), HERE)


STORED = [
    StoredIdentity("srv-a", CIClass.SERVER, "a", serial_number="SER-1", fqdn="a.example.com", ip_addresses=("10.0.0.1",),
                   external_ids={"servicenow": "sys-a"}, reported_by=("servicenow",)),
    StoredIdentity("vm-b", CIClass.VIRTUAL_MACHINE, "b", fqdn="b.example.com", ip_addresses=("10.0.0.2",)),
    StoredIdentity("dc1", CIClass.DATACENTER, "DC1 Frankfurt"),
]


def test_the_sources_own_key_wins_over_every_other_rule():
    result = identify([item("sys-a", **{"class": "Server", "serial_number": "OTHER"})], STORED, "servicenow")
    assert result.ids == {"sys-a": "srv-a"} and not result.new


def test_serials_and_fqdns_match_whatever_their_case():
    result = identify([item("7", **{"class": "Server", "serial_number": " ser-1 "}),
                       item("8", **{"class": "VirtualMachine", "fqdn": "B.Example.COM."}),
                       item("9", **{"class": "Datacenter", "name": "dc1 frankfurt"})], STORED, "netbox")
    assert result.ids == {"7": "srv-a", "8": "vm-b", "9": "dc1"}


def test_a_vm_is_not_matched_by_serial():
    result = identify([item("5", **{"class": "VirtualMachine", "serial_number": "SER-1"})], STORED, "netbox")
    assert result.ids == {"5": "netbox:5"} and result.new == {"5"}


def test_two_candidates_hold_the_item_back():
    result = identify([item("5", **{"class": "Server", "serial_number": "SER-1", "ip_addresses": ["10.0.0.9"]})],
                      [*STORED, StoredIdentity("srv-c", CIClass.SERVER, ip_addresses=("10.0.0.9",))], "netbox")
    assert result.held_back == {"5"} and "srv-a (serial_number=SER-1)" in result.findings[0].message


def test_two_items_wanting_one_ci_are_both_held_back():
    result = identify([item("5", **{"class": "Server", "serial_number": "SER-1"}),
                       item("6", **{"class": "Server", "fqdn": "a.example.com"})], STORED, "netbox")
    assert result.held_back == {"5", "6"} and result.ids == {}


def test_a_ci_the_source_reported_under_a_key_it_no_longer_uses_can_be_matched_again():
    # NetBox re-created the device with a new id: same serial, so the same CI
    stored = [StoredIdentity("nb-1", CIClass.SERVER, serial_number="SER-9", external_ids={"netbox": "dcim.device:1"},
                             reported_by=("netbox",))]
    result = identify([item("dcim.device:2", **{"class": "Server", "serial_number": "SER-9"})], stored, "netbox")
    assert result.ids == {"dcim.device:2": "nb-1"}
    still_there = identify([item("dcim.device:1", **{"class": "Server"}),
                            item("dcim.device:2", **{"class": "Server", "serial_number": "SER-9"})], stored, "netbox")
    assert still_there.ids == {"dcim.device:1": "nb-1", "dcim.device:2": "netbox:dcim.device:2"}


def test_precedence_keeps_a_higher_ranked_sources_value_and_fills_gaps():
    stored = CI.model_validate({"id": "srv-a", "class": "Server", "name": "a", "fqdn": "a.example.com",
                                "external_ids": {"netbox": "1"}})
    incoming = item("sys-a", **{"class": "Server", "name": "A (prod)", "fqdn": "other.example.com", "criticality": 2})
    merged = merge(incoming, "srv-a", stored, "servicenow", "servicenow", ["netbox"])
    assert (merged.name, merged.fqdn, merged.criticality) == ("A (prod)", "a.example.com", 2)
    assert merged.external_ids == {"netbox": "1", "servicenow": "sys-a"}
    assert rank("netbox", "fqdn") < rank("servicenow", "fqdn") and rank("servicenow", "name") < rank("netbox", "name")


def test_a_field_the_source_does_not_state_is_left_alone():
    stored = CI.model_validate({"id": "x", "class": "Server", "environment": "staging", "status": "implementing"})
    merged = merge(item("k", **{"class": "Server"}), "x", stored, "netbox", "netbox", [])
    assert (merged.environment.value, merged.status.value) == ("staging", "implementing")
