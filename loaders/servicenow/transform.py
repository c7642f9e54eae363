"""Turn a ServiceNow export into the source's view: CIs keyed by sys_id, relationships pointing
from the dependent to what it needs, support groups as teams. Pure: no I/O, no clock.

The tables below are the mapping; docs/importers/servicenow.md quotes them."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import ValidationError

from cmdb_graph.model import CIClass, CIStatus, Environment, RelType, Strength, Team
from loaders.native.get import Location
from loaders.servicenow.get import CI_TABLE, Cell, RawExport, Reference, Row
from loaders.sync.model import (
    DANGLING,
    SKIPPED,
    UNKNOWN_CLASS,
    UNKNOWN_TYPE,
    UNKNOWN_VALUE,
    SourceBatch,
    safe_id,
)

T = TypeVar("T")

# --- CIs ------------------------------------------------------------------------------------

# sys_class_name -> class. Subclasses are listed one by one: the export names the leaf table.
CLASSES: dict[str, CIClass] = {
    "cmdb_ci_server": CIClass.SERVER,
    "cmdb_ci_linux_server": CIClass.SERVER,
    "cmdb_ci_win_server": CIClass.SERVER,
    "cmdb_ci_unix_server": CIClass.SERVER,
    "cmdb_ci_esx_server": CIClass.SERVER,
    "cmdb_ci_aix_server": CIClass.SERVER,
    "cmdb_ci_solaris_server": CIClass.SERVER,
    "cmdb_ci_vm_instance": CIClass.VIRTUAL_MACHINE,
    "cmdb_ci_vmware_instance": CIClass.VIRTUAL_MACHINE,
    "cmdb_ci_vm": CIClass.VIRTUAL_MACHINE,
    "cmdb_ci_db_instance": CIClass.DATABASE,
    "cmdb_ci_db_mssql_instance": CIClass.DATABASE,
    "cmdb_ci_db_ora_instance": CIClass.DATABASE,
    "cmdb_ci_db_mysql_instance": CIClass.DATABASE,
    "cmdb_ci_db_postgresql_instance": CIClass.DATABASE,
    "cmdb_ci_app_server": CIClass.MIDDLEWARE,
    "cmdb_ci_app_server_tomcat": CIClass.MIDDLEWARE,
    "cmdb_ci_app_server_websphere": CIClass.MIDDLEWARE,
    "cmdb_ci_app_server_jboss": CIClass.MIDDLEWARE,
    "cmdb_ci_appl": CIClass.APPLICATION,
    "cmdb_ci_business_app": CIClass.APPLICATION,
    "cmdb_ci_service": CIClass.BUSINESS_SERVICE,
    "cmdb_ci_service_business": CIClass.BUSINESS_SERVICE,
    "cmdb_ci_service_technical": CIClass.TECHNICAL_SERVICE,
    "cmdb_ci_service_auto": CIClass.TECHNICAL_SERVICE,
    "cmdb_ci_service_discovered": CIClass.TECHNICAL_SERVICE,
    "cmdb_ci_netgear": CIClass.NETWORK_DEVICE,
    "cmdb_ci_ip_switch": CIClass.NETWORK_DEVICE,
    "cmdb_ci_ip_router": CIClass.NETWORK_DEVICE,
    "cmdb_ci_lb": CIClass.LOAD_BALANCER,
    "cmdb_ci_lb_bigip": CIClass.LOAD_BALANCER,
    "cmdb_ci_lb_netscaler": CIClass.LOAD_BALANCER,
    "cmdb_ci_ip_firewall": CIClass.FIREWALL,
    "cmdb_ci_storage_device": CIClass.STORAGE_DEVICE,
    "cmdb_ci_san": CIClass.STORAGE_DEVICE,
    "cmdb_ci_nas_storage": CIClass.STORAGE_DEVICE,
    "cmdb_ci_datacenter": CIClass.DATACENTER,
    "cmdb_ci_computer_room": CIClass.DATACENTER,
    "cmdb_ci_cluster": CIClass.CLUSTER,
    "cmdb_ci_win_cluster": CIClass.CLUSTER,
    "cmdb_ci_esx_cluster": CIClass.CLUSTER,
    "cmdb_ci_vcenter_cluster": CIClass.CLUSTER,
    "cmdb_ci_docker_container": CIClass.CONTAINER,
}
CLOUD_PREFIX = "cmdb_ci_cloud_"  # every cloud table is a CloudResource
DEFAULT_CLASS = CIClass.APPLICATION  # an unmapped class: loaded as this, and reported
# A CSV export shows display values by default, and the display value of sys_class_name is
# the table's label. Labels change between releases; each one ServiceNow has used is listed.
CLASS_LABELS: dict[str, tuple[str, ...]] = {
    "cmdb_ci_server": ("Server",),
    "cmdb_ci_linux_server": ("Linux Server",),
    "cmdb_ci_win_server": ("Windows Server",),
    "cmdb_ci_unix_server": ("UNIX Server",),
    "cmdb_ci_esx_server": ("ESX Server",),
    "cmdb_ci_aix_server": ("AIX Server",),
    "cmdb_ci_solaris_server": ("Solaris Server",),
    "cmdb_ci_vm_instance": ("Virtual Machine Instance",),
    "cmdb_ci_vmware_instance": ("VMware Virtual Machine Instance",),
    "cmdb_ci_db_instance": ("Database Instance",),
    "cmdb_ci_db_mssql_instance": ("MSFT SQL Instance",),
    "cmdb_ci_db_ora_instance": ("Oracle Instance",),
    "cmdb_ci_db_mysql_instance": ("MySQL Instance",),
    "cmdb_ci_db_postgresql_instance": ("PostgreSQL Instance",),
    "cmdb_ci_app_server_tomcat": ("Tomcat",),
    "cmdb_ci_app_server_websphere": ("IBM WebSphere",),
    "cmdb_ci_app_server_jboss": ("JBoss",),
    "cmdb_ci_appl": ("Application",),
    "cmdb_ci_business_app": ("Business Application",),
    "cmdb_ci_service": ("Service",),
    "cmdb_ci_service_business": ("Business Service",),
    "cmdb_ci_service_technical": ("Technical Service", "Technology Management Service"),
    "cmdb_ci_service_auto": ("Application Service", "Service Instance"),
    "cmdb_ci_service_discovered": ("Mapped Application Service", "Mapped Service Instance"),
    "cmdb_ci_netgear": ("Network Gear",),
    "cmdb_ci_ip_switch": ("IP Switch",),
    "cmdb_ci_ip_router": ("IP Router",),
    "cmdb_ci_lb": ("Load Balancer",),
    "cmdb_ci_lb_bigip": ("F5 BIG-IP",),
    "cmdb_ci_lb_netscaler": ("Citrix NetScaler",),
    "cmdb_ci_ip_firewall": ("IP Firewall",),
    "cmdb_ci_storage_device": ("Storage Device",),
    "cmdb_ci_san": ("Storage Area Network",),
    "cmdb_ci_nas_storage": ("NAS Storage",),
    "cmdb_ci_datacenter": ("Data Center",),
    "cmdb_ci_cluster": ("Cluster",),
    "cmdb_ci_win_cluster": ("Windows Cluster",),
    "cmdb_ci_vcenter_cluster": ("VMware vCenter Cluster",),
    "cmdb_ci_docker_container": ("Docker Container",),
}

# install_status code -> (label, status); None: operational_status decides.
INSTALL_STATUS: dict[str, tuple[str, CIStatus | None]] = {
    "1": ("Installed", None),
    "2": ("On Order", CIStatus.PLANNED),
    "3": ("In Maintenance", None),
    "4": ("Pending Install", CIStatus.PLANNED),
    "5": ("Pending Repair", None),
    "6": ("In Stock", CIStatus.PLANNED),
    "7": ("Retired", CIStatus.RETIRED),
    "8": ("Stolen", CIStatus.RETIRED),
    "100": ("Absent", CIStatus.RETIRED),
}
# operational_status code -> (label, status). A CI being repaired or on standby still exists
# and still serves (or will): operational; the label stays in the attributes.
OPERATIONAL_STATUS: dict[str, tuple[str, CIStatus]] = {
    "1": ("Operational", CIStatus.OPERATIONAL),
    "2": ("Non-Operational", CIStatus.OPERATIONAL),
    "3": ("Repair in Progress", CIStatus.OPERATIONAL),
    "4": ("DR Standby", CIStatus.OPERATIONAL),
    "5": ("Ready", CIStatus.IMPLEMENTING),
    "6": ("Retired", CIStatus.RETIRED),
}
# `environment`, else `used_for` (lower-cased) -> environment.
ENVIRONMENTS: dict[str, Environment] = {
    "production": Environment.PRODUCTION,
    "disaster recovery": Environment.PRODUCTION,
    "staging": Environment.STAGING,
    "qa": Environment.TEST,
    "test": Environment.TEST,
    "demonstration": Environment.TEST,
    "training": Environment.TEST,
    "development": Environment.DEVELOPMENT,
}
# business_criticality (its choices, or the bare digit) -> criticality.
CRITICALITY: dict[str, int] = {
    "1 - most critical": 1,
    "2 - somewhat critical": 2,
    "3 - less critical": 3,
    "4 - not critical": 4,
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
}
# column -> attribute, kept as the UI shows it.
ATTRIBUTES: dict[str, str] = {
    "manufacturer": "vendor",
    "model_id": "model",
    "os": "os",
    "os_version": "os_version",
    "location": "location",
    "short_description": "description",
    "assigned_to": "assigned_to",
    "owned_by": "owned_by",
}
# Reference columns: an export without display values gives only the referenced record's
# sys_id, which names nothing here; such a value is left out, and reported once per column.
REFERENCE_COLUMNS = frozenset({"manufacturer", "model_id", "location", "assigned_to", "owned_by", "support_group"})
DESCRIPTIVE_COLUMNS = frozenset(ATTRIBUTES) | {"support_group"}
SYS_ID = re.compile(r"[0-9a-f]{32}")

# --- relationships --------------------------------------------------------------------------


class Edge(NamedTuple):
    """`source` needs `target`."""

    source: str
    type: RelType
    target: str
    strength: Strength = Strength.HARD
    note: str | None = None  # why the row was read as a fallback; reported


@dataclass(frozen=True)
class Always:
    """The same edge for every row: parent -> child, or child -> parent when `reverse`."""

    type: RelType
    reverse: bool = False
    strength: Strength = Strength.HARD

    def edge(self, parent: str, child: str, class_of: Mapping[str, CIClass]) -> Edge:
        source, target = (child, parent) if self.reverse else (parent, child)
        return Edge(source, self.type, target, self.strength)


@dataclass(frozen=True)
class IfParentIs:
    """`then` when the parent is one of `classes`, else `otherwise`."""

    classes: frozenset[CIClass]
    then: Always
    otherwise: Always

    def edge(self, parent: str, child: str, class_of: Mapping[str, CIClass]) -> Edge:
        rule = self.then if class_of[parent] in self.classes else self.otherwise
        return rule.edge(parent, child, class_of)


@dataclass(frozen=True)
class Membership:
    """HAS_MEMBER from whichever end is a Cluster or RedundancyGroup. `group` is the end
    ServiceNow documents as the group; it decides when both ends are groups."""

    group: Literal["parent", "child"]

    def edge(self, parent: str, child: str, class_of: Mapping[str, CIClass]) -> Edge:
        group, member = (parent, child) if self.group == "parent" else (child, parent)
        if not class_of[group].is_group and class_of[member].is_group:
            group, member = member, group
        if class_of[group].is_group:
            return Edge(group, RelType.HAS_MEMBER, member)
        return Edge(parent, RelType.DEPENDS_ON, child,
                    note="neither end is a Cluster or RedundancyGroup: read as DEPENDS_ON from the parent")


Rule = Always | IfParentIs | Membership

# cmdb_rel_type name ("parent descriptor::child descriptor") -> how a row becomes an edge.
REL_TYPES: dict[str, Rule] = {
    "Depends on::Used by": Always(RelType.DEPENDS_ON),
    "Uses::Used by": Always(RelType.DEPENDS_ON),
    "Runs on::Runs": Always(RelType.RUNS_ON),
    "Hosted on::Hosts": Always(RelType.HOSTED_ON),
    "Virtualized by::Virtualizes": Always(RelType.HOSTED_ON),
    "Members::Member of": Membership(group="parent"),
    "Cluster of::Cluster": Membership(group="child"),  # the node is the parent
    "Connected by::Connects to": Always(RelType.CONNECTED_VIA),
    "Located in::Houses": Always(RelType.LOCATED_IN),
    "Contains::Contained by": IfParentIs(frozenset({CIClass.DATACENTER}),
                                         then=Always(RelType.LOCATED_IN, reverse=True),
                                         otherwise=Always(RelType.DEPENDS_ON)),
    "Stored on::Stores": Always(RelType.STORED_ON),
    "Provides storage for::Stored on": Always(RelType.STORED_ON, reverse=True),
    "Sends data to::Receives data from": Always(RelType.DEPENDS_ON, strength=Strength.SOFT),
    "Receives data from::Sends data to": Always(RelType.DEPENDS_ON, strength=Strength.SOFT),
    "IP Connection::IP Connection": Always(RelType.CONNECTED_VIA, strength=Strength.SOFT),
}
UNKNOWN_TYPE_RULE = Always(RelType.DEPENDS_ON, strength=Strength.SOFT)

# sys_ids of the base system's cmdb_rel_type records, for exports that give `type` as a sys_id.
REL_TYPE_SYS_IDS: dict[str, str] = {
    "1a9cb166f1571100a92eb60da2bce5c5": "Depends on::Used by",
    "cb5592603751200032ff8c00dfbe5d17": "Uses::Used by",
    "60bc4e22c0a8010e01f074cbe6bd73c3": "Runs on::Runs",
    "5f985e0ec0a8010e00a9714f2a172815": "Hosted on::Hosts",
    "d93304fb0a0a0b78006081a72ef08444": "Virtualized by::Virtualizes",
    "55c913d3c0a8010e012d1563182d6050": "Members::Member of",
    "a99d39118f10310091769012cbbe4429": "Cluster of::Cluster",
    "55c95bf6c0a8010e0118ec7056ebc54d": "Contains::Contained by",
}


def _type_key(name: str) -> str:
    """`Depends on :: Used by` and `depends on::used by` are the same type."""
    return "::".join(" ".join(part.split()) for part in name.lower().split("::"))


def _by_code_and_label(table: dict[str, tuple[str, T]]) -> dict[str, tuple[str, T]]:
    return {**table, **{entry[0].lower(): entry for entry in table.values()}}


_RULES = {_type_key(name): rule for name, rule in REL_TYPES.items()}
_TABLE_OF_LABEL = {label.lower(): table for table, labels in CLASS_LABELS.items() for label in labels}
_INSTALL_STATUS = _by_code_and_label(INSTALL_STATUS)
_OPERATIONAL_STATUS = _by_code_and_label(OPERATIONAL_STATUS)

# --- the transform --------------------------------------------------------------------------


def transform(raw: RawExport) -> SourceBatch:
    batch = SourceBatch()
    index = _add_cis(raw.cis, batch)
    _add_relationships(raw.relationships, index, batch)
    return batch


@dataclass
class _Tally:
    """Rows per unmapped value and the first of them: one finding per value, not per row."""

    first: dict[str, Location] = field(default_factory=dict)
    rows: Counter[str] = field(default_factory=Counter)

    def add(self, value: str, location: Location) -> None:
        self.first.setdefault(value, location)
        self.rows[value] += 1

    def report(self, batch: SourceBatch, kind: str, message: Callable[[str, int], str]) -> None:
        for value in sorted(self.first):
            batch.report(self.first[value], kind, message(value, self.rows[value]))


@dataclass
class _Index:
    """What relationship rows can name: each loaded CI's class by sys_id, sys_ids by name."""

    class_of: dict[str, CIClass] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)  # sys_ids of CIs the model refused: errors already

    def add(self, key: str, ci_class: CIClass, name: str) -> None:
        self.class_of[key] = ci_class
        if name:
            self.by_name.setdefault(name, []).append(key)

    def resolve(self, cell: Cell) -> tuple[str | None, str | None]:
        """The sys_id a parent or child cell names, else why not (None: already an error).
        A reference is followed by its sys_id only; text that is no sys_id here is a CI name,
        as CSV exports show it."""
        if isinstance(cell, Reference) and cell.value:
            text, names = cell.value, []
        else:
            text = _shown(cell)
            names = self.by_name.get(text, [])
        if text in self.class_of:
            return text, None
        if text in self.rejected:
            return None, None
        if len(names) == 1:
            return names[0], None
        if names:
            return None, f"{text!r} names {len(names)} CIs in the {CI_TABLE} export"
        return None, f"{_describe(cell)} is not in the {CI_TABLE} export"


