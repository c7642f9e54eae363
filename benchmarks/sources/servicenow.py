"""A synthetic ServiceNow export for timing the importer: a `cmdb_ci.csv` and `cmdb_rel_ci.csv`
pair as the list export writes them by default (every cell quoted; display values: class and
choice labels, relationship ends partly as names), shaped like an estate: business services on
applications, applications on Tomcat and databases, Tomcat on VMs on ESX clusters, databases
on physical servers in two data centres behind switches."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

CI_COLUMNS = ("sys_id", "name", "sys_class_name", "serial_number", "fqdn", "ip_address", "install_status",
              "operational_status", "used_for", "business_criticality", "manufacturer", "model_id", "os",
              "location", "support_group", "short_description", "sys_updated_on")
REL_COLUMNS = ("parent", "type", "child")
NAMED_ENDS = 0.2  # share of relationship ends written as the CI's name, as a CSV export shows them
UNIT_ROWS = 13  # one application stack: 5 CIs and 8 relationships
TEAMS = ("Payments Team", "Orders Team", "Platform Team", "DBA Team", "Unix Team", "Network Team")
DATABASES = ("PostgreSQL Instance", "MySQL Instance", "MSFT SQL Instance")


@dataclass
class _Estate:
    rng: random.Random
    cis: list[tuple[str, ...]] = field(default_factory=list)
    rels: list[tuple[str, str, str]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # sys_id -> name

    def ci(self, name: str, sys_class_name: str, **values: str) -> str:
        sys_id = f"{self.rng.getrandbits(128):032x}"
        self.names[sys_id] = name
        status = self.rng.choices(("Installed", "Retired", "In Maintenance"), (95, 3, 2))[0]
        row = {"sys_id": sys_id, "name": name, "sys_class_name": sys_class_name, "install_status": status,
               "operational_status": "Operational", "used_for": "Production",
               "support_group": self.rng.choice(TEAMS), "sys_updated_on": "2024-06-01 04:12:09", **values}
        self.cis.append(tuple(row.get(column, "") for column in CI_COLUMNS))
        return sys_id

    def rel(self, parent: str, rel_type: str, child: str) -> None:
        self.rels.append((self._end(parent), rel_type, self._end(child)))

    def _end(self, sys_id: str) -> str:
        return self.names[sys_id] if self.rng.random() < NAMED_ENDS else sys_id

    def size(self) -> int:
        return len(self.cis) + len(self.rels)


def generate(directory: Path, rows: int, seed: int = 7) -> Path:
    """About `rows` rows (CIs plus relationships) in `directory`, the same for the same seed;
    returns the directory, which is what the importer reads."""
    estate = _Estate(random.Random(seed))
    units = max(1, rows // UNIT_ROWS)
    datacenters = [estate.ci(f"DC{n} Frankfurt", "Data Center") for n in (1, 2)]
    switches = [estate.ci(f"core-sw-{n:03d}", "IP Switch", manufacturer="Cisco", model_id="Catalyst 9300")
                for n in range(max(2, units // 40))]
    clusters = [_esx_cluster(estate, n, datacenters) for n in range(max(1, units // 50))]
    applications: list[str] = []
    while estate.size() < rows:
        applications.append(_stack(estate, len(applications), datacenters, switches, clusters, applications))
        if len(applications) % 10 == 0 and estate.size() < rows:
            service = estate.ci(f"service-{len(applications) // 10:05d}", "Business Service",
                                business_criticality=estate.rng.choice(("1 - most critical", "2 - somewhat critical")))
            for application in estate.rng.sample(applications[-10:], 3):
                estate.rel(service, "Depends on::Used by", application)
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / "cmdb_ci.csv", CI_COLUMNS, estate.cis)
    _write(directory / "cmdb_rel_ci.csv", REL_COLUMNS, estate.rels)
    return directory


def _esx_cluster(estate: _Estate, n: int, datacenters: list[str]) -> str:
    cluster = estate.ci(f"esx-cl-{n:03d}", "VMware vCenter Cluster")
    for host in range(4):
        server = estate.ci(f"esx-{n:03d}-{host}", "ESX Server", serial_number=f"VMW{n:05d}{host}",
                           ip_address=f"10.{200 + n // 250}.{n % 250}.{10 + host}", manufacturer="Dell Inc.",
                           model_id="PowerEdge R750", os="ESXi")
        estate.rel(cluster, "Members::Member of", server)
        estate.rel(datacenters[n % 2], "Contains::Contained by", server)
    return cluster


def _stack(estate: _Estate, n: int, datacenters: list[str], switches: list[str], clusters: list[str],
           applications: list[str]) -> str:
    """An application on Tomcat on a VM, and its database on a physical server: 5 CIs and 8
    relationships (7 for the first, which has no other application to send data to)."""
    rng = estate.rng
    address = f"10.{n // 62500 % 100}.{n // 250 % 250}.{n % 250 + 1}"
    application = estate.ci(f"app-{n:06d}", "Application", short_description=f"Application {n}")
    tomcat = estate.ci(f"tomcat-{n:06d}", "Tomcat")
    vm = estate.ci(f"vm-{n:06d}", "VMware Virtual Machine Instance",
                   ip_address=f"172.16.{n // 250 % 250}.{n % 250 + 1}")
    database = estate.ci(f"db-{n:06d}", rng.choice(DATABASES))
    server = estate.ci(f"srv-{n:06d}", "Linux Server", serial_number=f"CZJ{n:07d}",
                       fqdn=f"srv-{n:06d}.dc{n % 2 + 1}.example.com", ip_address=address,
                       manufacturer="Hewlett Packard Enterprise", model_id="ProLiant DL380 Gen10", os="Linux Red Hat",
                       location=f"DC{n % 2 + 1} Frankfurt")
    estate.rel(application, "Runs on::Runs", tomcat)
    estate.rel(tomcat, "Runs on::Runs", vm)
    estate.rel(vm, "Hosted on::Hosts", rng.choice(clusters))
    estate.rel(application, "Depends on::Used by", database)
    estate.rel(database, "Runs on::Runs", server)
    estate.rel(server, "Connected by::Connects to", rng.choice(switches))
    estate.rel(datacenters[n % 2], "Contains::Contained by", server)
    if applications:
        estate.rel(application, "Sends data to::Receives data from", rng.choice(applications))
    return application


def _write(path: Path, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(columns)
        writer.writerows(rows)
