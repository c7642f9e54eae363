"""A synthetic enterprise of any size (a few hundred to millions of CIs), for benchmarks and
bulk loads, written in the native format while it is generated.

`write_enterprise(out_dir, cis, seed)` writes `cis.csv`, `relationships.csv` and
`records.json` (teams, SLAs, incidents, changes, maintenance windows), which
`cmdb-graph load DIR` reads, with exactly `cis` CIs. The same (cis, seed) gives byte-identical
files: one `random.Random(seed)`, every timestamp relative to the demo's fixed anchor, ids,
addresses and serial numbers from counters, nothing iterated in hash order.

Rows are written as they are made (`generate_enterprise` hands them to any sink, e.g. a bulk
loader). What stays in memory is the plan (a few small numbers per application, database and
middleware), the ids of shared infrastructure and a sample of CIs for the records, so a million
CIs need well under a GiB.

Shape, like the demo's (edges point from the dependent to what it needs; every edge goes from
a later layer to an earlier one, so the graph is acyclic):

- per data centre: core routers (a pair group) <- firewalls (pair) <- load balancers (pair);
  one access switch per rack of 40 servers; storage arrays in SAN pairs; hypervisors, database
  servers and Kubernetes nodes connected via their rack's switch, stored on a SAN pair,
  located in the data centre; everything physical LOCATED_IN it;
- hypervisor clusters and Kubernetes clusters, N-of-M (`min_members` M-1 or M-2); VMs
  HOSTED_ON a hypervisor cluster and STORED_ON its SAN pair; pods (Container) RUNS_ON a
  Kubernetes cluster;
- base technical services (DNS, monitoring, logging, backup) on farms of VMs in every data
  centre; middleware (single, or clusters of three nodes) and databases (single on a VM or a
  server, or primary/replica redundancy groups across two data centres);
- platform technical services (single sign-on, messaging, API gateway, ...) on farms, with
  databases, middleware and other services behind them;
- applications on a VM pool (web pools behind their data centre's load balancers) or a pod
  deployment, needing databases, middleware, technical services (monitoring and logging
  soft) and earlier applications; business services need applications. Non-production
  applications bring a database of their own and belong to the `ts-nonprod` service.
  VMs outside the base services need monitoring (and half of them backup) softly, for their
  agents; pods need the container registry softly, to pull their image on a restart.

Ids say what a thing is: `dc-2`, `core-2-1`, `sw-2-014` (the switch of rack `R2-014`),
`stor-2-01a` in `san-2-01`, `esx-2-0042` in `vmw-2-03`, `node-2-0042` in `k8s-2-05`,
`dbsrv-2-007`, `vm-000123`, `pod-0001234`, `db-00042` (replicated: the group of
`db-00042-primary` and `db-00042-replica`), `mw-00042`, `app-00042` on `app-00042-pool` or
`app-00042-pods`, `ts-dns`, `svc-0042`.

Fan-in is heavy-tailed: databases, middleware, technical services and other applications are
picked by a Zipf law (the k-th most popular about 1/k as often), and business services own
applications by a skewed law, so a few CIs have tens of thousands of transitive dependents and
most have a handful.

The model has no rack class: a rack is `attributes.rack` on the physical devices in it, and
its top-of-rack switch is the access switch of its servers.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from cmdb_graph.demo import CHANGE_TEMPLATES, CLOUD_RESOURCES, DEMO_ANCHOR, INCIDENT_TEMPLATES, TEAMS
from cmdb_graph.model import PRIORITY_MATRIX, Impact, Urgency

ANCHOR = DEMO_ANCHOR  # records are dated relative to it, never to the clock
CI_COLUMNS = (
    "id", "class", "name", "status", "environment", "criticality", "owner", "availability", "rto_minutes",
    "rpo_minutes", "min_members", "serial_number", "fqdn", "ip_addresses", "attributes.product", "attributes.os",
    "attributes.rack", "attributes.city", "attributes.language",
)
RELATIONSHIP_COLUMNS = ("from", "to", "type", "strength")
Row = list[Any]

# capacities that size the infrastructure from what runs on it
VMS_PER_HOST = 25
PODS_PER_NODE = 30
DATABASES_PER_SERVER = 6
SERVERS_PER_RACK = 40
SERVERS_PER_SAN = 300
HOSTS_PER_CLUSTER = 12
NODES_PER_CLUSTER = 10
# data centre, core pair and group, firewall pair and group, load balancer pair and group
DEVICES_PER_SITE = 10
# business services own applications with P(index < x·n) = x^(1/SKEW): the first one owns
# about n^(-1/SKEW) of them
BUSINESS_SERVICE_SKEW = 1.3
SAMPLE_EVERY = 50  # every so many CIs of a class (after the first 20) may be named in records
PROGRESS_EVERY = 20_000

CITIES = ("Frankfurt", "Amsterdam", "Dublin", "Paris", "Madrid", "Milan", "Stockholm", "Warsaw", "Vienna",
          "Zurich", "Brussels", "Copenhagen", "Lisbon", "Prague", "Oslo", "Helsinki")
BUSINESS_TEAMS = ("team-web", "team-payments", "team-erp", "team-logistics", "team-workplace", "team-data",
                  "team-service-desk")
BUSINESS_NAMES = (
    "Online shop", "Payments", "Order management", "Warehouse logistics", "Customer support", "Finance and accounting",
    "HR and payroll", "Email and collaboration", "Analytics and reporting", "Loyalty programme", "Marketplace",
    "Click and collect", "Returns", "Supplier portal", "Store operations", "Pricing", "Product information",
    "Gift cards", "Mobile app", "Customer accounts", "Procurement", "Fleet management", "Point of sale",
    "Inventory planning", "Marketing campaigns", "Fraud prevention", "Delivery tracking", "B2B ordering",
)
REGIONS = ("DACH", "Benelux", "Nordics", "Iberia", "France", "Italy", "UK", "Central Europe", "Baltics", "Ireland")
DOMAINS = ("Catalogue", "Basket", "Checkout", "Payment", "Order", "Invoice", "Customer", "Pricing", "Stock", "Shipping",
           "Returns", "Loyalty", "Search", "Review", "Voucher", "Ledger", "Payroll", "Supplier", "Store", "Report")
COMPONENTS = ("API", "portal", "service", "worker", "batch", "gateway", "scheduler", "sync", "UI", "importer",
              "exporter", "engine", "backend", "adapter", "notifier")
LANGUAGES = ("Java", "Java", "Go", "Python", "C#", "TypeScript", "Kotlin")
VM_OS = ("Debian 12", "RHEL 9", "RHEL 8", "Ubuntu 24.04", "Windows Server 2022")
ENGINES = ("PostgreSQL 16", "PostgreSQL 15", "Oracle 19c", "MySQL 8.0", "SQL Server 2022")
MIDDLEWARE_PRODUCTS = ("RabbitMQ 3.13", "Apache Kafka 3.8", "Redis 7.4", "Memcached 1.6", "Elasticsearch 8.15",
                       "ActiveMQ 6.1", "Tomcat 10.1")
# ts id suffix, name, team; the base ones need only infrastructure, so that databases and
# middleware may need them
BASE_SERVICES = (
    ("dns", "DNS", "team-network"),
    ("monitoring", "Monitoring", "team-platform"),
    ("logging", "Central logging", "team-platform"),
    ("backup", "Backup", "team-storage"),
)
PLATFORM_SERVICES = (
    ("sso", "Single sign-on", "team-security"),
    ("messaging", "Message bus", "team-platform"),
    ("api-gateway", "API gateway", "team-platform"),
    ("smtp-relay", "SMTP relay", "team-workplace"),
    ("secrets", "Secrets vault", "team-security"),
    ("registry", "Container registry", "team-platform"),
)
SHARED_NAMES = ("Address validation", "Feature flags", "Document rendering", "Tax calculation", "Currency rates",
                "Identity directory", "File transfer", "Job scheduler", "Geo location", "Translation",
                "Image processing", "Data export", "Notification hub", "Search platform")
EXTRA_CLOUD_NAMES = ("SMS gateway", "Maps API", "Identity verification", "Web analytics", "Payroll provider",
                     "Tax engine", "Address lookup", "Customer survey platform")
NON_PRODUCTION = ("staging", "test", "development")
INCIDENT_STATUSES = ("received", "assigned", "in_progress", "resolved", "closed")
# priority -> (response minutes, resolution hours) ranges the service desk works to
PRIORITY_TIMES = {1: ((3, 15), (0.5, 6)), 2: ((5, 30), (1, 12)), 3: ((10, 120), (2, 48)), 4: ((15, 480), (4, 120))}
# criticality -> SLA availability target, response minutes, resolution minutes, hours; RTO, RPO
SERVICE_LEVELS = {
    1: (0.9995, 15, 240, "24x7", 60, 5),
    2: (0.999, 30, 480, "24x7", 240, 60),
    3: (0.995, 60, 960, "mon-sat 06:00-22:00", 480, 240),
    4: (0.99, 120, 2880, "mon-fri 08:00-18:00", 1440, 1440),
}


class GeneratedEnterprise(BaseModel):
    """What `write_enterprise` wrote."""

    model_config = ConfigDict(frozen=True)

    cis: int
    relationships: int
    records: dict[str, int]
    files: list[str]
    seconds: float


# --- the plan: sizes decided before anything is written, so the total comes out exact ----------


@dataclass
class _App:
    environment: str
    site: int
    business_service: int | None  # None: non-production, under ts-nonprod
    vms: int  # VMs in its pool; 0 runs it in pods
    web: bool
    pods: int = 0


@dataclass(frozen=True)
class _Database:
    site: int
    replicated: bool  # a primary here and a replica in the next data centre, as a group
    on_vm: bool
    engine: str


@dataclass(frozen=True)
class _Middleware:
    site: int
    nodes: int  # 1, or a cluster of 3
    product: str


@dataclass(frozen=True)
class _SiteSize:
    hosts: int
    db_servers: int
    nodes: int

    @property
    def servers(self) -> int:
        return self.hosts + self.db_servers + self.nodes

    @property
    def racks(self) -> int:
        return math.ceil(self.servers / SERVERS_PER_RACK)

    @property
    def san_pairs(self) -> int:
        return math.ceil(self.servers / SERVERS_PER_SAN)

    @property
    def vm_clusters(self) -> int:
        return math.ceil(self.hosts / HOSTS_PER_CLUSTER)

    @property
    def k8s_clusters(self) -> int:
        return math.ceil(self.nodes / NODES_PER_CLUSTER)

    @property
    def cis(self) -> int:
        return (DEVICES_PER_SITE + self.racks + 3 * self.san_pairs + self.servers + self.vm_clusters
                + self.k8s_clusters)


@dataclass
class _Plan:
    sites: int
    business_services: int
    platform_services: int
    clouds: int
    product_teams: int
    farm_vms: int  # per data centre
    apps: list[_App]
    databases: list[_Database]
    middleware: list[_Middleware]
    site_sizes: list[_SiteSize] = field(default_factory=list)


def _zipf(rng: random.Random, n: int) -> int:
    """An index below n, the k-th picked about 1/k as often as the first."""
    return min(n - 1, int((n + 1) ** rng.random()) - 1)


def _n_of_m(members: int) -> int:
    """How many members a group needs up: all but one, or all but a fifth of a large group."""
    return max(1, members - max(1, members // 5))


def _plan(cis: int, rng: random.Random) -> _Plan:
    """A small enterprise whose draw leaves too few CIs for its pods is drawn again (from the
    same random stream, so still the same for the same seed)."""
    for _attempt in range(20):
        plan = _draw_plan(cis, rng)
        if _size_sites(plan, cis, rng):
            return plan
    raise ValueError(f"{cis} CIs are too few for an enterprise; give at least 300")


def _draw_plan(cis: int, rng: random.Random) -> _Plan:
    sites = 2 + cis // 200_000
    business_services = max(4, cis // 400)
    return _Plan(
        sites=sites, business_services=business_services,
        platform_services=len(PLATFORM_SERVICES) + cis // 5000, clouds=len(CLOUD_RESOURCES) + cis // 25_000,
        product_teams=cis // 5000, farm_vms=1 if cis < 2000 else 2,
        apps=[_draw_app(rng, i, sites, business_services) for i in range(max(8, cis // 12))],
        databases=[_draw_database(rng, i, sites, max(4, cis // 40)) for i in range(max(4, cis // 40))],
        middleware=[_Middleware(rng.randrange(sites), 3 if rng.random() < 0.3 else 1, rng.choice(MIDDLEWARE_PRODUCTS))
                    for _ in range(max(2, cis // 100))],
    )


def _draw_app(rng: random.Random, index: int, sites: int, business_services: int) -> _App:
    """The first application of each data centre is a web pool there, so every load balancer
    pair carries traffic; the first few belong to one business service each, so none is
    empty; a tenth of the rest are non-production."""
    if index < sites:
        return _App("production", index, index % business_services, 2 + rng.randrange(3), True)
    roll = rng.random()
    if index >= business_services and roll < 0.1:
        return _App(NON_PRODUCTION[int(roll * 30)], rng.randrange(sites), None, 1 + rng.randrange(2), False)
    owner = index if index < business_services else int(business_services * rng.random() ** BUSINESS_SERVICE_SKEW)
    vms = rng.choice((1, 2, 2, 3, 3, 4, 4, 6, 8, 10)) if rng.random() < 0.6 else 0
    return _App("production", rng.randrange(sites), owner, vms, vms > 1 and rng.random() < 0.5)


def _draw_database(rng: random.Random, index: int, sites: int, databases: int) -> _Database:
    """The most used databases are mostly replicated; a replicated one runs on database servers."""
    replicated = rng.random() < (0.7 if index < databases // 10 else 0.25)
    return _Database(rng.randrange(sites), replicated, not replicated and rng.random() < 0.7, rng.choice(ENGINES))


def _criticality(business_service: int, business_services: int) -> int:
    """The most used business services (the first ones) are the most critical."""
    share = business_service / business_services
    return 1 if share < 0.05 else 2 if share < 0.25 else 3 if share < 0.7 else 4


def _pool_sites(app: _App, sites: int) -> list[int]:
    """A production pool alternates between its data centre and the next one."""
    if app.business_service is None:
        return [app.site] * app.vms
    return [(app.site + k) % sites for k in range(app.vms)]


def _demand(plan: _Plan) -> tuple[list[int], list[int], int]:
    """The VMs and the database instances each data centre must host, and how many CIs are
    neither infrastructure nor pods (the VMs included)."""
    vms, db_instances = [0] * plan.sites, [0] * plan.sites
    services = len(BASE_SERVICES) + plan.platform_services
    cis = plan.clouds + plan.business_services + 2 * services + 1  # the services, their farms, ts-nonprod
    for site in range(plan.sites):
        vms[site] += plan.farm_vms * services
    for mw in plan.middleware:
        vms[mw.site] += mw.nodes
        cis += mw.nodes + (mw.nodes > 1)  # the nodes and their cluster
    for db in plan.databases:
        if db.replicated:
            db_instances[db.site] += 1
            db_instances[(db.site + 1) % plan.sites] += 1
            cis += 3  # primary, replica, their group
        else:
            cis += 1
            if db.on_vm:
                vms[db.site] += 1
            else:
                db_instances[db.site] += 1
    for app in plan.apps:
        for site in _pool_sites(app, plan.sites):
            vms[site] += 1
        # the application, its pool or deployment (not for a single VM), a test copy's database
        cis += 1 + (app.vms != 1) + (app.business_service is None)
    return vms, db_instances, cis + sum(vms)


def _size_sites(plan: _Plan, cis: int, rng: random.Random) -> bool:
    """Size the infrastructure from what runs on it; pods take up the rest of the CIs, and
    the Kubernetes nodes are sized for them. False when that leaves fewer than two pods per
    deployment, or a data centre without one."""
    vms, db_instances, fixed = _demand(plan)
    deployments = [app for app in plan.apps if app.vms == 0]

    def infrastructure(pods: int) -> list[_SiteSize]:
        nodes = max(2, math.ceil(pods / plan.sites / PODS_PER_NODE))
        return [_SiteSize(max(2, math.ceil(vms[s] / VMS_PER_HOST)), math.ceil(db_instances[s] / DATABASES_PER_SERVER),
                          nodes) for s in range(plan.sites)]

    def total(pods: int) -> int:
        return fixed + pods + sum(size.cis for size in infrastructure(pods))

    low, high = 0, cis
    while low < high:  # the most pods whose infrastructure still fits
        middle = (low + high + 1) // 2
        low, high = (middle, high) if total(middle) <= cis else (low, middle - 1)
    pods = cis - total(low) + low
    if len(deployments) < plan.sites or pods < 2 * len(deployments):
        return False
    plan.site_sizes = infrastructure(low)
    _share_pods(deployments, pods, plan.sites, rng)
    return True


def _share_pods(deployments: list[_App], pods: int, sites: int, rng: random.Random) -> None:
    """At least two pods each, the rest by a heavy-tailed weight (capped: no deployment has
    more than about twenty times the usual share); each deployment goes to the data centre
    with the fewest pods so far, so the Kubernetes sizing holds."""
    weights = [min(20.0, rng.paretovariate(1.5)) for _ in deployments]
    spare, scale = pods - 2 * len(deployments), sum(weights)
    sizes = [2 + int(spare * w / scale) for w in weights]
    for k in range(pods - sum(sizes)):
        sizes[k % len(sizes)] += 1
    load = [0] * sites
    for app, size in zip(deployments, sizes):
        app.pods = size
        app.site = min(range(sites), key=load.__getitem__)
        load[app.site] += size


# --- writing -----------------------------------------------------------------------------------


class _Out:
    """Hands each row on as it is made; counts, numbers addresses and serials, and keeps a
    sample of CIs per class for the records."""

    def __init__(self, emit_ci: Callable[[Row], Any], emit_relationship: Callable[[Row], Any],
                 progress: Callable[[int], None] | None) -> None:
        self.emit_ci, self.emit_relationship, self.progress = emit_ci, emit_relationship, progress
        self.cis = self.relationships = self.pending = 0
        self.addresses = self.serials = 0
        self.per_class: dict[str, int] = {}
        self.samples: dict[str, list[tuple[str, str]]] = {}

    def ci(self, id: str, ci_class: str, name: str, owner: str, criticality: int, *,
           status: str = "operational", environment: str = "production", availability: str | None = None,
           rto: int | None = None, rpo: int | None = None, min_members: int | None = None,
           serial: str | None = None, fqdn: str | None = None, ip: bool = False, product: str | None = None,
           os: str | None = None, rack: str | None = None, city: str | None = None,
           language: str | None = None) -> str:
        if serial:  # a vendor prefix and a scrambled counter: unique, not sequential-looking
            self.serials += 1
            serial = f"{serial}{self.serials * 2654435761 % 4294967296:08X}"
        address = None
        if ip:
            self.addresses += 1
            n = self.addresses
            address = f"10.{n // 64000}.{n // 250 % 256}.{n % 250 + 1}"
        self.emit_ci([id, ci_class, name, status, environment, criticality, owner, availability, rto, rpo,
                      min_members, serial, fqdn, address, product, os, rack, city, language])
        count = self.per_class.get(ci_class, 0) + 1
        self.per_class[ci_class] = count
        if count <= 20 or count % SAMPLE_EVERY == 0:
            self.samples.setdefault(ci_class, []).append((id, owner))
        self.cis += 1
        self._tick()
        return id

    def rel(self, source: str, target: str, type: str = "DEPENDS_ON", strength: str = "hard") -> None:
        self.emit_relationship([source, target, type, strength])
        self.relationships += 1
        self._tick()

    def group(self, id: str, ci_class: str, name: str, owner: str, criticality: int, members: list[str],
              min_members: int | None = None, **fields: Any) -> str:
        self.ci(id, ci_class, name, owner, criticality,
                min_members=_n_of_m(len(members)) if min_members is None else min_members, **fields)
        for member in members:
            self.rel(id, member, "HAS_MEMBER")
        return id

    def _tick(self) -> None:
        self.pending += 1
        if self.pending >= PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.progress and self.pending:
            self.progress(self.pending)
        self.pending = 0


@dataclass(frozen=True)
class _Site:
    """What later layers attach to in a data centre; the clusters and database servers are
    taken in turn, (id, its SAN pair) each."""

    index: int
    domain: str
    lb_pair: str
    vm_clusters: Iterator[tuple[str, str]]
    k8s_clusters: Iterator[tuple[str, str]]
    db_servers: Iterator[tuple[str, str]]


def _city(index: int) -> str:
    city = CITIES[index % len(CITIES)]
    return city if index < len(CITIES) else f"{city} {index // len(CITIES) + 1}"


def _build_site(out: _Out, rng: random.Random, s: int, size: _SiteSize) -> _Site:
    n = s + 1
    dc = out.ci(f"dc-{n}", "Datacenter", f"Data centre {_city(s)}", "team-platform", 1, city=_city(s))
    domain = f"dc{n}.example.org"
    rack = f"R{n}-000"  # the network row: cores, firewalls and load balancers
    pairs = {}
    for kind, group, ci_class, name, prefix, product, team, needs in (
        ("core", "net-core", "NetworkDevice", "Core router", "CR", "Juniper MX204", "team-network", None),
        ("fw", "fw-pair", "Firewall", "Firewall", "FW", "Palo Alto PA-3220", "team-security", f"net-core-{n}"),
        ("lb", "lb-pair", "LoadBalancer", "Load balancer", "LB", "F5 BIG-IP i5800", "team-network", f"fw-pair-{n}"),
    ):
        members = []
        for m in (1, 2):
            device = out.ci(f"{kind}-{n}-{m}", ci_class, f"{name} {n}-{m}", team, 1, availability="0.9995",
                            serial=prefix, ip=True, product=product, rack=rack)
            out.rel(device, dc, "LOCATED_IN")
            if needs:
                out.rel(device, needs, "CONNECTED_VIA")
            members.append(device)
        pairs[kind] = out.group(f"{group}-{n}", "RedundancyGroup", f"{name} pair {_city(s)}", team, 1, members)
    racks = [f"R{n}-{r + 1:03d}" for r in range(size.racks)]
    switches = []
    for r, rack_name in enumerate(racks):
        switch = out.ci(f"sw-{n}-{r + 1:03d}", "NetworkDevice", f"Access switch {rack_name}", "team-network", 2,
                        availability="0.999", serial="SW", ip=True, product="Arista 7050X3", rack=rack_name)
        out.rel(switch, dc, "LOCATED_IN")
        out.rel(switch, pairs["core"], "CONNECTED_VIA")
        switches.append(switch)
    sans = []
    for p in range(size.san_pairs):
        arrays = []
        for side in ("a", "b"):
            array = out.ci(f"stor-{n}-{p + 1:02d}{side}", "StorageDevice", f"Storage array {n}-{p + 1}{side}",
                           "team-storage", 1, availability="0.9999", rpo=15, serial="SA", ip=True,
                           product="NetApp AFF A400", rack=racks[p % len(racks)])
            out.rel(array, dc, "LOCATED_IN")
            out.rel(array, switches[p % len(switches)], "CONNECTED_VIA")
            arrays.append(array)
        sans.append(out.group(f"san-{n}-{p + 1:02d}", "RedundancyGroup", f"SAN pair {n}-{p + 1}", "team-storage", 1,
                              arrays))

    def server(index: int, id: str, name: str, team: str, product: str, os: str) -> tuple[str, str]:
        """A server in rack index // 40, on the SAN pair of its part of the hall."""
        san = sans[index * len(sans) // size.servers]
        out.ci(id, "Server", name, team, 2, availability=rng.choice(("0.995", "0.998", "0.999")),
               serial=product[:2].upper(), fqdn=f"{id}.{domain}", ip=True, product=product, os=os,
               rack=racks[index // SERVERS_PER_RACK])
        out.rel(id, dc, "LOCATED_IN")
        out.rel(id, switches[index // SERVERS_PER_RACK], "CONNECTED_VIA")
        out.rel(id, san, "STORED_ON")
        return id, san

    hosts = [server(h, f"esx-{n}-{h + 1:04d}", f"Hypervisor {n}-{h + 1}", "team-platform", "Dell PowerEdge R750",
                    "ESXi 8") for h in range(size.hosts)]
    db_servers = [server(size.hosts + d, f"dbsrv-{n}-{d + 1:03d}", f"Database server {n}-{d + 1}", "team-dba",
                         "Dell PowerEdge R760", "RHEL 9") for d in range(size.db_servers)]
    nodes = [server(size.hosts + size.db_servers + k, f"node-{n}-{k + 1:04d}", f"Kubernetes node {n}-{k + 1}",
                    "team-platform", "HPE ProLiant DL380", "Debian 12") for k in range(size.nodes)]
    vm_clusters = _clusters(out, hosts, size.vm_clusters, f"vmw-{n}", f"Virtualisation cluster {n}", "vSphere 8")
    k8s_clusters = _clusters(out, nodes, size.k8s_clusters, f"k8s-{n}", f"Kubernetes cluster {n}", "Kubernetes 1.31")
    return _Site(s, domain, pairs["lb"], cycle(vm_clusters), cycle(k8s_clusters), cycle(db_servers))


def _clusters(out: _Out, servers: list[tuple[str, str]], count: int, prefix: str, name: str,
              product: str) -> list[tuple[str, str]]:
    """Neighbouring servers (same racks, same SAN pair) form a cluster."""
    clusters = []
    for c in range(count):
        members = servers[c * len(servers) // count:(c + 1) * len(servers) // count]
        cluster = out.group(f"{prefix}-{c + 1:02d}", "Cluster", f"{name}-{c + 1}", "team-platform", 1,
                            [m for m, _ in members], product=product)
        clusters.append((cluster, members[0][1]))
    return clusters


class _Enterprise:
    """The layers above the data centres, built in order: each one only needs earlier ones."""

    def __init__(self, out: _Out, rng: random.Random, plan: _Plan, sites: list[_Site]) -> None:
        self.out, self.rng, self.plan, self.sites = out, rng, plan, sites
        self.vm_count = self.pod_count = 0
        self.clouds: list[str] = []
        self.databases: list[str] = []
        self.middleware: list[str] = []
        self.platform: list[str] = []
        self.business_teams = [*BUSINESS_TEAMS, *(f"team-product-{t + 1:03d}" for t in range(plan.product_teams))]

    def vm(self, site: _Site, name: str, owner: str, criticality: int, environment: str = "production",
           agents: bool = True) -> str:
        """A VM on the next hypervisor cluster of its data centre, with the monitoring agent
        (soft) unless it is part of a base service itself."""
        self.vm_count += 1
        vm = f"vm-{self.vm_count:06d}"
        cluster, san = next(site.vm_clusters)
        self.out.ci(vm, "VirtualMachine", name, owner, criticality, environment=environment,
                    availability=self.rng.choice(("0.99", "0.995")), fqdn=f"{vm}.{site.domain}", ip=True,
                    os=self.rng.choice(VM_OS))
        self.out.rel(vm, cluster, "HOSTED_ON")
        self.out.rel(vm, san, "STORED_ON")
        if agents:
            self.out.rel(vm, "ts-monitoring", "DEPENDS_ON", "soft")
            if self.rng.random() < 0.5:
                self.out.rel(vm, "ts-backup", "DEPENDS_ON", "soft")
        return vm

    def farm(self, ts: str, name: str, team: str, agents: bool) -> str:
        members = [self.vm(site, f"{name} {site.index + 1}-{k + 1}", team, 1, agents=agents)
                   for site in self.sites for k in range(self.plan.farm_vms)]
        return self.out.group(f"{ts}-farm", "RedundancyGroup", f"{name} farm", team, 1, members, 1)

    def picks(self, items: list[str], count: int) -> list[str]:
        """Up to `count` distinct popular items (a Zipf law over the list's order)."""
        if not items:
            return []
        return list(dict.fromkeys(items[_zipf(self.rng, len(items))] for _ in range(count)))

    def build(self) -> None:
        self.cloud_resources()
        self.base_services()
        self.middleware_instances()
        self.database_instances()
        self.platform_services()
        self.applications()
        self.business_services()

    def cloud_resources(self) -> None:
        for c in range(self.plan.clouds):
            if c < len(CLOUD_RESOURCES):
                id, name, team = CLOUD_RESOURCES[c]
            else:
                id, name, team = f"cloud-{c + 1:03d}", EXTRA_CLOUD_NAMES[c % len(EXTRA_CLOUD_NAMES)], "team-platform"
            self.clouds.append(self.out.ci(id, "CloudResource", name, team, 2, availability="0.9995",
                                           product="external SaaS"))

    def base_services(self) -> None:
        for k, (suffix, name, team) in enumerate(BASE_SERVICES):
            ts = self.out.ci(f"ts-{suffix}", "TechnicalService", name, team, 1, availability="0.9995", rto=60)
            self.out.rel(ts, self.farm(ts, name, team, agents=False))
            if k:
                self.out.rel(ts, "ts-dns")
        self.out.rel("ts-backup", "cloud-backup-bucket", "DEPENDS_ON", "soft")

    def middleware_instances(self) -> None:
        for m, mw in enumerate(self.plan.middleware):
            id, site = f"mw-{m + 1:05d}", self.sites[mw.site]
            kind = mw.product.split()[0]
            nodes = []
            for k in range(mw.nodes):
                node = f"{id}-{k + 1}" if mw.nodes > 1 else id
                self.out.ci(node, "Middleware", f"{kind} {m + 1}" + (f" node {k + 1}" if mw.nodes > 1 else ""),
                            "team-platform", 2, availability="0.995", product=mw.product)
                self.out.rel(node, self.vm(site, f"{kind} {m + 1} host {k + 1}", "team-platform", 2), "RUNS_ON")
                nodes.append(node)
            if mw.nodes > 1:
                self.out.group(id, "Cluster", f"{kind} cluster {m + 1}", "team-platform", 2, nodes, product=mw.product)
            self.middleware.append(id)

    def database_instances(self) -> None:
        for d, db in enumerate(self.plan.databases):
            id, site = f"db-{d + 1:05d}", self.sites[db.site]
            name = f"{self.rng.choice(DOMAINS)} database {d + 1}"
            if db.replicated:
                replica_site = self.sites[(db.site + 1) % len(self.sites)]
                members = [self.database(f"{id}-{role}", f"{name} ({role})", place, db, 1, 30, 5)
                           for role, place in (("primary", site), ("replica", replica_site))]
                self.out.group(id, "RedundancyGroup", name, "team-dba", 1, members, 1, rto=30, rpo=5)
            else:
                self.database(id, name, site, db, 2, 240, 60)
            self.databases.append(id)

    def database(self, id: str, name: str, site: _Site, db: _Database, criticality: int, rto: int, rpo: int) -> str:
        self.out.ci(id, "Database", name, "team-dba", criticality, availability="0.999", rto=rto, rpo=rpo,
                    product=db.engine)
        if db.on_vm:
            self.out.rel(id, self.vm(site, f"{name} host", "team-dba", criticality), "RUNS_ON")
        else:
            server, san = next(site.db_servers)
            self.out.rel(id, server, "RUNS_ON")
            self.out.rel(id, san, "STORED_ON")
        self.out.rel(id, "ts-backup", "DEPENDS_ON", "soft")
        return id

    def platform_services(self) -> None:
        for p in range(self.plan.platform_services):
            if p < len(PLATFORM_SERVICES):
                suffix, name, team = PLATFORM_SERVICES[p]
            else:
                suffix, name = f"{p + 1:04d}", SHARED_NAMES[p % len(SHARED_NAMES)]
                team = self.rng.choice(self.business_teams)
            critical = p < 3  # single sign-on, messaging, the API gateway
            ts = self.out.ci(f"ts-{suffix}", "TechnicalService", name, team, 1 if critical else 2,
                             availability="0.9995" if critical else "0.999", rto=60 if critical else 240)
            self.out.rel(ts, self.farm(ts, name, team, agents=True))
            self.out.rel(ts, "ts-dns")
            self.out.rel(ts, "ts-logging", "DEPENDS_ON", "soft")
            needs = [*self.picks(self.databases, self.rng.randrange(2)),
                     *self.picks(self.middleware, self.rng.randrange(2)),
                     *self.picks(self.platform, self.rng.randrange(3))]
            for target in needs:
                self.out.rel(ts, target)
            self.platform.append(ts)

    def applications(self) -> None:
        production: list[str] = []
        nonproduction: list[str] = []
        for a, app in enumerate(self.plan.apps):
            id = f"app-{a + 1:05d}"
            name = f"{self.rng.choice(DOMAINS)} {self.rng.choice(COMPONENTS)}"
            if app.business_service is None:
                self.nonproduction_app(id, name, app)
                nonproduction.append(id)
            else:
                self.production_app(id, name, app, production)
                production.append(id)
        self.out.ci("ts-nonprod", "TechnicalService", "Non-production environments", "team-platform", 4, rto=2880)
        for app_id in nonproduction:
            self.out.rel("ts-nonprod", app_id, "DEPENDS_ON", "soft")

    def business(self, index: int) -> tuple[str, str, int]:
        """Id, owner and criticality of a business service."""
        return (f"svc-{index + 1:04d}", self.business_teams[index % len(self.business_teams)],
                _criticality(index, self.plan.business_services))

    def production_app(self, id: str, name: str, app: _App, earlier: list[str]) -> None:
        rng, out = self.rng, self.out
        service, team, criticality = self.business(app.business_service)
        _, _, _, _, rto, rpo = SERVICE_LEVELS[criticality]
        out.ci(id, "Application", name, team, criticality, availability="0.995", rto=rto, rpo=rpo,
               language=rng.choice(LANGUAGES))
        out.rel(id, self.runtime(id, name, app, team, criticality), "RUNS_ON")
        out.rel(service, id)
        if rng.random() < 0.1:
            other, _, _ = self.business(rng.randrange(self.plan.business_services))
            if other != service:
                out.rel(other, id, "DEPENDS_ON", "soft")
        for target in [*self.picks(self.databases, rng.choice((0, 1, 1, 1, 2, 2))),
                       *self.picks(self.middleware, rng.choice((0, 0, 1, 1, 2))),
                       *self.picks(earlier, rng.choice((0, 1, 1, 2, 2, 3))),
                       *self.picks(self.platform[1:], rng.choice((0, 1, 2)))]:  # ts-sso comes next
            out.rel(id, target)
        if rng.random() < 0.1:
            out.rel(id, self.clouds[_zipf(rng, len(self.clouds))], "DEPENDS_ON", rng.choice(("hard", "soft")))
        out.rel(id, "ts-sso", "DEPENDS_ON", "hard" if rng.random() < 0.7 else "soft")
        out.rel(id, "ts-dns")
        out.rel(id, "ts-monitoring", "DEPENDS_ON", "soft")
        out.rel(id, "ts-logging", "DEPENDS_ON", "soft")

    def runtime(self, id: str, name: str, app: _App, team: str, criticality: int) -> str:
        """A single VM, a pool of VMs (a web pool behind its load balancers) or a deployment
        of pods on one Kubernetes cluster."""
        if app.vms:
            tier = "web" if app.web else "app"
            vms = [self.vm(self.sites[s], f"{name} {tier} {k + 1}", team, criticality)
                   for k, s in enumerate(_pool_sites(app, len(self.sites)))]
            if len(vms) == 1:
                return vms[0]
            pool = self.out.group(f"{id}-pool", "RedundancyGroup", f"{name} {tier} pool", team, criticality, vms)
            if app.web:
                self.out.rel(pool, self.sites[app.site].lb_pair, "CONNECTED_VIA")
            return pool
        site = self.sites[app.site]
        cluster, san = next(site.k8s_clusters)
        pods = []
        for k in range(app.pods):
            self.pod_count += 1
            pod = self.out.ci(f"pod-{self.pod_count:07d}", "Container", f"{name} pod {k + 1}", team, criticality,
                              availability="0.99", product=f"registry.example.org/{id}")
            self.out.rel(pod, cluster, "RUNS_ON")
            self.out.rel(pod, "ts-registry", "DEPENDS_ON", "soft")  # to pull its image when it restarts
            if self.rng.random() < 0.3:  # a persistent volume
                self.out.rel(pod, san, "STORED_ON")
            pods.append(pod)
        return self.out.group(f"{id}-pods", "RedundancyGroup", f"{name} deployment", team, criticality, pods)

    def nonproduction_app(self, id: str, name: str, app: _App) -> None:
        """A test copy: its own database on its first VM, nothing in production needs it."""
        rng, out, env = self.rng, self.out, app.environment
        team = rng.choice(self.business_teams)
        status = "implementing" if rng.random() < 0.2 else "operational"
        out.ci(id, "Application", f"{name} ({env})", team, 4, status=status, environment=env,
               language=rng.choice(LANGUAGES))
        site = self.sites[app.site]
        vms = [self.vm(site, f"{name} {env} {k + 1}", team, 4, env) for k in range(app.vms)]
        runtime = vms[0] if len(vms) == 1 else out.group(f"{id}-pool", "RedundancyGroup", f"{name} {env} pool",
                                                         team, 4, vms, environment=env)
        database = out.ci(f"{id}-db", "Database", f"{name} {env} database", team, 4, environment=env, rpo=1440,
                          product=rng.choice(ENGINES))
        out.rel(database, vms[0], "RUNS_ON")
        out.rel(id, runtime, "RUNS_ON")
        out.rel(id, database)
        out.rel(id, "ts-dns")

    def business_services(self) -> None:
        for b in range(self.plan.business_services):
            id, team, criticality = self.business(b)
            target, _, _, _, rto, rpo = SERVICE_LEVELS[criticality]
            name = BUSINESS_NAMES[b % len(BUSINESS_NAMES)]
            if b >= len(BUSINESS_NAMES):
                name = f"{name} {REGIONS[(b // len(BUSINESS_NAMES) - 1) % len(REGIONS)]}"
            self.out.ci(id, "BusinessService", name, team, criticality, availability=str(target), rto=rto, rpo=rpo)


# --- records -----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _records(rng: random.Random, cis: int, plan: _Plan, samples: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    teams = [*TEAMS, *((f"team-product-{t + 1:03d}", f"Product team {t + 1}") for t in range(plan.product_teams))]
    changes = [_change(rng, n, samples) for n in range(1, max(3, cis // 1000) + 1)]
    failed = [c for c in changes if c["state"] in ("failed", "rolled_back")]
    return {
        "teams": [{"id": id, "name": name, "email": f"{id}@example.org",
                   "escalation_contacts": [f"lead.{id.removeprefix('team-')}@example.org"]} for id, name in teams],
        "slas": _slas(plan),
        "changes": changes,
        "incidents": [_incident(rng, n, samples, failed) for n in range(1, max(5, cis // 200) + 1)],
        "maintenance_windows": _maintenance_windows(plan),
    }


def _slas(plan: _Plan) -> list[dict[str, Any]]:
    """One per business service at its criticality's terms, and one per platform service."""
    slas = []
    for b in range(plan.business_services):
        target, response, resolution, hours, _, _ = SERVICE_LEVELS[_criticality(b, plan.business_services)]
        slas.append({"id": f"sla-svc-{b + 1:04d}", "service": f"svc-{b + 1:04d}", "availability_target": target,
                     "response_minutes": response, "resolution_minutes": resolution, "service_hours": hours})
    for suffix, name, _team in (*BASE_SERVICES, *PLATFORM_SERVICES):
        slas.append({"id": f"ola-{suffix}", "service": f"ts-{suffix}", "name": f"OLA {name}",
                     "availability_target": 0.9995, "response_minutes": 15, "resolution_minutes": 240,
                     "service_hours": "24x7"})
    return slas


def _change(rng: random.Random, n: int, samples: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """A change dated up to 80 days back or three weeks ahead, in a state that fits its date."""
    kind, title, category, risk = rng.choice(CHANGE_TEMPLATES)
    target, owner = rng.choice(samples[rng.choice(("Server", "Database", "Application", "NetworkDevice",
                                                   "VirtualMachine", "Firewall", "StorageDevice"))])
    days = rng.uniform(-21, 80)
    start = (ANCHOR - timedelta(days=days)).replace(hour=rng.choice((1, 2, 22, 23)), minute=0, second=0, microsecond=0)
    if days < 0:
        state = "approved" if kind == "emergency" else "scheduled"
    elif kind == "standard":
        state = "closed"
    else:
        state = rng.choices(("closed", "implemented", "failed", "rolled_back"), (6, 2, 1, 1))[0]
    change: dict[str, Any] = {
        "id": f"CHG-{n:06d}", "title": title.format(name=target), "type": kind, "category": category, "risk": risk,
        "state": state, "targets": [target], "requested_by": owner, "planned_start": _iso(start),
        "planned_end": _iso(start + timedelta(hours=rng.choice((1, 2, 4)))),
        "rollback_plan": "Restore the previous configuration from the pre-change snapshot.",
    }
    if days >= 0:
        change["implemented_at"] = _iso(start)
        change["outcome"] = {"failed": "failed", "rolled_back": "rolled back"}.get(state, "successful")
    return change


def _incident(rng: random.Random, n: int, samples: dict[str, list[tuple[str, str]]],
              failed_changes: list[dict[str, Any]]) -> dict[str, Any]:
    """An incident on a sampled CI (one in nine on the targets of a failed change, opened
    after it), with response and resolution times by priority that agree with its status:
    open ones are recent, resolved ones were resolved before the anchor."""
    category, title, ci_class, resolution, outage = rng.choice(INCIDENT_TEMPLATES)
    ci, owner = rng.choice(samples[ci_class])
    incident: dict[str, Any] = {"id": f"INC-{n:06d}", "title": title.format(name=ci), "category": category,
                                "affects": [ci], "outage": outage, "assignee": owner}
    # every twelfth is from the last two days, so the service desk's board is never empty
    days = rng.uniform(0.05, 90) if n % 12 else rng.uniform(0.05, 2)
    if failed_changes and n % 9 == 0:
        change = failed_changes[n % len(failed_changes)]
        incident.update(caused_by_change=change["id"], affects=change["targets"], assignee=change["requested_by"],
                        title=f"Service degradation after {change['id']}")
        since_change = (ANCHOR - datetime.fromisoformat(change["implemented_at"])) / timedelta(days=1)
        days = max(0.05, since_change - rng.uniform(0.02, 0.5))
    impact = rng.choice(("local", "local", "department", "global"))
    urgency = rng.choice(("low", "medium", "medium", "high", "critical"))
    (response_low, response_high), (hours_low, hours_high) = PRIORITY_TIMES[
        PRIORITY_MATRIX[(Impact(impact), Urgency(urgency))]]
    response = rng.uniform(response_low, response_high)
    hours = max(rng.uniform(hours_low, hours_high), response / 60 + 0.25)
    status = "closed" if days > 10 else rng.choice(INCIDENT_STATUSES)
    if status == "received":
        elapsed = response / 60 * rng.uniform(0.2, 0.9)
    elif status in ("assigned", "in_progress"):
        elapsed = response / 60 + (hours - response / 60) * rng.uniform(0.1, 0.9)
    else:
        elapsed = max(days * 24, hours + 0.5)
    opened = ANCHOR - timedelta(hours=elapsed)
    incident.update(impact=impact, urgency=urgency, status=status, opened_at=_iso(opened),
                    reported_via=rng.choice(("monitoring", "monitoring", "user report", "inspection")))
    if status != "received":
        incident["responded_at"] = _iso(opened + timedelta(minutes=response))
    if status in ("resolved", "closed"):
        resolved = opened + timedelta(hours=hours)
        incident.update(resolved_at=_iso(resolved), resolution=resolution)
        if status == "closed":
            incident["closed_at"] = _iso(min(ANCHOR, resolved + timedelta(hours=rng.uniform(1, 48))))
    return incident


def _maintenance_windows(plan: _Plan) -> list[dict[str, Any]]:
    """A weekly network window per data centre, a monthly one for the most used databases."""
    windows = []
    for s in range(plan.sites):
        start = (ANCHOR - timedelta(days=1 + s % 7)).replace(hour=1)
        windows.append({"id": f"MW-DC{s + 1}-NETWORK", "name": f"Weekly network window {_city(s)}",
                        "recurrence": "weekly", "start": _iso(start), "end": _iso(start + timedelta(hours=4)),
                        "applies_to": [f"{kind}-{s + 1}-{m}" for kind in ("core", "fw", "lb") for m in (1, 2)]})
    start = (ANCHOR - timedelta(days=14)).replace(hour=0)
    windows.append({"id": "MW-DB-MONTHLY", "name": "Monthly database patch window", "recurrence": "monthly",
                    "start": _iso(start), "end": _iso(start + timedelta(hours=4)),
                    "applies_to": [f"db-{d + 1:05d}" for d in range(min(20, len(plan.databases)))]})
    return windows


# --- the entry points --------------------------------------------------------------------------


@dataclass(frozen=True)
class Generation:
    cis: int
    relationships: int
    records: dict[str, list[dict[str, Any]]]


def generate_enterprise(cis: int, seed: int, emit_ci: Callable[[Row], Any], emit_relationship: Callable[[Row], Any],
                        progress: Callable[[int], None] | None = None) -> Generation:
    """Generate the enterprise row by row: each CI row (in `CI_COLUMNS` order, None for unset)
    goes to `emit_ci` and each relationship row (`RELATIONSHIP_COLUMNS`) to
    `emit_relationship` the moment it is made; the records, small, are returned."""
    rng = random.Random(seed)
    plan = _plan(cis, rng)
    out = _Out(emit_ci, emit_relationship, progress)
    sites = [_build_site(out, rng, s, size) for s, size in enumerate(plan.site_sizes)]
    _Enterprise(out, rng, plan, sites).build()
    out.flush()
    if out.cis != cis:
        raise AssertionError(f"planned {cis} CIs, generated {out.cis}")
    return Generation(out.cis, out.relationships, _records(rng, cis, plan, out.samples))


def write_enterprise(out_dir: Path, cis: int, seed: int,
                     progress: Callable[[int], None] | None = None) -> GeneratedEnterprise:
    """Write `cis.csv`, `relationships.csv` and `records.json` into `out_dir` (created if
    missing), streaming the CSVs as they are generated."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ci_path, rel_path, records_path = out_dir / "cis.csv", out_dir / "relationships.csv", out_dir / "records.json"
    with (open(ci_path, "w", newline="", encoding="utf-8", buffering=1 << 20) as ci_file,
          open(rel_path, "w", newline="", encoding="utf-8", buffering=1 << 20) as rel_file):
        ci_writer = csv.writer(ci_file, lineterminator="\n")
        rel_writer = csv.writer(rel_file, lineterminator="\n")
        ci_writer.writerow(CI_COLUMNS)
        rel_writer.writerow(RELATIONSHIP_COLUMNS)
        generation = generate_enterprise(cis, seed, ci_writer.writerow, rel_writer.writerow, progress)
    records_path.write_text(json.dumps(generation.records, indent=1) + "\n", encoding="utf-8")
    return GeneratedEnterprise(
        cis=generation.cis, relationships=generation.relationships,
        records={section: len(items) for section, items in generation.records.items()},
        files=[str(ci_path), str(rel_path), str(records_path)], seconds=round(time.perf_counter() - started, 3),
    )