def _add_cis(rows: list[Row], batch: SourceBatch) -> _Index:
    index = _Index()
    first_at: dict[str, Location] = {}
    teams: dict[str, Team] = {}
    unknown_classes = _Tally()
    bare_references = _Tally()
    for row in rows:
        key = _stored(row.cells.get("sys_id"))
        if not key:
            batch.error(row.location, "sys_id", "empty: every CI needs its sys_id")
            continue
        if key in first_at:
            batch.error(row.location, "sys_id", f"duplicate {key!r}; first at {_where(first_at[key])}")
            continue
        first_at[key] = row.location
        class_name = _table_name(row.cells.get("sys_class_name"))
        ci_class = _ci_class(class_name)
        if ci_class is None:
            unknown_classes.add(class_name, row.location)
            ci_class = DEFAULT_CLASS
        shown = _displayed(row, bare_references)
        data = _ci_data(key, ci_class, class_name, row, shown, batch)
        if "support_group" in shown:
            data["owner"] = _team(shown["support_group"], row.location, teams, batch)
        if batch.add_ci(key, data, row.location) is None:
            index.rejected.add(key)
        else:
            index.add(key, ci_class, _shown(row.cells.get("name")))
    batch.teams.extend(sorted(teams.values(), key=lambda team: team.id))
    unknown_classes.report(batch, UNKNOWN_CLASS, lambda name, count: (
        f"sys_class_name {_quoted(name)} is not mapped ({_rows(count)}, the first here): "
        f"loaded as {DEFAULT_CLASS.value}"))
    bare_references.report(batch, SKIPPED, lambda column, count: (
        f"{column} is a bare sys_id ({_rows(count)}, the first here): not read; "
        "export display values to keep it"))
    return index


