"""The NetBox importer, pure: fixture directories of API responses in, a SourceBatch out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cmdb_graph.model import CI, CIClass, CIStatus, RelType, Strength
from loaders.native.get import Location
from loaders.netbox import IMPORTER
from loaders.netbox.get import ENDPOINTS, RawNetBox, RawObject, endpoint_of, read
from loaders.netbox.transform import (
    NETWORK_CLASSES,
    NETWORK_TIERS,
    ROLE_CLASSES,
    CableEnd,
    cable_direction,
    host_address,
    number,
    transform,
)
from loaders.sync.files import SourceReadError
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_CLASS, UNKNOWN_VALUE, SourceBatch

FIXTURES = Path(__file__).parent.parent / "fixtures" / "netbox"
MAIN = FIXTURES / "main"
V3 = FIXTURES / "v3"

CONNECTED_VIA, LOCATED_IN, HAS_MEMBER, HOSTED_ON = (
    RelType.CONNECTED_VIA, RelType.LOCATED_IN, RelType.HAS_MEMBER, RelType.HOSTED_ON)


def load(path: Path) -> SourceBatch:
    return transform(read(path))


def cis_of(batch: SourceBatch) -> dict[str, tuple[CIClass, str]]:
    return {source.key: (source.ci.ci_class, source.ci.name) for source in batch.cis}


def ci(batch: SourceBatch, key: str) -> CI:
    return next(source.ci for source in batch.cis if source.key == key)


def identities_of(batch: SourceBatch) -> dict[str, tuple[str | None, str | None, list[str]]]:
    """(serial_number, fqdn, ip_addresses) of each CI that has any of them."""
    return {source.key: (source.ci.serial_number, source.ci.fqdn, source.ci.ip_addresses)
            for source in batch.cis if source.ci.serial_number or source.ci.fqdn or source.ci.ip_addresses}


def edges_of(batch: SourceBatch) -> set[tuple[str, RelType, str]]:
    return {(r.source_key, r.type, r.target_key) for r in batch.relationships}


def findings_of(batch: SourceBatch) -> set[tuple[str, str, int | None, str, str]]:
    """(file name, section, index, kind, field) of each finding; the field opens the message."""
    return {(Path(f.location.file).name, f.location.section, f.location.index, f.kind, f.message.split(":")[0])
            for f in batch.findings}


def raw_of(**endpoints: list[Any]) -> RawNetBox:
    """A raw export built in memory: `devices=[...]`, `ip_addresses=[...]`."""
    raw = RawNetBox()
    for name, objects in endpoints.items():
        endpoint = name.replace("_", "-")
        raw.objects[endpoint] = [RawObject(data, Location(f"{endpoint}.json", None, endpoint, index))
                                 for index, data in enumerate(objects)]
    return raw


def device(netbox_id: int, role: str, **fields: Any) -> dict[str, Any]:
    return {"id": netbox_id, "name": f"dev-{netbox_id}", "role": {"id": 1, "slug": role},
            "status": {"value": "active", "label": "Active"}, **fields}


def interface_cable(netbox_id: int, a_device: int, b_device: int, **fields: Any) -> dict[str, Any]:
    def end(device_id: int) -> list[dict[str, Any]]:
        return [{"object_type": "dcim.interface", "object_id": device_id * 100,
                 "object": {"id": device_id * 100, "name": "eth0", "device": {"id": device_id}}}]
    return {"id": netbox_id, "a_terminations": end(a_device), "b_terminations": end(b_device),
            "status": {"value": "connected", "label": "Connected"}, **fields}


# --- the main export (NetBox 4.x) --------------------------------------------------------


def test_main_export_cis() -> None:
    batch = load(MAIN)
    assert batch.errors == []
    assert cis_of(batch) == {
        "dcim.site:1": (CIClass.DATACENTER, "DC1 Frankfurt"),
        "dcim.site:2": (CIClass.DATACENTER, "DC2 Amsterdam"),
        "virtualization.cluster:1": (CIClass.CLUSTER, "kvm-fra-01"),
        "dcim.device:1": (CIClass.SERVER, "pay-db-01"),
        "dcim.device:2": (CIClass.NETWORK_DEVICE, "dc1-leaf-01"),
        "dcim.device:3": (CIClass.NETWORK_DEVICE, "dc1-spine-01"),
        "dcim.device:4": (CIClass.FIREWALL, "dc1-fw-01"),
        "dcim.device:5": (CIClass.SERVER, "kvm-host-01"),
        "dcim.device:6": (CIClass.SERVER, "kvm-host-02"),
        "dcim.device:7": (CIClass.LOAD_BALANCER, "dc1-lb-01"),
        "dcim.device:8": (CIClass.SERVER, "dc1-pdu-a1"),
        "virtualization.virtualmachine:1": (CIClass.VIRTUAL_MACHINE, "pay-app-01"),
        "virtualization.virtualmachine:2": (CIClass.VIRTUAL_MACHINE, "pay-app-02"),
    }
    assert identities_of(batch) == {
        "dcim.device:1": ("CZJ1234ABC", "pay-db-01.dc1.example.com",
                          ["10.10.1.21", "192.168.100.21", "2001:db8:10::21"]),
        "dcim.device:2": ("JPE21110001", "dc1-leaf-01.mgmt.example.com", ["10.10.0.2"]),
        "dcim.device:3": ("JPE21110002", None, []),
        "dcim.device:4": ("013201004567", None, []),
        "dcim.device:5": ("7XK2M93", "kvm-host-01.dc1.example.com", ["10.10.2.11"]),
        "dcim.device:6": ("7XK2M94", None, []),
        "dcim.device:7": ("f5-xmbq-okvt", None, []),
        "dcim.device:8": ("5A1934E01234", None, []),
        "virtualization.virtualmachine:1": (None, "pay-app-01.dc1.example.com", ["10.20.0.11"]),
        "virtualization.virtualmachine:2": (None, None, ["10.20.0.12"]),
    }


def test_main_export_edges() -> None:
    batch = load(MAIN)
    assert edges_of(batch) == {
        ("dcim.device:1", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:2", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:3", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:4", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:5", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:6", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:7", LOCATED_IN, "dcim.site:1"),
        ("dcim.device:8", LOCATED_IN, "dcim.site:1"),
        ("virtualization.cluster:1", LOCATED_IN, "dcim.site:1"),
        ("virtualization.cluster:1", HAS_MEMBER, "dcim.device:5"),
        ("virtualization.cluster:1", HAS_MEMBER, "dcim.device:6"),
        ("virtualization.virtualmachine:1", HOSTED_ON, "virtualization.cluster:1"),
        ("virtualization.virtualmachine:2", HOSTED_ON, "virtualization.cluster:1"),
        ("dcim.device:1", CONNECTED_VIA, "dcim.device:2"),  # server -> leaf, two cables
        ("dcim.device:5", CONNECTED_VIA, "dcim.device:2"),  # hypervisor -> leaf, via interfaces.json
        ("dcim.device:7", CONNECTED_VIA, "dcim.device:2"),  # load balancer -> leaf
        ("dcim.device:2", CONNECTED_VIA, "dcim.device:3"),  # leaf -> spine
        ("dcim.device:3", CONNECTED_VIA, "dcim.device:4"),  # spine -> firewall
    }
    assert len(batch.relationships) == len(edges_of(batch))
    strengths = {(r.source_key, r.target_key): r.strength for r in batch.relationships if r.type is CONNECTED_VIA}
    assert strengths == {
        ("dcim.device:1", "dcim.device:2"): Strength.HARD,
        ("dcim.device:5", "dcim.device:2"): Strength.HARD,
        ("dcim.device:7", "dcim.device:2"): Strength.HARD,
        ("dcim.device:2", "dcim.device:3"): Strength.SOFT,
        ("dcim.device:3", "dcim.device:4"): Strength.SOFT,
    }


def test_main_export_findings() -> None:
    assert findings_of(load(MAIN)) == {
        ("devices-2.json", "devices", 3, UNKNOWN_CLASS, "role"),
        ("cables.json", "cables", 5, SKIPPED, "b_terminations[0]"),  # to a circuit
        ("cables.json", "cables", 6, DANGLING, "b_terminations[0]"),  # to a device not exported
        ("cables.json", "cables", 8, SKIPPED, "status"),  # planned
        ("cables.json", "cables", 9, SKIPPED, "a_terminations[0]"),  # power
        ("ip-addresses.json", "ip-addresses", 9, DANGLING, "assigned_object"),
    }


def test_pay_db_01_carries_what_the_servicenow_fixture_joins_on() -> None:
    batch = load(MAIN)
    server = ci(batch, "dcim.device:1")
    assert (server.ci_class, server.name, server.serial_number, server.fqdn) == (
        CIClass.SERVER, "pay-db-01", "CZJ1234ABC", "pay-db-01.dc1.example.com")
    assert "10.10.1.21" in server.ip_addresses
    site = ci(batch, "dcim.site:1")
    assert (site.name, site.attributes["slug"]) == ("DC1 Frankfurt", "dc1")
    switch = ci(batch, "dcim.device:2")
    assert (switch.name, switch.ci_class) == ("dc1-leaf-01", CIClass.NETWORK_DEVICE)
    assert {("dcim.device:1", LOCATED_IN, "dcim.site:1"),
            ("dcim.device:1", CONNECTED_VIA, "dcim.device:2")} <= edges_of(batch)


def test_device_attributes_name_hardware_place_and_netbox_status() -> None:
    assert ci(load(MAIN), "dcim.device:1").attributes == {
        "role": "server", "manufacturer": "HPE", "model": "ProLiant DL380 Gen10", "platform": "Ubuntu 22.04",
        "tenant": "Payments", "site": "DC1 Frankfurt", "rack": "R01", "asset_tag": "INV-00421",
        "netbox_status": "active",
    }


def test_site_cluster_and_vm_attributes() -> None:
    batch = load(MAIN)
    assert ci(batch, "dcim.site:1").attributes == {
        "slug": "dc1", "facility": "Equinix FR5", "region": "Europe",
        "physical_address": "Kleyerstraße 90, 60326 Frankfurt am Main, Germany", "netbox_status": "active",
    }
    cluster = ci(batch, "virtualization.cluster:1")
    assert cluster.min_members == 1
    assert cluster.attributes == {"type": "KVM", "group": "Frankfurt production", "site": "DC1 Frankfurt",
                                  "netbox_status": "active"}
    assert ci(batch, "virtualization.virtualmachine:1").attributes == {
        "role": "application-server", "platform": "Ubuntu 22.04", "tenant": "Payments", "site": "DC1 Frankfurt",
        "cluster": "kvm-fra-01", "vcpus": 4, "memory": 8192, "disk": 81920, "netbox_status": "active",
    }


def test_second_page_file_adds_to_the_first() -> None:
    batch = load(MAIN)
    pages = {source.key: (Path(source.location.file).name, source.location.index)
             for source in batch.cis if source.key.startswith("dcim.device:")}
    assert pages["dcim.device:1"] == ("devices.json", 0)
    assert pages["dcim.device:5"] == ("devices-2.json", 0)
    assert pages["dcim.device:8"] == ("devices-2.json", 3)


def test_unknown_device_role_is_a_server_with_a_finding() -> None:
    batch = load(MAIN)
    assert ci(batch, "dcim.device:8").ci_class is CIClass.SERVER
    finding = next(f for f in batch.findings if f.kind == UNKNOWN_CLASS)
    assert finding.location == Location(str(MAIN / "devices-2.json"), None, "devices", 3)
    assert finding.message == "role: unknown device role 'pdu'; taken as Server"


def test_device_without_a_role_is_a_server_with_a_finding() -> None:
    batch = transform(raw_of(devices=[{"id": 1, "name": "mystery", "role": None}]))
    assert ci(batch, "dcim.device:1").ci_class is CIClass.SERVER
    assert [f.message for f in batch.findings] == ["role: no device role; taken as Server"]


def test_statuses_map_to_the_lifecycle_and_keep_the_netbox_value() -> None:
    batch = load(MAIN)
    offline = ci(batch, "dcim.device:6")
    assert (offline.status, offline.attributes["netbox_status"]) == (CIStatus.OPERATIONAL, "offline")
    staged = ci(batch, "virtualization.virtualmachine:2")
    assert (staged.status, staged.attributes["netbox_status"]) == (CIStatus.IMPLEMENTING, "staged")
    assert ci(batch, "dcim.site:2").status is CIStatus.PLANNED


def test_unknown_status_is_operational_with_a_finding() -> None:
    batch = transform(raw_of(devices=[device(1, "server", status={"value": "rebooting", "label": "Rebooting"})]))
    assert ci(batch, "dcim.device:1").status is CIStatus.OPERATIONAL
    assert findings_of(batch) == {("devices.json", "devices", 0, UNKNOWN_VALUE, "status")}


def test_addresses_drop_their_prefix_and_join_the_primary_address() -> None:
    batch = load(MAIN)
    # 10.10.1.21/24 is both primary_ip4 and on eth0; 192.168.100.21/24 names only its
    # interface, whose device comes from interfaces.json
    assert ci(batch, "dcim.device:1").ip_addresses == ["10.10.1.21", "192.168.100.21", "2001:db8:10::21"]


def test_unassigned_and_fhrp_addresses_belong_to_no_ci() -> None:
    every_address = {address for source in load(MAIN).cis for address in source.ci.ip_addresses}
    assert not {"10.10.9.9", "10.10.1.1"} & every_address


def test_address_on_an_interface_nobody_knows_is_dangling() -> None:
    finding = next(f for f in load(MAIN).findings if f.location.section == "ip-addresses")
    assert (finding.kind, finding.location.index) == (DANGLING, 9)
    assert finding.message.startswith("assigned_object: interface 77 names no device")


def test_fqdn_is_the_dns_name_of_the_primary_ipv4_before_ipv6() -> None:
    nas = ci(load(V3), "dcim.device:104")
    assert nas.fqdn == "fra2-nas-01.example.net"
    assert nas.ip_addresses == ["10.30.0.50", "2001:db8:30::50"]


def test_a_primary_address_without_a_dns_name_gives_no_fqdn() -> None:
    assert ci(load(MAIN), "virtualization.virtualmachine:2").fqdn is None


def test_invalid_address_is_skipped_with_a_finding() -> None:
    batch = load(V3)
    assert "10.30.0.300" not in ci(batch, "dcim.device:104").ip_addresses
    finding = next(f for f in batch.findings if f.kind == UNKNOWN_VALUE)
    assert finding.location == Location(str(V3 / "ip_addresses.json"), None, "ip-addresses", 2)
    assert finding.message == "address: '10.30.0.300/24' is not an IP address; skipped"


def test_invalid_primary_address_is_skipped_with_a_finding() -> None:
    batch = transform(raw_of(devices=[device(1, "server", primary_ip4={"id": 9, "address": "10.0.0.256/24"})]))
    assert ci(batch, "dcim.device:1").ip_addresses == []
    assert findings_of(batch) == {("devices.json", "devices", 0, UNKNOWN_VALUE, "primary_ip4.address")}


@pytest.mark.parametrize(("text", "address"), [
    ("10.10.1.21/24", "10.10.1.21"), ("2001:DB8::1/64", "2001:db8::1"), ("192.0.2.7", "192.0.2.7"),
    ("10.0.0.300/24", None), ("pay-db-01", None),
])
def test_host_address(text: str, address: str | None) -> None:
    assert host_address(text) == address


# --- cables ------------------------------------------------------------------------------


def test_two_cables_between_the_same_devices_give_one_edge() -> None:
    # cables 1 and 2 both join pay-db-01 and dc1-leaf-01, in opposite A/B order
    batch = load(MAIN)
    between = [r for r in batch.relationships if {r.source_key, r.target_key} == {"dcim.device:1", "dcim.device:2"}]
    assert [(r.source_key, r.type, r.target_key) for r in between] == [
        ("dcim.device:1", CONNECTED_VIA, "dcim.device:2")]
    assert Path(between[0].location.file).name == "cables.json" and between[0].location.index == 0


def test_cable_end_without_a_nested_device_is_found_through_interfaces() -> None:
    batch = load(MAIN)
    edge = next(r for r in batch.relationships if r.source_key == "dcim.device:5" and r.type is CONNECTED_VIA)
    assert (edge.target_key, edge.location.index) == ("dcim.device:2", 4)


def test_cable_to_a_circuit_is_skipped() -> None:
    finding = next(f for f in load(MAIN).findings if f.location.index == 5 and f.location.section == "cables")
    assert finding.kind == SKIPPED
    assert finding.message.startswith("b_terminations[0]: ends on 'circuits.circuittermination'")


def test_cable_to_a_device_not_exported_is_dangling() -> None:
    batch = load(MAIN)
    finding = next(f for f in batch.findings if f.kind == DANGLING and f.location.section == "cables")
    assert finding.location == Location(str(MAIN / "cables.json"), None, "cables", 6)
    assert finding.message == "b_terminations[0]: dcim.device:42 is not in the export; no network edge"
    assert not any("dcim.device:42" in (r.source_key, r.target_key) for r in batch.relationships)


def test_cable_whose_interface_is_nowhere_is_dangling() -> None:
    cable = {"id": 1, "a_terminations": [{"object_type": "dcim.interface", "object_id": 5, "object": {"id": 5}}],
             "b_terminations": [{"object_type": "dcim.interface", "object_id": 6, "object": {"id": 6}}]}
    batch = transform(raw_of(cables=[cable]))
    assert batch.relationships == []
    assert findings_of(batch) == {("cables.json", "cables", 0, DANGLING, "a_terminations[0]"),
                                  ("cables.json", "cables", 0, DANGLING, "b_terminations[0]")}


def test_cable_without_terminations_is_an_error() -> None:
    batch = transform(raw_of(cables=[{"id": 4, "type": "cat6"}]))
    assert [(e.location.index, e.field) for e in batch.errors] == [(0, "a_terminations")]


def test_cable_with_an_empty_side_is_skipped() -> None:
    cable = {**interface_cable(1, 1, 2), "b_terminations": []}
    batch = transform(raw_of(devices=[device(1, "server"), device(2, "leaf")], cables=[cable]))
    assert findings_of(batch) == {("cables.json", "cables", 0, SKIPPED, "b_terminations")}


def test_legacy_cables_front_ports_and_equal_tiers() -> None:
    batch = load(V3)
    cabled = {(r.source_key, r.target_key, r.strength) for r in batch.relationships if r.type is CONNECTED_VIA}
    assert cabled == {
        ("dcim.device:102", "dcim.device:101", Strength.SOFT),  # access -> core
        ("dcim.device:102", "dcim.device:103", Strength.SOFT),  # equal tiers: the smaller key needs the other
        ("dcim.device:104", "dcim.device:102", Strength.HARD),  # NAS -> access switch
        ("dcim.device:105", "dcim.device:103", Strength.HARD),  # unnamed compute node -> switch
    }
    assert ("cables.json", "cables", 3, SKIPPED, "termination_a") in findings_of(batch)


def test_cable_between_two_hosts_is_soft_from_a_to_b() -> None:
    batch = transform(raw_of(devices=[device(1, "server"), device(2, "nas")], cables=[interface_cable(1, 2, 1)]))
    assert [(r.source_key, r.target_key, r.strength) for r in batch.relationships if r.type is CONNECTED_VIA] == [
        ("dcim.device:2", "dcim.device:1", Strength.SOFT)]


def end(key: str, role: str) -> CableEnd:
    """A cable end named `key` on a device of `role`, classed as the importer classes it."""
    return CableEnd(key, ROLE_CLASSES[role], role)


@pytest.mark.parametrize(("a", "b", "expected"), [
    (end("s", "server"), end("n", "leaf"), ("s", "n", Strength.HARD)),  # host -> network, whichever is A
    (end("n", "leaf"), end("s", "server"), ("s", "n", Strength.HARD)),
    (end("lb", "lb"), end("fw", "firewall"), ("lb", "fw", Strength.HARD)),
    (end("fw", "firewall"), end("r", "router"), ("r", "fw", Strength.SOFT)),  # lower tier -> higher
    (end("sp", "spine"), end("lf", "leaf"), ("lf", "sp", Strength.SOFT)),
    (end("b", "core"), end("a", "spine"), ("a", "b", Strength.SOFT)),  # equal tiers: smaller key -> other
    (end("b", "server"), end("a", "san"), ("b", "a", Strength.SOFT)),  # two hosts: A -> B
])
def test_cable_direction(a: CableEnd, b: CableEnd, expected: tuple[str, str, Strength]) -> None:
    dependent, needed, strength = cable_direction(a, b)
    assert (dependent.key, needed.key, strength) == expected


def test_every_network_role_has_a_tier() -> None:
    network_roles = {role for role, ci_class in ROLE_CLASSES.items() if ci_class in NETWORK_CLASSES}
    assert network_roles == set(NETWORK_TIERS)


# --- NetBox 3.x ----------------------------------------------------------------------------


def test_v3_export_cis_and_edges() -> None:
    batch = load(V3)
    assert batch.errors == []
    assert cis_of(batch) == {
        "dcim.site:11": (CIClass.DATACENTER, "FRA2"),
        "virtualization.cluster:11": (CIClass.CLUSTER, "esx-fra2"),
        "dcim.device:101": (CIClass.NETWORK_DEVICE, "fra2-core-01"),
        "dcim.device:102": (CIClass.NETWORK_DEVICE, "fra2-acc-01"),
        "dcim.device:103": (CIClass.NETWORK_DEVICE, "fra2-acc-02"),
        "dcim.device:104": (CIClass.STORAGE_DEVICE, "fra2-nas-01"),
        "dcim.device:105": (CIClass.SERVER, "PowerEdge R650 (105)"),  # unnamed: NetBox's display
        "virtualization.virtualmachine:201": (CIClass.VIRTUAL_MACHINE, "fra2-build-01"),
        "virtualization.virtualmachine:202": (CIClass.VIRTUAL_MACHINE, "fra2-legacy-01"),
    }
    assert identities_of(batch) == {
        "dcim.device:101": ("FDO2339A0KZ", None, []),
        "dcim.device:102": ("FOC2233X0AB", None, []),
        "dcim.device:103": ("FOC2233X0AC", None, []),
        "dcim.device:104": ("721933000123", "fra2-nas-01.example.net", ["10.30.0.50", "2001:db8:30::50"]),
        "virtualization.virtualmachine:201": (None, "fra2-build-01.example.net", ["10.31.0.5"]),
    }
    assert edges_of(batch) == {
        ("dcim.device:101", LOCATED_IN, "dcim.site:11"),
        ("dcim.device:102", LOCATED_IN, "dcim.site:11"),
        ("dcim.device:103", LOCATED_IN, "dcim.site:11"),
        ("dcim.device:104", LOCATED_IN, "dcim.site:11"),
        ("dcim.device:105", LOCATED_IN, "dcim.site:11"),
        ("virtualization.cluster:11", LOCATED_IN, "dcim.site:11"),
        ("virtualization.cluster:11", HAS_MEMBER, "dcim.device:105"),
        ("virtualization.virtualmachine:201", HOSTED_ON, "virtualization.cluster:11"),
        ("dcim.device:102", CONNECTED_VIA, "dcim.device:101"),
        ("dcim.device:102", CONNECTED_VIA, "dcim.device:103"),
        ("dcim.device:104", CONNECTED_VIA, "dcim.device:102"),
        ("dcim.device:105", CONNECTED_VIA, "dcim.device:103"),
    }
    assert findings_of(batch) == {
        ("device-types.json", "file", None, SKIPPED,
         "not a NetBox endpoint this importer reads (sites, racks, devices, virtual-machines, clusters, interfaces, "
         "cables, ip-addresses)"),
        ("ip_addresses.json", "ip-addresses", 2, UNKNOWN_VALUE, "address"),
        ("virtual_machines.json", "virtual-machines", 1, DANGLING, "cluster"),
        ("cables.json", "cables", 3, SKIPPED, "termination_a"),
    }


def test_device_role_of_netbox_3_classes_the_device() -> None:
    batch = load(V3)
    assert ci(batch, "dcim.device:104").attributes["role"] == "nas"
    assert not any(f.kind == UNKNOWN_CLASS for f in batch.findings)


def test_vm_on_a_cluster_not_exported_is_dangling() -> None:
    batch = load(V3)
    finding = next(f for f in batch.findings if f.kind == DANGLING)
    assert finding.location == Location(str(V3 / "virtual_machines.json"), None, "virtual-machines", 1)
    assert finding.message == "cluster: virtualization.cluster:99 is not in the export; no HOSTED_ON edge"
    assert ci(batch, "virtualization.virtualmachine:202").status is CIStatus.RETIRED


def test_cluster_scoped_to_a_region_is_located_nowhere() -> None:
    cluster = {"id": 1, "name": "c", "scope_type": "dcim.region", "scope_id": 4, "scope": {"id": 4, "name": "EU"}}
    batch = transform(raw_of(sites=[{"id": 4, "name": "s"}], clusters=[cluster]))
    assert edges_of(batch) == set()
    assert "site" not in ci(batch, "virtualization.cluster:1").attributes


@pytest.mark.parametrize(("value", "expected"), [(4.0, 4), ("8.00", 8), (1.5, 1.5), (2048, 2048), ("n/a", None),
                                                 (None, None), (True, None)])
def test_number(value: Any, expected: int | float | None) -> None:
    assert number(value) == expected


# --- errors and reading ----------------------------------------------------------------------


def test_device_without_id_is_an_error_naming_file_index_and_field() -> None:
    batch = load(FIXTURES / "malformed")
    assert [(Path(e.location.file).name, e.location.line, e.location.section, e.location.index, e.field)
            for e in batch.errors] == [
        ("devices.json", None, "devices", 1, "id"),
        ("devices.json", None, "devices", 2, "site"),
    ]
    assert [source.key for source in batch.cis] == ["dcim.device:1", "dcim.device:3"]


def test_entry_that_is_not_an_object_is_an_error() -> None:
    batch = transform(raw_of(sites=["DC1"]))
    assert [(e.location.index, e.field, e.message) for e in batch.errors] == [(0, None, "not an object")]


def test_same_id_twice_is_an_error_unless_the_object_repeats_exactly() -> None:
    repeated = transform(raw_of(devices=[device(1, "server"), device(1, "server")]))
    assert (repeated.errors, [source.key for source in repeated.cis]) == ([], ["dcim.device:1"])
    changed = transform(raw_of(devices=[device(1, "server"), device(1, "server", serial="X1")]))
    assert [(e.location.index, e.field) for e in changed.errors] == [(1, "id")]
    assert changed.errors[0].message == "duplicate id 1; first at devices.json: devices[0]"


def test_interface_without_device_is_an_error() -> None:
    batch = transform(raw_of(interfaces=[{"id": 5, "name": "eth0", "device": None}]))
    assert [(e.location.section, e.field) for e in batch.errors] == [("interfaces", "device")]


def test_address_without_address_is_an_error() -> None:
    batch = transform(raw_of(ip_addresses=[{"id": 5, "dns_name": "x.example.com"}]))
    assert [(e.location.section, e.field) for e in batch.errors] == [("ip-addresses", "address")]


def test_file_that_is_not_json_is_refused_with_its_line() -> None:
    with pytest.raises(SourceReadError) as refused:
        read(FIXTURES / "not-json")
    [error] = refused.value.errors
    assert (Path(error.location.file).name, error.location.line) == ("sites.json", 5)
    assert error.message.startswith("not valid JSON")


def test_json_that_is_not_a_response_page_is_refused(tmp_path: Path) -> None:
    (tmp_path / "devices.json").write_text(json.dumps({"detail": "Invalid token"}))
    with pytest.raises(SourceReadError) as refused:
        read(tmp_path)
    assert refused.value.errors[0].location.file == str(tmp_path / "devices.json")


def test_missing_endpoint_files_are_fine(tmp_path: Path) -> None:
    shutil.copy(MAIN / "sites.json", tmp_path / "sites.json")
    batch = load(tmp_path)
    assert (batch.errors, batch.findings, len(batch.cis)) == ([], [], 2)


def test_a_single_endpoint_file_can_be_given() -> None:
    assert [source.key for source in load(MAIN / "clusters.json").cis] == ["virtualization.cluster:1"]


@pytest.mark.parametrize(("name", "endpoint"), [
    ("devices.json", "devices"), ("devices-2.json", "devices"), ("virtual_machines.json", "virtual-machines"),
    ("IP_Addresses-3.json", "ip-addresses"), ("device-types.json", None), ("tenants.json", None),
])
def test_endpoint_of_a_file_name(name: str, endpoint: str | None) -> None:
    assert endpoint_of(Path(name)) == endpoint


def test_output_does_not_depend_on_the_order_objects_arrive_in() -> None:
    raw = read(MAIN)
    reversed_raw = RawNetBox({endpoint: list(reversed(raw.objects[endpoint])) for endpoint in ENDPOINTS})

    def outcome(batch: SourceBatch) -> tuple[list[Any], list[Any]]:
        return ([(s.key, s.ci) for s in batch.cis],
                [(r.source_key, r.type, r.target_key, r.strength) for r in batch.relationships])

    assert outcome(transform(reversed_raw)) == outcome(transform(raw))


def test_importer_is_registered_under_its_source_name() -> None:
    assert (IMPORTER.name, IMPORTER.keys_are_ids) == ("netbox", False)
    assert IMPORTER.transform(IMPORTER.get(MAIN)).errors == []
