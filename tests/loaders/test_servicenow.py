"""The ServiceNow importer on hand-written exports: get and transform only, no database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from benchmarks.sources.servicenow import generate
from cmdb_graph.model import CI, CIStatus, Environment, Strength
from loaders.native.get import Location
from loaders.servicenow import IMPORTER
from loaders.servicenow.get import Cell, RawExport, Reference, Row, read
from loaders.servicenow.transform import transform
from loaders.sync.files import SourceReadError
from loaders.sync.model import DANGLING, SKIPPED, UNKNOWN_CLASS, UNKNOWN_TYPE, UNKNOWN_VALUE, SourceBatch

FIXTURES = Path(__file__).parent.parent / "fixtures" / "servicenow"

# estate/ (CSV)
PAYMENTS = "b3c5f1e21b8d2010a3c1e8f0dd4bcb01"
PAYMENTS_API = "0c6d1e7a1b8d2010a3c1e8f0dd4bcb02"
PAYMENTS_PG = "7e2a9c4f1b8d2010a3c1e8f0dd4bcb03"
PAY_DB_01 = "a1f0c3d21b8d2010a3c1e8f0dd4bcb04"
PAY_DB_02 = "a1f0c3d21b8d2010a3c1e8f0dd4bcb05"
PAY_DB_CLUSTER = "5d8e2b191b8d2010a3c1e8f0dd4bcb06"
TOMCAT_PAY = "91b7e0d41b8d2010a3c1e8f0dd4bcb07"
PAY_APP_01 = "2c4a6f881b8d2010a3c1e8f0dd4bcb08"
ESX_01 = "e7d3b5a01b8d2010a3c1e8f0dd4bcb09"
DC1 = "f4a2c8e61b8d2010a3c1e8f0dd4bcb0a"
CORE_SW_01 = "6b9d1f3c1b8d2010a3c1e8f0dd4bcb0b"
SAN_01 = "38e5a7c21b8d2010a3c1e8f0dd4bcb0c"
PAY_HSM_01 = "c9f1d2e31b8d2010a3c1e8f0dd4bcb0d"
OLD_BATCH_01 = "4a7c9e1f1b8d2010a3c1e8f0dd4bcb0e"

# table_api/ (JSON)
ORDERS = "0a1b2c3d4e5f60718293a4b5c6d7e801"
ORDERS_APP = "0a1b2c3d4e5f60718293a4b5c6d7e802"
ORDERS_DB = "0a1b2c3d4e5f60718293a4b5c6d7e803"
ORD_VM_01 = "0a1b2c3d4e5f60718293a4b5c6d7e804"
ORD_VM_02 = "0a1b2c3d4e5f60718293a4b5c6d7e805"
ESX_CL_01 = "0a1b2c3d4e5f60718293a4b5c6d7e806"
ESX_11 = "0a1b2c3d4e5f60718293a4b5c6d7e807"
ESX_12 = "0a1b2c3d4e5f60718293a4b5c6d7e808"
ORDERS_WEB_1 = "0a1b2c3d4e5f60718293a4b5c6d7e809"
ORDERS_BUCKET = "0a1b2c3d4e5f60718293a4b5c6d7e80a"
ORDERS_FW = "0a1b2c3d4e5f60718293a4b5c6d7e80b"
ORDERS_LB = "0a1b2c3d4e5f60718293a4b5c6d7e80c"


def load(path: Path) -> SourceBatch:
    return transform(read(path))


def cis(batch: SourceBatch) -> list[tuple]:
    return [(c.key, c.ci.ci_class.value, c.ci.name, c.ci.serial_number, c.ci.fqdn, c.ci.ip_addresses)
            for c in batch.cis]


def edges(batch: SourceBatch) -> set[tuple[str, str, str]]:
    return {(r.source_key, r.type.value, r.target_key) for r in batch.relationships}


def soft_edges(batch: SourceBatch) -> set[tuple[str, str, str]]:
    return {(r.source_key, r.type.value, r.target_key) for r in batch.relationships if r.strength is Strength.SOFT}


def findings(batch: SourceBatch) -> list[tuple[str, int | None, int | None, str]]:
    return [(Path(f.location.file).name, f.location.line, f.location.index, f.kind) for f in batch.findings]


def errors(batch: SourceBatch) -> list[tuple[str, int | None, str | None]]:
    return [(Path(e.location.file).name, e.location.line, e.field) for e in batch.errors]


def the(batch: SourceBatch, key: str) -> CI:
    return next(c.ci for c in batch.cis if c.key == key)


def export(ci_rows: Sequence[dict[str, Cell]], rel_rows: Sequence[dict[str, Cell]] = ()) -> RawExport:
    """Rows as a CSV pair would give them: line = index + 2, after the header."""
    return RawExport(
        [Row(cells, Location("cmdb_ci.csv", i + 2, "cmdb_ci", i)) for i, cells in enumerate(ci_rows)],
        [Row(cells, Location("cmdb_rel_ci.csv", i + 2, "cmdb_rel_ci", i)) for i, cells in enumerate(rel_rows)],
    )


def ci(sys_id: str, name: str, sys_class_name: str = "cmdb_ci_appl", **cells: Cell) -> dict[str, Cell]:
    return {"sys_id": sys_id, "name": name, "sys_class_name": sys_class_name, **cells}


def sys_id(n: int) -> str:
    return f"{n:032x}"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the CSV estate -------------------------------------------------------------------------


def test_estate_cis_are_keyed_by_sys_id_with_their_identifiers():
    assert cis(load(FIXTURES / "estate")) == [
        (PAYMENTS, "BusinessService", "Payments", None, None, []),
        (PAYMENTS_API, "Application", "payments-api", None, None, []),
        (PAYMENTS_PG, "Database", "payments-pg", None, None, []),
        (PAY_DB_01, "Server", "pay-db-01", "CZJ1234ABC", "pay-db-01.dc1.example.com", ["10.10.1.21"]),
        (PAY_DB_02, "Server", "pay-db-02", "CZJ1234ABD", "pay-db-02.dc1.example.com", ["10.10.1.22"]),
        (PAY_DB_CLUSTER, "Cluster", "pay-db-cluster", None, None, []),
        (TOMCAT_PAY, "Middleware", "tomcat-pay", None, None, []),
        (PAY_APP_01, "VirtualMachine", "pay-app-01", None, None, ["10.10.2.31"]),
        (ESX_01, "Server", "esx-01", "VMW-ESX-0001", "esx-01.dc1.example.com", []),
        (DC1, "Datacenter", "DC1 Frankfurt", None, None, []),
        (CORE_SW_01, "NetworkDevice", "core-sw-01", "FOC2231X0AB", None, ["10.10.0.1"]),
        (SAN_01, "StorageDevice", "san-01", "NTAP-771203", None, ["10.10.3.5"]),
        (PAY_HSM_01, "Application", "pay-hsm-01", "HSM-55012", None, ["10.10.1.40"]),
        (OLD_BATCH_01, "Server", "old-batch-01", "CZJ0999XYZ", "old-batch-01.dc1.example.com", ["10.10.4.9"]),
    ]


def test_estate_edges_point_from_the_dependent_to_what_it_needs():
    assert edges(load(FIXTURES / "estate")) == {
        (PAYMENTS, "DEPENDS_ON", PAYMENTS_API),
        (PAYMENTS_API, "DEPENDS_ON", PAYMENTS_PG),
        (PAYMENTS_PG, "RUNS_ON", PAY_DB_01),
        (PAYMENTS_API, "RUNS_ON", TOMCAT_PAY),
        (TOMCAT_PAY, "RUNS_ON", PAY_APP_01),
        (PAY_APP_01, "HOSTED_ON", ESX_01),
        (PAY_DB_CLUSTER, "HAS_MEMBER", PAY_DB_01),
        (PAY_DB_CLUSTER, "HAS_MEMBER", PAY_DB_02),
        (PAY_DB_01, "LOCATED_IN", DC1),
        (ESX_01, "LOCATED_IN", DC1),
        (PAY_DB_01, "CONNECTED_VIA", CORE_SW_01),
        (PAY_DB_02, "STORED_ON", SAN_01),
        (PAYMENTS_API, "DEPENDS_ON", PAY_HSM_01),
        (PAYMENTS_API, "DEPENDS_ON", OLD_BATCH_01),
        (PAYMENTS_PG, "DEPENDS_ON", SAN_01),
    }


def test_data_flows_and_unknown_types_are_soft():
    assert soft_edges(load(FIXTURES / "estate")) == {
        (PAYMENTS_API, "DEPENDS_ON", OLD_BATCH_01),  # Sends data to::Receives data from
        (PAYMENTS_PG, "DEPENDS_ON", SAN_01),  # Backed up by::Backs up, not mapped
    }


def test_estate_reports_each_finding_at_its_row():
    batch = load(FIXTURES / "estate")
    assert batch.errors == []
    assert findings(batch) == [
        ("cmdb_ci.csv", 10, 8, UNKNOWN_VALUE),
        ("cmdb_ci.csv", 14, 12, UNKNOWN_CLASS),
        ("cmdb_rel_ci.csv", 18, 16, DANGLING),
        ("cmdb_rel_ci.csv", 17, 15, UNKNOWN_TYPE),
    ]
    messages = [f.message for f in batch.findings]
    assert messages[0] == "ip_address: '10.10.2.300' is not an IP address; the CI is loaded without it"
    assert messages[1] == ("sys_class_name 'Hardware Security Module' is not mapped (1 row, the first here): "
                           "loaded as Application")
    assert messages[2] == "parent 'Online Shop' is not in the cmdb_ci export; relationship left out"
    assert messages[3] == ("type 'Backed up by::Backs up' is not mapped (1 row, the first here): "
                           "read as a soft DEPENDS_ON from the parent")


def test_pay_db_01_carries_what_other_sources_identify_it_by():
    batch = load(FIXTURES / "estate")
    server = the(batch, PAY_DB_01)
    assert (server.serial_number, server.fqdn, server.ip_addresses) == (
        "CZJ1234ABC", "pay-db-01.dc1.example.com", ["10.10.1.21"])
    assert server.external_ids == {}
    assert server.id == PAY_DB_01
    assert server.owner == "unix-team"
    assert (server.status, server.environment, server.criticality) == (
        CIStatus.OPERATIONAL, Environment.PRODUCTION, 2)
    assert server.attributes == {
        "vendor": "Hewlett Packard Enterprise", "model": "ProLiant DL380 Gen10", "os": "Linux Red Hat",
        "os_version": "8.6", "location": "DC1 Frankfurt", "assigned_to": "Beth Anglin",
        "sys_class_name": "cmdb_ci_linux_server", "install_status": "Installed", "operational_status": "Operational",
    }
    assert {(PAYMENTS, "DEPENDS_ON", PAYMENTS_API), (PAYMENTS_API, "DEPENDS_ON", PAYMENTS_PG),
            (PAYMENTS_PG, "RUNS_ON", PAY_DB_01)} <= edges(batch)


def test_support_groups_become_teams_named_by_their_display_value():
    batch = load(FIXTURES / "estate")
    assert [(team.id, team.name) for team in batch.teams] == [
        ("dba-team", "DBA Team"), ("facilities", "Facilities"), ("network-team", "Network Team"),
        ("payments-team", "Payments Team"), ("security-team", "Security Team"), ("storage-team", "Storage Team"),
        ("unix-team", "Unix Team"), ("virtualization-team", "Virtualization Team"),
    ]
    assert {c.ci.owner for c in batch.cis} == {team.id for team in batch.teams}


def test_a_retired_ci_keeps_its_servicenow_statuses():
    old = the(load(FIXTURES / "estate"), OLD_BATCH_01)
    assert (old.status, old.environment, old.criticality) == (CIStatus.RETIRED, Environment.TEST, 4)
    assert (old.attributes["install_status"], old.attributes["operational_status"]) == ("Retired", "Non-Operational")


def test_a_server_under_repair_is_operational_and_keeps_the_label():
    server = the(load(FIXTURES / "estate"), PAY_DB_02)
    assert server.status is CIStatus.OPERATIONAL
    assert server.attributes["operational_status"] == "Repair in Progress"


def test_fqdn_is_built_from_host_name_and_dns_domain_and_the_prefix_length_is_dropped():
    server = the(load(FIXTURES / "estate"), PAY_DB_02)  # fqdn empty, ip_address 10.10.1.22/24
    assert (server.fqdn, server.ip_addresses) == ("pay-db-02.dc1.example.com", ["10.10.1.22"])


def test_a_bad_ip_address_is_a_finding_and_the_ci_loads_without_it():
    batch = load(FIXTURES / "estate")
    assert the(batch, ESX_01).ip_addresses == []
    assert the(batch, ESX_01).serial_number == "VMW-ESX-0001"
    assert findings(batch)[0] == ("cmdb_ci.csv", 10, 8, UNKNOWN_VALUE)


def test_an_unknown_class_loads_as_application_and_keeps_its_class_name():
    hsm = the(load(FIXTURES / "estate"), PAY_HSM_01)
    assert hsm.ci_class.value == "Application"
    assert hsm.attributes["sys_class_name"] == "Hardware Security Module"


@pytest.mark.parametrize(("sys_class_name", "table", "ci_class"), [
    ("Linux Server", "cmdb_ci_linux_server", "Server"),
    ("cmdb_ci_linux_server", "cmdb_ci_linux_server", "Server"),
    ("mapped service instance", "cmdb_ci_service_discovered", "TechnicalService"),
    ("Technology Management Service", "cmdb_ci_service_technical", "TechnicalService"),
    (Reference("cmdb_ci_ip_firewall", "IP Firewall"), "cmdb_ci_ip_firewall", "Firewall"),
    ("cmdb_ci_cloud_database", "cmdb_ci_cloud_database", "CloudResource"),
], ids=["label", "table name", "label in any case", "renamed label", "both", "cloud prefix"])
def test_a_class_label_maps_like_its_table_name(sys_class_name: Cell, table: str, ci_class: str):
    batch = transform(export([ci(sys_id(1), "a", sys_class_name)]))
    item = the(batch, sys_id(1))
    assert (item.ci_class.value, item.attributes["sys_class_name"]) == (ci_class, table)
    assert batch.findings == []


def test_an_unknown_class_is_reported_once_with_its_row_count():
    batch = transform(export([ci(sys_id(1), "a", "u_badge_reader"), ci(sys_id(2), "b", "cmdb_ci_appl"),
                              ci(sys_id(3), "c", "u_badge_reader"), ci(sys_id(4), "d", "")]))
    assert [c.ci.ci_class.value for c in batch.cis] == ["Application"] * 4
    assert [(f.location.line, f.kind, f.message) for f in batch.findings] == [
        (5, UNKNOWN_CLASS, "sys_class_name (empty) is not mapped (1 row, the first here): loaded as Application"),
        (2, UNKNOWN_CLASS,
         "sys_class_name 'u_badge_reader' is not mapped (2 rows, the first here): loaded as Application"),
    ]


def test_a_membership_recorded_from_both_ends_gives_one_edge():
    batch = load(FIXTURES / "estate")
    members = [r for r in batch.relationships if r.type.value == "HAS_MEMBER"]
    # line 8 by sys_id; line 9 `Members::Member of` and line 10 `Cluster of::Cluster` say the same
    assert [(r.source_key, r.target_key, r.location.line) for r in members] == [
        (PAY_DB_CLUSTER, PAY_DB_01, 8), (PAY_DB_CLUSTER, PAY_DB_02, 9)]


def test_the_estate_has_no_edge_to_what_the_export_does_not_hold():
    batch = load(FIXTURES / "estate")
    keys = {c.key for c in batch.cis}
    assert all(r.source_key in keys and r.target_key in keys for r in batch.relationships)


# --- the Table API export (JSON) ------------------------------------------------------------


def test_table_api_pages_are_read_in_name_order_with_reference_objects():
    assert cis(load(FIXTURES / "table_api")) == [
        (ORDERS, "TechnicalService", "Orders", None, None, []),
        (ORDERS_APP, "Application", "orders-app", None, None, []),
        (ORDERS_DB, "Database", "orders-db", None, None, []),
        (ORD_VM_01, "VirtualMachine", "ord-vm-01", None, "ord-vm-01.cloud.example.com", ["10.20.1.11"]),
        (ORD_VM_02, "VirtualMachine", "ord-vm-02", None, "ord-vm-02.cloud.example.com", ["fd00:20::12"]),
        (ESX_CL_01, "Cluster", "esx-cl-01", None, None, []),
        (ESX_11, "Server", "esx-11", "SGH811ABCD", None, ["10.20.0.11"]),
        (ESX_12, "Server", "esx-12", "SGH811ABCE", None, ["10.20.0.12"]),
        (ORDERS_WEB_1, "Container", "orders-web-1", None, None, []),
        (ORDERS_BUCKET, "CloudResource", "orders-bucket", None, None, []),
        (ORDERS_FW, "Firewall", "orders-fw", None, None, ["10.20.0.1"]),
        (ORDERS_LB, "LoadBalancer", "orders-lb", None, None, ["10.20.0.5"]),
    ]


def test_table_api_relationship_types_given_as_sys_ids_are_mapped():
    assert edges(load(FIXTURES / "table_api")) == {
        (ORDERS, "DEPENDS_ON", ORDERS_APP),
        (ORDERS, "DEPENDS_ON", ORDERS_LB),
        (ORDERS_APP, "RUNS_ON", ORD_VM_01),
        (ORDERS_APP, "DEPENDS_ON", ORDERS_DB),
        (ORDERS_DB, "RUNS_ON", ORD_VM_02),
        (ORDERS_APP, "DEPENDS_ON", ORDERS_BUCKET),
        (ORD_VM_01, "HOSTED_ON", ESX_CL_01),
        (ORD_VM_02, "HOSTED_ON", ESX_CL_01),
        (ESX_CL_01, "HAS_MEMBER", ESX_11),
        (ESX_CL_01, "HAS_MEMBER", ESX_12),  # `Cluster of::Cluster` with the node as parent
        (ORDERS_WEB_1, "HOSTED_ON", ORD_VM_01),
        (ORD_VM_02, "DEPENDS_ON", ORDERS_FW),
    }


def test_table_api_findings_name_the_file_and_the_object_index():
    batch = load(FIXTURES / "table_api")
    assert batch.errors == []
    assert findings(batch) == [
        ("cmdb_rel_ci.json", None, 12, DANGLING),
        ("cmdb_rel_ci.json", None, 11, UNKNOWN_TYPE),
    ]
    assert batch.findings[0].message == (
        "parent '0a1b2c3d4e5f60718293a4b5c6d7e8ff' is not in the cmdb_ci export; relationship left out")
    assert "'8d9e7f6a5b4c3d2e1f0a9b8c7d6e5f40' is not mapped" in batch.findings[1].message
    assert soft_edges(batch) == {(ORD_VM_02, "DEPENDS_ON", ORDERS_FW)}


def test_display_value_all_gives_codes_for_choices_and_names_for_teams():
    batch = load(FIXTURES / "table_api")
    balancer = the(batch, ORDERS_LB)
    assert balancer.status is CIStatus.PLANNED  # install_status 4, Pending Install
    assert balancer.attributes["install_status"] == "Pending Install"
    assert (the(batch, ORDERS).environment, the(batch, ORDERS).criticality) == (Environment.PRODUCTION, 1)
    assert the(batch, ESX_11).attributes["vendor"] == "Hewlett Packard Enterprise"
    assert [(team.id, team.name) for team in batch.teams] == [
        ("network-team", "Network Team"), ("orders-team", "Orders Team"), ("platform-team", "Platform Team")]


# --- a JSONv2 export of one table, without display values -----------------------------------


def test_a_single_jsonv2_file_reads_raw_codes():
    batch = load(FIXTURES / "jsonv2" / "cmdb_ci_linux_server.json")
    assert cis(batch) == [
        ("3d1f5b7e2f1c8d10e4a6b2c8d9f0a101", "Server", "web-01", "VMware-42 1a 2b 3c", "web-01.stage.example.com",
         ["192.168.5.10"]),
        ("3d1f5b7e2f1c8d10e4a6b2c8d9f0a102", "Server", "web-02", "VMware-42 1a 2b 3d", "web-02.stage.example.com",
         ["192.168.5.11"]),
    ]
    assert [(c.ci.status, c.ci.environment, c.ci.criticality) for c in batch.cis] == [
        (CIStatus.OPERATIONAL, Environment.STAGING, 3),
        (CIStatus.PLANNED, Environment.STAGING, 3),  # install_status 6, In Stock
    ]
    assert batch.relationships == []


def test_references_given_only_as_sys_ids_are_not_read_and_reported_once_per_column():
    batch = load(FIXTURES / "jsonv2" / "cmdb_ci_linux_server.json")
    assert [(c.ci.owner, c.ci.attributes.get("vendor")) for c in batch.cis] == [(None, None), (None, None)]
    assert batch.teams == []
    assert [(f.location.index, f.kind, f.message) for f in batch.findings] == [
        (0, SKIPPED, "manufacturer is a bare sys_id (2 rows, the first here): not read; "
                     "export display values to keep it"),
        (0, SKIPPED, "support_group is a bare sys_id (2 rows, the first here): not read; "
                     "export display values to keep it"),
    ]


def test_jsonv2_dv_columns_give_the_display_values(tmp_path: Path):
    record = {"sys_id": sys_id(1), "name": "web-03", "sys_class_name": "cmdb_ci_linux_server",
              "support_group": "287ebd7da9fe198100f92cc8d1d2154e", "dv_support_group": "Web Team",
              "install_status": "7", "dv_install_status": "Retired"}
    batch = load(write(tmp_path / "cmdb_ci.json", json.dumps({"records": [record]})))
    web = the(batch, sys_id(1))
    assert (web.owner, web.status, web.attributes["install_status"]) == ("web-team", CIStatus.RETIRED, "Retired")
    assert [(team.id, team.name) for team in batch.teams] == [("web-team", "Web Team")]


def test_a_reference_read_with_display_values_only_takes_its_sys_id_from_the_link(tmp_path: Path):
    link = "https://example.service-now.com/api/now/table/cmdb_ci/"
    write(tmp_path / "cmdb_ci.json", json.dumps([
        {"sys_id": sys_id(1), "name": "app", "sys_class_name": "cmdb_ci_appl"},
        {"sys_id": sys_id(2), "name": "db", "sys_class_name": "cmdb_ci_db_instance"},
    ]))
    write(tmp_path / "cmdb_rel_ci.json", json.dumps({"result": [{
        "parent": {"display_value": "app", "link": link + sys_id(1)},
        "type": {"display_value": "Depends on::Used by", "link": link + "1a9cb166f1571100a92eb60da2bce5c5"},
        "child": {"display_value": "db", "link": link + sys_id(2)},
    }]}))
    assert edges(load(tmp_path)) == {(sys_id(1), "DEPENDS_ON", sys_id(2))}


# --- errors: the whole import is refused ----------------------------------------------------


def test_broken_export_lists_every_error_with_file_line_and_field():
    batch = load(FIXTURES / "broken")
    assert errors(batch) == [
        ("cmdb_ci.csv", 3, "sys_id"),
        ("cmdb_ci.csv", 4, "sys_id"),
        ("cmdb_rel_ci.csv", 2, "child"),
        ("cmdb_rel_ci.csv", 3, "parent"),
    ]
    assert [e.message for e in batch.errors] == [
        "empty: every CI needs its sys_id",
        f"duplicate 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e001'; first at {FIXTURES / 'broken' / 'cmdb_ci.csv'}:2",
        "empty: a relationship needs its child",
        "empty: a relationship needs its parent",
    ]


def test_a_bad_ip_address_stays_a_finding_beside_errors():
    batch = load(FIXTURES / "broken")
    assert findings(batch) == [("cmdb_ci.csv", 5, 3, UNKNOWN_VALUE)]
    assert edges(batch) == {("e0e0e0e0e0e0e0e0e0e0e0e0e0e0e001", "DEPENDS_ON", "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e002")}


def test_a_duplicate_sys_id_in_json_names_the_first_object():
    batch = transform(RawExport([
        Row({"sys_id": sys_id(1), "name": "a"}, Location("cmdb_ci_001.json", None, "cmdb_ci", 0)),
        Row({"sys_id": sys_id(1), "name": "b"}, Location("cmdb_ci_002.json", None, "cmdb_ci", 4)),
    ]))
    assert [(e.location.file, e.location.index, e.field, e.message) for e in batch.errors] == [
        ("cmdb_ci_002.json", 4, "sys_id", f"duplicate {sys_id(1)!r}; first at cmdb_ci_001.json cmdb_ci[0]")]


def test_an_invalid_ci_is_one_error_and_its_relationships_are_not_reported_again():
    batch = transform(export(
        [ci(sys_id(1), "x" * 501), ci(sys_id(2), "db")],
        [{"parent": sys_id(1), "type": "Depends on::Used by", "child": sys_id(2)}],
    ))
    assert errors(batch) == [("cmdb_ci.csv", 2, "name")]
    assert batch.findings == [] and batch.relationships == []


def test_an_overlong_support_group_is_an_error_on_that_column():
    batch = transform(export([ci(sys_id(1), "a", support_group="G" * 201)]))
    assert errors(batch) == [("cmdb_ci.csv", 2, "support_group")]


# --- reading files --------------------------------------------------------------------------


def test_a_bare_json_list_is_read(tmp_path: Path):
    path = write(tmp_path / "cmdb_ci.json", json.dumps([{"sys_id": sys_id(1), "name": "a", "sys_class_name": 7}]))
    raw = read(path)
    assert [(row.cells, row.location) for row in raw.cis] == [
        ({"sys_id": sys_id(1), "name": "a", "sys_class_name": "7"}, Location(str(path), None, "cmdb_ci", 0))]


def test_a_single_file_of_any_name_is_the_ci_export(tmp_path: Path):
    path = write(tmp_path / "servers.csv", '"sys_id","name"\n"' + sys_id(1) + '","a"\n')
    assert [row.cells for row in read(path).cis] == [{"sys_id": sys_id(1), "name": "a"}]


def test_columns_not_read_and_empty_cells_are_not_kept(tmp_path: Path):
    path = write(tmp_path / "cmdb_ci.csv",
                 '"sys_id","name","fqdn","sys_created_by"\n"' + sys_id(1) + '","a","","admin"\n')
    assert [row.cells for row in read(path).cis] == [{"sys_id": sys_id(1), "name": "a"}]


@pytest.mark.parametrize(("files", "where", "message"), [
    ({"cmdb_rel_ci.csv": '"parent","type","child"\n'}, ".",
     "no cmdb_ci* export here; relationships alone cannot be read"),
    ({"cmdb_ci.csv": '"sys_id"\n', "servers.csv": '"sys_id"\n'}, "servers.csv",
     "not an export this importer reads: name it cmdb_ci* or cmdb_rel_ci*"),
    ({"cmdb_ci.csv": '"name","sys_class_name"\n"a","cmdb_ci_appl"\n'}, "cmdb_ci.csv",
     "no sys_id column in this cmdb_ci export"),
    ({"cmdb_ci.csv": '"sys_id"\n', "cmdb_rel_ci.csv": '"parent","type"\n"a","Depends on::Used by"\n'},
     "cmdb_rel_ci.csv", "no child column in this cmdb_rel_ci export"),
    ({"cmdb_ci.json": '{"result": {"sys_id": "a"}}'}, "cmdb_ci.json",
     'expected {"records": [...]}, {"result": [...]} or a list of records'),
    ({"cmdb_ci.json": '{"records": ["a"]}'}, "cmdb_ci.json", "cmdb_ci[0] is not an object"),
    ({"cmdb_ci.json": '{"records": [\n  {"sys_id": }\n]}'}, "cmdb_ci.json", "not valid JSON: Expecting value"),
])
def test_an_export_that_cannot_be_read_is_refused_naming_the_file(tmp_path: Path, files: dict[str, str], where: str,
                                                                   message: str):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(SourceReadError) as raised:
        read(tmp_path)
    [error] = raised.value.errors
    assert (error.location.file, error.message) == (str(tmp_path / where), message)


def test_invalid_json_is_refused_at_its_line(tmp_path: Path):
    write(tmp_path / "cmdb_ci.json", '{"records": [\n  {"sys_id": }\n]}')
    with pytest.raises(SourceReadError) as raised:
        read(tmp_path)
    assert raised.value.errors[0].location.line == 2


def test_a_single_file_that_is_neither_csv_nor_json_is_refused(tmp_path: Path):
    path = write(tmp_path / "cmdb_ci.xml", "<xml/>")
    with pytest.raises(SourceReadError, match="use .csv or .json"):
        read(path)


def test_a_relationship_export_on_its_own_is_refused(tmp_path: Path):
    path = write(tmp_path / "cmdb_rel_ci.csv", '"parent","type","child"\n')
    with pytest.raises(SourceReadError, match="cmdb_rel_ci needs its cmdb_ci export: give the directory"):
        read(path)


# --- relationship rules ---------------------------------------------------------------------


def test_parent_and_child_resolve_by_sys_id_first_then_by_a_unique_name():
    batch = transform(export(
        [ci(sys_id(1), "app"), ci(sys_id(2), "db", "cmdb_ci_db_instance"), ci(sys_id(3), "twin"),
         ci(sys_id(4), "twin"), ci(sys_id(5), str(sys_id(2)))],
        [{"parent": "app", "type": "Depends on::Used by", "child": sys_id(2)},
         {"parent": "app", "type": "Depends on::Used by", "child": "twin"},
         {"parent": "ghost", "type": "Depends on::Used by", "child": "db"}],
    ))
    assert edges(batch) == {(sys_id(1), "DEPENDS_ON", sys_id(2))}
    assert [(f.location.line, f.kind, f.message) for f in batch.findings] == [
        (3, DANGLING, "child 'twin' names 2 CIs in the cmdb_ci export; relationship left out"),
        (4, DANGLING, "parent 'ghost' is not in the cmdb_ci export; relationship left out"),
    ]


def test_a_reference_to_a_sys_id_outside_the_export_is_not_matched_by_name():
    batch = transform(export(
        [ci(sys_id(1), "app"), ci(sys_id(2), "db")],
        [{"parent": sys_id(1), "type": "Depends on::Used by", "child": Reference(sys_id(9), "db")}],
    ))
    assert batch.relationships == []
    assert [f.message for f in batch.findings] == [
        f"child {sys_id(9)!r} (db) is not in the cmdb_ci export; relationship left out"]


@pytest.mark.parametrize("cells", [
    {"type.name": "Runs on::Runs", "type": "1a9cb166f1571100a92eb60da2bce5c5"},
    {"type": Reference("0123456789abcdef0123456789abcdef", "Runs on::Runs")},
    {"type": "60bc4e22c0a8010e01f074cbe6bd73c3"},
    {"type": "  runs ON ::  runs "},
], ids=["type.name column", "reference display value", "base system sys_id", "case and spacing"])
def test_the_type_is_read_from_type_name_a_display_value_or_a_known_sys_id(cells: dict[str, Cell]):
    batch = transform(export([ci(sys_id(1), "app"), ci(sys_id(2), "srv", "cmdb_ci_server")],
                             [{"parent": sys_id(1), "child": sys_id(2), **cells}]))
    assert edges(batch) == {(sys_id(1), "RUNS_ON", sys_id(2))}
    assert batch.findings == []


def test_unknown_types_are_soft_depends_on_reported_once_per_type():
    batch = transform(export(
        [ci(sys_id(1), "a"), ci(sys_id(2), "b"), ci(sys_id(3), "c")],
        [{"parent": sys_id(1), "type": "Monitors::Monitored by", "child": sys_id(2)},
         {"parent": sys_id(2), "child": sys_id(3)},
         {"parent": sys_id(1), "type": "Monitors::Monitored by", "child": sys_id(3)}],
    ))
    assert soft_edges(batch) == {(sys_id(1), "DEPENDS_ON", sys_id(2)), (sys_id(2), "DEPENDS_ON", sys_id(3)),
                                 (sys_id(1), "DEPENDS_ON", sys_id(3))}
    assert [(f.location.line, f.kind, f.message) for f in batch.findings] == [
        (3, UNKNOWN_TYPE,
         "type (empty) is not mapped (1 row, the first here): read as a soft DEPENDS_ON from the parent"),
        (2, UNKNOWN_TYPE, "type 'Monitors::Monitored by' is not mapped (2 rows, the first here): "
                          "read as a soft DEPENDS_ON from the parent"),
    ]


@pytest.mark.parametrize(("rel_type", "parent_class", "child_class", "expected"), [
    ("Members::Member of", "cmdb_ci_cluster", "cmdb_ci_server", (1, "HAS_MEMBER", 2)),
    ("Members::Member of", "cmdb_ci_server", "cmdb_ci_win_cluster", (2, "HAS_MEMBER", 1)),
    ("Cluster of::Cluster", "cmdb_ci_server", "cmdb_ci_esx_cluster", (2, "HAS_MEMBER", 1)),
    ("Cluster of::Cluster", "cmdb_ci_cluster", "cmdb_ci_server", (1, "HAS_MEMBER", 2)),
    ("Members::Member of", "cmdb_ci_cluster", "cmdb_ci_cluster", (1, "HAS_MEMBER", 2)),
    ("Cluster of::Cluster", "cmdb_ci_cluster", "cmdb_ci_cluster", (2, "HAS_MEMBER", 1)),
    ("Contains::Contained by", "cmdb_ci_datacenter", "cmdb_ci_server", (2, "LOCATED_IN", 1)),
    ("Contains::Contained by", "cmdb_ci_computer_room", "cmdb_ci_netgear", (2, "LOCATED_IN", 1)),
    ("Contains::Contained by", "cmdb_ci_appl", "cmdb_ci_appl", (1, "DEPENDS_ON", 2)),
    ("Located in::Houses", "cmdb_ci_server", "cmdb_ci_datacenter", (1, "LOCATED_IN", 2)),
    ("Stored on::Stores", "cmdb_ci_server", "cmdb_ci_san", (1, "STORED_ON", 2)),
    ("Provides storage for::Stored on", "cmdb_ci_nas_storage", "cmdb_ci_server", (2, "STORED_ON", 1)),
    ("Hosted on::Hosts", "cmdb_ci_docker_container", "cmdb_ci_vm_instance", (1, "HOSTED_ON", 2)),
    ("Receives data from::Sends data to", "cmdb_ci_appl", "cmdb_ci_appl", (1, "DEPENDS_ON", 2)),
    ("IP Connection::IP Connection", "cmdb_ci_server", "cmdb_ci_ip_router", (1, "CONNECTED_VIA", 2)),
])
def test_each_relationship_type_points_from_the_dependent(rel_type: str, parent_class: str, child_class: str,
                                                          expected: tuple[int, str, int]):
    batch = transform(export([ci(sys_id(1), "p", parent_class), ci(sys_id(2), "c", child_class)],
                             [{"parent": sys_id(1), "type": rel_type, "child": sys_id(2)}]))
    source, kind, target = expected
    assert edges(batch) == {(sys_id(source), kind, sys_id(target))}
    assert batch.findings == []


def test_a_membership_between_two_non_groups_is_depends_on_with_a_finding():
    batch = transform(export([ci(sys_id(1), "a", "cmdb_ci_server"), ci(sys_id(2), "b", "cmdb_ci_server")],
                             [{"parent": sys_id(1), "type": "Members::Member of", "child": sys_id(2)}]))
    assert edges(batch) == {(sys_id(1), "DEPENDS_ON", sys_id(2))}
    assert [(f.location.line, f.kind, f.message) for f in batch.findings] == [
        (2, UNKNOWN_TYPE, "type 'Members::Member of': neither end is a Cluster or RedundancyGroup: "
                          "read as DEPENDS_ON from the parent")]


def test_a_pair_recorded_soft_and_hard_is_one_hard_edge_at_the_first_row():
    batch = transform(export(
        [ci(sys_id(1), "a"), ci(sys_id(2), "b")],
        [{"parent": sys_id(1), "type": "Sends data to::Receives data from", "child": sys_id(2)},
         {"parent": sys_id(1), "type": "Depends on::Used by", "child": sys_id(2)}],
    ))
    assert [(r.source_key, r.target_key, r.strength, r.location.line) for r in batch.relationships] == [
        (sys_id(1), sys_id(2), Strength.HARD, 2)]


# --- CI fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(("install", "operational", "status"), [
    ("Installed", "Operational", CIStatus.OPERATIONAL),
    ("1", "2", CIStatus.OPERATIONAL),
    ("In Maintenance", "DR Standby", CIStatus.OPERATIONAL),
    ("Installed", "Ready", CIStatus.IMPLEMENTING),
    ("Installed", "Retired", CIStatus.RETIRED),
    ("On Order", "Operational", CIStatus.PLANNED),
    ("pending install", "", CIStatus.PLANNED),
    ("Retired", "Operational", CIStatus.RETIRED),
    ("8", "1", CIStatus.RETIRED),
    ("Absent", "", CIStatus.RETIRED),
    ("", "", CIStatus.OPERATIONAL),
])
def test_install_status_decides_first_then_operational_status(install: str, operational: str, status: CIStatus):
    cells = {column: value for column, value in (("install_status", install), ("operational_status", operational))
             if value}
    batch = transform(export([ci(sys_id(1), "a", **cells)]))
    assert the(batch, sys_id(1)).status is status
    assert batch.findings == []


@pytest.mark.parametrize(("cells", "environment"), [
    ({"environment": "Development"}, Environment.DEVELOPMENT),
    ({"used_for": "QA"}, Environment.TEST),
    ({"used_for": "Disaster recovery"}, Environment.PRODUCTION),
    ({"environment": "test", "used_for": "Production"}, Environment.TEST),
    ({}, Environment.PRODUCTION),
])
def test_environment_comes_from_environment_then_used_for(cells: dict[str, str], environment: Environment):
    assert the(transform(export([ci(sys_id(1), "a", **cells)])), sys_id(1)).environment is environment


def test_unknown_choice_values_are_findings_naming_the_column():
    batch = transform(export([ci(sys_id(1), "a", install_status="Borrowed", environment="Lab", used_for="Staging",
                                 business_criticality="5 - trivial")]))
    app = the(batch, sys_id(1))
    assert (app.status, app.environment, app.criticality) == (CIStatus.OPERATIONAL, Environment.STAGING, None)
    assert [(f.location.line, f.kind, f.message) for f in batch.findings] == [
        (2, UNKNOWN_VALUE, "install_status: 'Borrowed' is not a known value; ignored"),
        (2, UNKNOWN_VALUE, "environment: 'Lab' is not a known value; ignored"),
        (2, UNKNOWN_VALUE, "business_criticality: '5 - trivial' is not a known value; ignored"),
    ]


def test_groups_spelled_alike_are_one_team_named_as_first_seen():
    batch = transform(export([ci(sys_id(1), "a", support_group="Service Desk  EMEA"),
                              ci(sys_id(2), "b", support_group="service desk emea")]))
    assert [(team.id, team.name) for team in batch.teams] == [("service-desk-emea", "Service Desk  EMEA")]
    assert [c.ci.owner for c in batch.cis] == ["service-desk-emea", "service-desk-emea"]


def test_a_cluster_gets_the_default_minimum_of_one_member():
    cluster = the(transform(export([ci(sys_id(1), "c", "cmdb_ci_cluster")])), sys_id(1))
    assert (cluster.ci_class.value, cluster.min_members) == ("Cluster", 1)


# --- the importer as a whole ----------------------------------------------------------------


def test_the_importer_is_registered_under_its_source_name():
    assert (IMPORTER.name, IMPORTER.get, IMPORTER.transform, IMPORTER.keys_are_ids) == (
        "servicenow", read, transform, False)


@pytest.mark.parametrize("fixture", ["estate", "table_api", "jsonv2/cmdb_ci_linux_server.json", "broken"])
def test_a_re_export_gives_the_same_batch(fixture: str):
    assert load(FIXTURES / fixture) == load(FIXTURES / fixture)


def test_the_benchmark_export_imports_without_errors(tmp_path: Path):
    batch = load(generate(tmp_path / "a", 2_000))
    assert batch.errors == [] and batch.findings == []
    assert 2_000 <= len(batch.cis) + len(batch.relationships) < 2_100
    again = load(generate(tmp_path / "b", 2_000))
    assert (cis(again), edges(again)) == (cis(batch), edges(batch))