def _table_name(cell: Cell | None) -> str:
    """sys_class_name as a table name: the value, or the table a known label stands for."""
    if not cell:
        return ""
    for text in _texts(cell):
        if text in CLASSES or text.startswith(CLOUD_PREFIX):
            return text
        if text.lower() in _TABLE_OF_LABEL:
            return _TABLE_OF_LABEL[text.lower()]
    return _stored(cell)


def _ci_class(class_name: str) -> CIClass | None:
    if class_name.startswith(CLOUD_PREFIX):
        return CIClass.CLOUD_RESOURCE
    return CLASSES.get(class_name)


def _displayed(row: Row, bare_references: _Tally) -> dict[str, str]:
    """What the UI shows in each descriptive column the row fills; a reference column that
    holds only a sys_id is left out, and tallied."""
    shown = {}
    for column in DESCRIPTIVE_COLUMNS & row.cells.keys():
        cell = row.cells[column]
        text = _display(cell) if column in REFERENCE_COLUMNS else _shown(cell)
        if text:
            shown[column] = text
        else:
            bare_references.add(column, row.location)
    return shown


def _ci_data(key: str, ci_class: CIClass, class_name: str, row: Row, shown: dict[str, str],
             batch: SourceBatch) -> dict[str, Any]:
    cells = row.cells
    install = _choice(row, "install_status", _INSTALL_STATUS, batch)
    operational = _choice(row, "operational_status", _OPERATIONAL_STATUS, batch)
    status = install[1] if install else None
    if status is None and operational:
        status = operational[1]
    environment = (_choice(row, "environment", ENVIRONMENTS, batch)
                   or _choice(row, "used_for", ENVIRONMENTS, batch))
    optional = {
        "status": status,
        "environment": environment,
        "criticality": _choice(row, "business_criticality", CRITICALITY, batch),
        "serial_number": _shown(cells.get("serial_number")),
        "fqdn": _fqdn(cells),
        "ip_addresses": _ip_addresses(row, batch),
    }
    attributes = {name: shown[column] for column, name in ATTRIBUTES.items() if column in shown}
    attributes["sys_class_name"] = class_name
    labels = {"install_status": install, "operational_status": operational}
    attributes.update({column: choice[0] for column, choice in labels.items() if choice})
    data = {"id": safe_id(key), "class": ci_class.value, "name": _shown(cells.get("name"))}
    data.update({name: value for name, value in optional.items() if value})
    data["attributes"] = {name: value for name, value in attributes.items() if value}
    return data


def _choice(row: Row, column: str, choices: Mapping[str, T], batch: SourceBatch) -> T | None:
    """A choice field by its code or its label (a CSV export shows labels); an unknown one is
    reported and ignored."""
    cell = row.cells.get(column)
    if not cell:
        return None
    for text in _texts(cell):
        found = choices.get(text.lower())
        if found is not None:
            return found
    batch.report(row.location, UNKNOWN_VALUE, f"{column}: {_describe(cell)} is not a known value; ignored")
    return None


def _fqdn(cells: dict[str, Cell]) -> str:
    """`fqdn`, else `host_name` in `dns_domain` (a host name with a dot is left alone)."""
    fqdn = _shown(cells.get("fqdn"))
    host, domain = _shown(cells.get("host_name")), _shown(cells.get("dns_domain"))
    if not fqdn and host and domain and "." not in host:
        return f"{host}.{domain}"
    return fqdn


def _ip_addresses(row: Row, batch: SourceBatch) -> list[str]:
    text = _shown(row.cells.get("ip_address"))
    if not text:
        return []
    try:
        return [str(ipaddress.ip_address(text.split("/", 1)[0]))]
    except ValueError:
        batch.report(row.location, UNKNOWN_VALUE,
                     f"ip_address: {text!r} is not an IP address; the CI is loaded without it")
        return []


def _team(name: str, location: Location, teams: dict[str, Team], batch: SourceBatch) -> str | None:
    """The id of the support group's team (added on first sight): its name, lower-cased."""
    team_id = safe_id(name.lower())
    if team_id not in teams:
        try:
            teams[team_id] = Team(id=team_id, name=name)
        except ValidationError as error:
            batch.error(location, "support_group", error.errors()[0]["msg"])
            return None
    return team_id


def _add_relationships(rows: list[Row], index: _Index, batch: SourceBatch) -> None:
    edges: dict[tuple[str, RelType, str], tuple[Location, Strength]] = {}
    unknown_types = _Tally()
    for row in rows:
        parent = _end(row, "parent", index, batch)
        child = _end(row, "child", index, batch)
        if parent is None or child is None:
            continue
        type_name = _type_name(row.cells)
        rule = _rule(type_name)
        if rule is None:
            unknown_types.add(type_name, row.location)
            rule = UNKNOWN_TYPE_RULE
        edge = rule.edge(parent, child, index.class_of)
        if edge.note:
            batch.report(row.location, UNKNOWN_TYPE, f"type {type_name!r}: {edge.note}")
        _keep(edges, edge, row.location)
    for (source, rel_type, target), (location, strength) in edges.items():
        batch.depends(source, target, location, rel_type, strength)
    unknown_types.report(batch, UNKNOWN_TYPE, lambda name, count: (
        f"type {_quoted(name)} is not mapped ({_rows(count)}, the first here): "
        f"read as a {UNKNOWN_TYPE_RULE.strength.value} {UNKNOWN_TYPE_RULE.type.value} from the parent"))


def _end(row: Row, column: str, index: _Index, batch: SourceBatch) -> str | None:
    cell = row.cells.get(column)
    if not cell:
        batch.error(row.location, column, f"empty: a relationship needs its {column}")
        return None
    key, problem = index.resolve(cell)
    if problem:
        batch.report(row.location, DANGLING, f"{column} {problem}; relationship left out")
    return key


def _type_name(cells: dict[str, Cell]) -> str:
    """`type.name`, else `type`: its display value, or the name of a known cmdb_rel_type sys_id."""
    named = _shown(cells.get("type.name"))
    if named:
        return named
    cell = cells.get("type")
    if isinstance(cell, Reference) and cell.display:
        return cell.display
    text = _stored(cell)
    return REL_TYPE_SYS_IDS.get(text, text)


@functools.lru_cache(maxsize=1024)
def _rule(type_name: str) -> Rule | None:
    """Cached: an export names a handful of types over and over."""
    return _RULES.get(_type_key(type_name))


def _keep(edges: dict[tuple[str, RelType, str], tuple[Location, Strength]], edge: Edge, location: Location) -> None:
    """One edge per (source, type, target), at the first row's place, hard if any row says hard:
    ServiceNow records a membership twice (`Members` from the cluster, `Cluster of` from the node)."""
    key = (edge.source, edge.type, edge.target)
    first_at, strength = edges.setdefault(key, (location, edge.strength))
    if strength is Strength.SOFT and edge.strength is Strength.HARD:
        edges[key] = (first_at, Strength.HARD)


# --- cells ----------------------------------------------------------------------------------


def _stored(cell: Cell | None) -> str:
    """What ServiceNow stores: a sys_id, a choice code, a table name."""
    if isinstance(cell, Reference):
        return cell.value or cell.display
    return cell or ""


def _shown(cell: Cell | None) -> str:
    """What the UI shows: a name, a choice label."""
    if isinstance(cell, Reference):
        return cell.display or cell.value
    return cell or ""


def _display(cell: Cell) -> str:
    """A reference's display value; '' when the export gives only the sys_id."""
    if isinstance(cell, Reference):
        return cell.display
    return "" if SYS_ID.fullmatch(cell) else cell


def _texts(cell: Cell) -> tuple[str, ...]:
    return (cell.value, cell.display) if isinstance(cell, Reference) else (cell,)


def _describe(cell: Cell) -> str:
    if isinstance(cell, Reference) and cell.value and cell.display and cell.value != cell.display:
        return f"{cell.value!r} ({cell.display})"
    return repr(_shown(cell))


def _quoted(value: str) -> str:
    return repr(value) if value else "(empty)"


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count} rows"


def _where(location: Location) -> str:
    if location.line:
        return f"{location.file}:{location.line}"
    return f"{location.file} {location.section}[{location.index}]"
